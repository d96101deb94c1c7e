"""The ordered message pipeline: the features' stages, run as data.

A post (not from a bot, not in the moderators' channel) is handled once per
version: the ledger drops repeats. The ``urgent`` stages run first (acting on the
rules: alerts, signposting, hiding method details); the ``follow_up`` stages run
after them, queued behind in the community's normal lane when the post came in
urgent, in ``order``. A stage whose guard holds (an edit, a hidden post, a crisis
or concern post) is skipped. A private message to Haven runs only the
``private`` stages. The post is marked handled at the end, unless a critical
stage failed: then a repeated delivery tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.core.clock import Clock
from bot.core.dispatch import NORMAL, URGENT, Dispatch, Lane, WorkItem, label
from bot.core.events import MessagePosted
from bot.core.feature import MessageOutcome, Stage
from bot.core.triage import Triage
from bot.rules.model import Match
from bot.storage.repositories.ledger import LedgerRepository

if TYPE_CHECKING:
    from bot.core.config import Config

log = logging.getLogger(__name__)


class Pipeline:
    """Runs the features' stages over a post, in order, sharing one outcome."""

    def __init__(self, stages: Sequence[Stage], triage: Triage, ledger: LedgerRepository,
                 clock: Clock, config: Config, failed: Callable[[str], None]) -> None:
        self._lanes: dict[str, tuple[Stage, ...]] = {}
        self.stages = list(stages)
        self.triage = triage
        self.ledger = ledger
        self.clock = clock
        self.config = config
        self._failed = failed
        self.dispatch: Dispatch | None = None
        """Set by the core: where follow-up work of an urgent post is queued."""

    @property
    def stages(self) -> list[Stage]:
        """Every stage, in order (setting them sorts them and splits them by lane once)."""
        return self._stages

    @stages.setter
    def stages(self, stages: Sequence[Stage]) -> None:
        self._stages = sorted(stages, key=lambda s: s.order)
        self._lanes = {}
        for stage in self._stages:
            self._lanes[stage.lane] = (*self._lanes.get(stage.lane, ()), stage)

    def of(self, lane: str) -> tuple[Stage, ...]:
        """The stages of one lane, in order."""
        return self._lanes.get(lane, ())

    async def run(self, ev: MessagePosted, matches: list[Match] | None = None,
                  lane: Lane = NORMAL, detected: bool = False) -> asyncio.Future[Any] | None:
        """A message was posted or edited: decide, then act, stage by stage.

        In the urgent lane only the urgent stages run here; the follow-up is queued
        behind them in the normal lane and its future returned (``None`` when it ran here).
        """
        if ev.author.is_bot or self.config.is_moderators_channel(ev.channel):
            return None
        if ev.channel.kind == "dm":
            await self.private(ev, matches, detected)
            return None
        digest = _digest(ev)
        if await self.ledger.message_seen(ev.community_id, ev.message.message_id, digest):
            log.info("message %s (this version) was handled already; skipping the repeat",
                     ev.message.message_id)
            return None
        if not detected or matches is None:
            matches = await self.triage.detect(ev, matches)
        outcome = MessageOutcome.of(matches)
        await self._run_stages(ev, outcome, "urgent")

        async def follow_up() -> None:
            await self._run_stages(ev, outcome, "follow_up")
            if not outcome.failed:
                # Only now is the post handled: a crash before this point means the
                # platform's repeated delivery completes it (every step is idempotent).
                await self.ledger.note_message_seen(ev.community_id, ev.message.message_id,
                                                    digest, self.clock.now())

        if lane == URGENT and self.dispatch is not None:
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.dispatch.follow_up(ev, WorkItem(f"follow-up of {label(ev)}", follow_up, done))
            return done
        await follow_up()
        return None

    async def private(self, ev: MessagePosted, matches: list[Match] | None,
                      detected: bool = False) -> None:
        """A private message to Haven: crisis detection only (the ``private`` stages).

        Nothing punitive, no hiding, no tracking, no welcome.
        """
        digest = _digest(ev)
        if await self.ledger.message_seen(ev.community_id, ev.message.message_id, digest):
            return
        if not detected or matches is None:
            matches = await self.triage.detect(ev, matches)
        outcome = MessageOutcome.of(matches)
        await self._run_stages(ev, outcome, "private")
        if not outcome.failed:
            await self.ledger.note_message_seen(ev.community_id, ev.message.message_id, digest,
                                                self.clock.now())

    async def _run_stages(self, ev: MessagePosted, outcome: MessageOutcome, lane: str) -> None:
        for stage in self.of(lane):
            if stage.skipped(ev, outcome):
                continue
            try:
                await stage.run(ev, outcome)
            except Exception:
                self._failed(f"stage {stage.name} on message {ev.message.message_id}")
                if stage.critical:
                    # Acting failed: not marked handled, so a repeated delivery (a replayed
                    # sync, a catch-up) tries again; quote nothing of it anywhere.
                    outcome.failed = True
                    outcome.crisis = outcome.crisis or bool(outcome.matches)
                    outcome.concern = outcome.concern or outcome.crisis


def _digest(ev: MessagePosted) -> str:
    """A short fingerprint of one version of a message (never stored as text)."""
    return hashlib.sha256(f"{ev.edited}:{ev.text}".encode("utf-8", "surrogatepass")).hexdigest()[:20]

"""Deciding, before acting: which rules match a post, what the semantic stage adds,
and whether the post needs the urgent lane. Pure apart from the stage's thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from bot.core.events import Event, MessagePosted
from bot.core.permissions import Permissions
from bot.rules.engine import Rulebook
from bot.rules.model import SUPPORT_CATEGORIES, Match, MatchContext

if TYPE_CHECKING:
    from bot.core.config import Config

log = logging.getLogger(__name__)


class Detector(Protocol):
    """The semantic stage, as the core uses it (:mod:`bot.detection.stage`)."""

    async def detect_async(self, text: str, matches: list[Match]) -> list[Match]:
        """Matches the stage adds to the rules' ``matches`` (never removes one)."""
        ...

    def close(self) -> None:
        """Stop its worker thread."""
        ...


class RulesInForce:
    """The rulebook in force (:class:`bot.core.contracts.RulesHolder`)."""

    def __init__(self, rulebook: Rulebook) -> None:
        self._rulebook = rulebook

    def current(self) -> Rulebook:
        """The rulebook now in force."""
        return self._rulebook

    def replace(self, rulebook: Rulebook) -> None:
        """Put ``rulebook`` in force (``rules reload``)."""
        self._rulebook = rulebook


class Triage:
    """Matches a post against the rules and the semantic stage."""

    def __init__(self, config: Config, perms: Permissions, rules: RulesInForce,
                 semantic: Detector | None, failed: Callable[[str], None]) -> None:
        self.config = config
        self.perms = perms
        self.rules = rules
        self.semantic = semantic
        self._failed = failed

    def context(self, ev: MessagePosted) -> MatchContext:
        """The rule-scope context of a message: channel names, roles, newcomer."""
        joined = ev.author.joined_at
        newcomer = joined is not None and (
            ev.at - joined < self.config.community.newcomer_days * 86400)
        return MatchContext(channel_names=frozenset(ev.channel.names()),
                            roles=self.perms.groups(ev.author), is_newcomer=newcomer)

    def evaluate(self, ev: MessagePosted) -> list[Match]:
        """Which rules match this message (pure; nothing is done)."""
        return self.rules.current().evaluate(ev.text, self.context(ev))

    async def detect(self, ev: MessagePosted, matches: list[Match] | None = None) -> list[Match]:
        """The rules (unless already matched on arrival), then the semantic stage in its
        worker thread. The stage only adds matches; if it fails, the rules still stand."""
        if matches is None:
            matches = self.evaluate(ev)
        if self.semantic is None:
            return matches
        try:
            extra = await self.semantic.detect_async(ev.text, matches)
        except Exception:
            self._failed(f"semantic stage on message {ev.message.message_id} "
                         "(acting on the rules alone)")
            return matches
        return [*matches, *extra]

    def lane(self, event: Event) -> tuple[Literal["urgent", "normal"], list[Match] | None]:
        """Which lane an event goes to, and (for a message) its rule matches, decided once.

        Matching is pure and fast (microseconds), so it runs on arrival: a post that
        needs moderators or support goes to the urgent lane.
        """
        if not isinstance(event, MessagePosted) or event.author.is_bot or \
                self.config.is_moderators_channel(event.channel):
            return "normal", None
        try:
            matches = self.evaluate(event)
        except Exception:
            self._failed(f"matching message {event.message.message_id} "
                         "(handling it in the normal lane)")
            return "normal", None
        return ("urgent" if any(self.needs_urgency(m) for m in matches) else "normal"), matches

    @staticmethod
    def needs_urgency(m: Match) -> bool:
        """Whether a match needs the urgent lane: support, method, or an alert to moderators."""
        rule = m.rule
        if rule.shadow:
            return False
        return rule.category in SUPPORT_CATEGORIES or rule.category == "method" or any(
            a.name == "alert_moderators" for a in rule.actions)

"""Care for the moderators: how much distressing text they see, who is carrying too much,
a break when it is time, and a word after a crisis.

Most moderators of peer-support groups live with the condition themselves; looking after
members wears them down. Haven lets each moderator choose how much of a post's text an
alert shows them, counts what each one handled (and at night), sends a private, kind
note suggesting a break after several crisis alerts or a long time on duty (naming who
else is on duty; it never takes anyone off duty), and after a crisis alert is resolved
thanks the moderator and says where to find support and how to ask a colleague to check
in with them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.contracts import ModeratorLoad
from bot.core.durations import in_clock_range
from bot.core.events import AlertClaimed, AlertResolved, DutyChanged, Outgoing
from bot.core.feature import EventHandler, Feature, FeatureContext, JobKind
from bot.features.care.config import CareConfig
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.rows import Alert, Job

log = logging.getLogger(__name__)

DAY = 86400.0
PROTECTIVE = ("on", "spoiler", "off")
"""Exposure settings, least to most protective."""


@dataclass(frozen=True)
class CareSources:
    """The roster (with each moderator's excerpt setting) and the alerts they handled."""

    duty: DutyRepository
    alerts: AlertsRepository


CareContext = FeatureContext[CareConfig, CareSources]


class Care(Feature):
    """Looks after the moderators (:class:`bot.core.contracts.ExcerptPolicy`,
    :class:`bot.core.contracts.TeamLoad`)."""

    def __init__(self, ctx: CareContext) -> None:
        self.ctx = ctx

    def handlers(self) -> dict[type, EventHandler]:
        """Alerts handled (for break notes and the after-care word), duty changes."""
        return {AlertClaimed: self.on_handled, AlertResolved: self.on_resolved,
                DutyChanged: self.on_duty}

    def jobs(self) -> list[JobKind]:
        """A check when someone has been on duty for a long time."""
        return [JobKind("care_long_duty", self._long_duty_job)]

    # -- exposure ----------------------------------------------------------------------

    async def excerpt_mode(self, community_id: str, user_ids: Sequence[str]) -> str:
        """The most protective setting of the moderators an alert mentions, or (when it
        mentions nobody in person) of those on duty; the community default when none of
        them chose one."""
        roster = await self.ctx.repo.duty.duty_roster(community_id)
        chosen = {r.user_id: r.excerpts for r in roster if r.excerpts in PROTECTIVE}
        users = list(user_ids) or [r.user_id for r in roster if r.on_duty]
        modes = [chosen[u] for u in users if u in chosen]
        if not modes:
            return self.ctx.config.excerpts
        return max(modes, key=PROTECTIVE.index)

    # -- load ----------------------------------------------------------------------------

    async def load(self, community_id: str) -> list[ModeratorLoad]:
        """Per moderator, over 24 hours and 7 days: claimed, resolved, crisis, at night."""
        now = self.ctx.clock.now()
        alerts = await self.ctx.repo.alerts.alerts_since(community_id, now - 8 * DAY)
        counts: dict[str, dict[str, list[int]]] = defaultdict(
            lambda: {k: [0, 0] for k in ("claimed", "resolved", "crisis", "night")})
        for alert in alerts:
            for who, at, what in ((alert.claimed_by, alert.claimed_at, "claimed"),
                                  (alert.resolved_by, alert.resolved_at, "resolved")):
                if not who or at is None or who.startswith("forgotten-"):
                    continue
                for i, span in enumerate((DAY, 7 * DAY)):
                    if now - at <= span:
                        self._count(counts[who], what, alert, at, i)
        def pair(counted: list[int]) -> tuple[int, int]:
            return counted[0], counted[1]

        rows = [ModeratorLoad(user, pair(c["claimed"]), pair(c["resolved"]), pair(c["crisis"]),
                              pair(c["night"]))
                for user, c in counts.items()]
        return sorted(rows, key=lambda r: (-r.crisis[1], -sum(r.claimed) - sum(r.resolved),
                                           r.user_id))

    def _count(self, c: dict[str, list[int]], what: str, alert: Alert, at: float, i: int) -> None:
        c[what][i] += 1
        if what == "claimed" or alert.claimed_by != alert.resolved_by:
            # an alert one moderator claimed and resolved counts once as crisis and night
            if alert.kind == "crisis":
                c["crisis"][i] += 1
            if self._at_night(at):
                c["night"][i] += 1

    def _at_night(self, at: float) -> bool:
        cfg = self.ctx.config
        local = datetime.fromtimestamp(at, self.ctx.core.community.zone())
        return in_clock_range(local.hour * 60 + local.minute, cfg.night_starts, cfg.night_ends)

    # -- break notes ---------------------------------------------------------------------

    async def on_handled(self, ev: AlertClaimed | AlertResolved) -> None:
        """After several crisis alerts within the window, a private note suggesting a break."""
        cfg = self.ctx.config
        if not cfg.enabled or ev.kind != "crisis":
            return
        since = self.ctx.clock.now() - cfg.break_window
        handled = {a.id for a in await self.ctx.repo.alerts.alerts_since(ev.community_id,
                                                                         since - 7 * DAY)
                   if a.kind == "crisis" and (
                       (a.claimed_by == ev.by and (a.claimed_at or 0) >= since)
                       or (a.resolved_by == ev.by and (a.resolved_at or 0) >= since))}
        if len(handled) < cfg.break_after:
            return
        key = f"care:break:{ev.community_id}:{ev.by}"
        last = await self.ctx.kv.get(key)
        if last is not None and self.ctx.clock.now() - float(last) < cfg.break_window:
            return  # one note per window
        await self.ctx.kv.set(key, str(self.ctx.clock.now()))
        others = await self._others_on_duty(ev.community_id, ev.by)
        text = self.ctx.templates.render(
            "care_break", count=len(handled), window=_hours(cfg.break_window), others=others,
            handover=self.ctx.hint("handover"))
        await self._tell(ev.community_id, ev.by, text, "break note")

    async def on_resolved(self, ev: AlertResolved) -> None:
        """A word after a crisis alert is resolved; then the break check."""
        cfg = self.ctx.config
        if cfg.enabled and cfg.after_crisis and ev.kind == "crisis":
            resources = "\n".join(f"- {line}" for line in cfg.resources)
            text = self.ctx.templates.render(
                "care_after_crisis", alert=ev.number or ev.alert_id, checkin=self.ctx.hint("checkin"),
                resources=self.ctx.templates.render("care_resources", resources=resources)
                if resources else "")
            await self._tell_once(ev.community_id, ev.by, text, f"care:after:{ev.alert_id}")
        await self.on_handled(ev)

    # -- long duty -----------------------------------------------------------------------

    async def on_duty(self, ev: DutyChanged) -> None:
        """Going on duty starts the long-duty check; going off cancels it."""
        await self.ctx.scheduler.cancel("care_long_duty", f"{ev.user_id}:")
        if ev.on and self.ctx.config.enabled:
            await self.ctx.scheduler.schedule(
                ev.community_id, "care_long_duty", f"{ev.user_id}:{ev.at}",
                ev.at + self.ctx.config.long_duty, {"user_id": ev.user_id, "since": ev.at})

    async def _long_duty_job(self, job: Job) -> None:
        user, since = str(job.payload["user_id"]), float(job.payload["since"])
        row = next((r for r in await self.ctx.repo.duty.duty_roster(job.community_id)
                    if r.user_id == user), None)
        if row is None or not row.on_duty or row.since != since:
            return  # went off duty (or on again) since
        others = await self._others_on_duty(job.community_id, user)
        text = self.ctx.templates.render(
            "care_long_duty", hours=_hours(self.ctx.clock.now() - since), others=others,
            handover=self.ctx.hint("handover"), off=self.ctx.hint("duty", "off"))
        await self._tell_once(job.community_id, user, text, f"care:duty:{user}:{since}")

    # -- helpers -------------------------------------------------------------------------

    async def _others_on_duty(self, community_id: str, user_id: str) -> str:
        others = [self.ctx.platform.user_mention(r.user_id)
                  for r in await self.ctx.repo.duty.duty_roster(community_id)
                  if r.on_duty and r.user_id != user_id]
        if others:
            return self.ctx.templates.render("care_others_on_duty", others=", ".join(others))
        return self.ctx.templates.render("care_nobody_else_on_duty")

    async def _tell_once(self, community_id: str, user_id: str, text: str, key: str) -> None:
        """A private note, once per ``key`` (also when the work is repeated after a crash)."""
        async def send() -> str:
            return await self.ctx.messenger.private(community_id, user_id, Outgoing(text))

        await self.ctx.messenger.once(community_id, key, send)

    async def _tell(self, community_id: str, user_id: str, text: str, what: str) -> None:
        result = await self.ctx.messenger.private(community_id, user_id, Outgoing(text))
        if result != "private":
            log.info("could not send moderator %s a %s privately", user_id, what)


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} hour{'s' if round(hours) != 1 else ''}" if hours >= 1 else \
        f"{seconds / 60:.0f} minutes"

"""``duty``, ``quiet`` and ``handover``: the roster, one's own quiet hours, the shift logbook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot.core.clock import fmt_time
from bot.core.commands import Arg, Invocation, command
from bot.core.durations import parse_clock_range
from bot.core.errors import CommandError
from bot.core.events import CommandResult
from bot.core.feature import FeatureContext
from bot.core.templates import plural
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.cases import CasesRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.posts import TrackedPostsRepository


@dataclass(frozen=True)
class ShiftSources:
    """The roster and logbook, and what a handover summarises."""

    duty: DutyRepository
    alerts: AlertsRepository
    posts: TrackedPostsRepository
    cases: CasesRepository


DutyContext = FeatureContext[None, ShiftSources]


class DutyCommands:
    """Shifts: who is on duty, quiet hours, and the handover logbook."""

    def __init__(self, feature: object, ctx: DutyContext) -> None:
        self.ctx = ctx

    @command("duty", "Go on or off duty, or list who is on duty")
    async def duty(self, inv: Invocation,
                   state: Annotated[Literal["on", "off", "list"], Arg("on, off or list")]
                   ) -> CommandResult:
        """Go on or off duty, or list who is on duty."""
        ctx = self.ctx
        if state == "list":
            roster = [r for r in await ctx.repo.duty.duty_roster(inv.community_id) if r.on_duty]
            if not roster:
                return CommandResult("Nobody is on duty: alerts mention the whole moderator role.")
            return CommandResult("On duty: " + ", ".join(
                f"{ctx.platform.user_mention(r.user_id)} (since {fmt_time(r.since or 0)})"
                for r in roster))
        await ctx.repo.duty.set_duty(inv.community_id, inv.invoker.id, inv.invoker.name,
                                     state == "on", ctx.clock.now())
        if state == "on":
            return CommandResult("You are on duty: alerts will mention you (shared with others "
                                 "on duty). Use `duty off` when you finish.")
        return CommandResult("You are off duty. Thank you for your shift.")

    @command("quiet", "Set your own quiet hours (no alert mentions), e.g. 22:00-07:00 or off")
    async def quiet(self, inv: Invocation,
                    hours: Annotated[str, Arg("HH:MM-HH:MM or off")]) -> CommandResult:
        """Set or clear one's own quiet hours (UTC)."""
        duty = self.ctx.repo.duty
        value = hours.strip().lower()
        if value in ("off", "none", "clear"):
            await duty.set_quiet_hours(inv.community_id, inv.invoker.id, inv.invoker.name,
                                       None, None)
            return CommandResult("Quiet hours cleared.")
        try:
            start, end = parse_clock_range(value)
        except ValueError as exc:
            raise CommandError(f"{exc}. Example: `quiet 22:00-07:00` (UTC) or `quiet off`.") from None
        await duty.set_quiet_hours(inv.community_id, inv.invoker.id, inv.invoker.name, start, end)
        return CommandResult(f"Quiet hours set to {value} UTC: alerts won't mention you then.")

    @command("handover", "Add to the shift logbook, or show it and what happened since")
    async def handover(self, inv: Invocation,
                       text: Annotated[str | None,
                                       Arg("Note for the next shift", rest=True)] = None
                       ) -> CommandResult:
        """Add to the shift logbook, or show it and what happened since the last entry."""
        ctx, repo = self.ctx, self.ctx.repo
        note = (text or "").strip()
        if note:
            entry = await repo.duty.add_handover(inv.community_id, inv.invoker.id,
                                                 inv.invoker.name, note, ctx.clock.now())
            return CommandResult(f"Added to the logbook (entry {entry}).")
        entries = await repo.duty.latest_handover(inv.community_id)
        # "what happened since": since the previous shift's note, else the last 24 hours
        since = entries[1].created_at if len(entries) > 1 else ctx.clock.now() - 86400
        lines = ["**Shift logbook**"]
        for e in entries:
            lines.append(f"- {fmt_time(e.created_at)} {e.author_name}: {e.text}")
        if not entries:
            lines.append("- (no entries yet; add one with `handover <text>`)")
        alerts = await repo.alerts.alerts_since(inv.community_id, since)
        open_alerts = await repo.alerts.alerts_by_state(inv.community_id, ("open", "claimed"))
        posts = await repo.posts.open_posts(inv.community_id)
        cases = await repo.cases.cases_since(inv.community_id, since)
        lines.append(f"**Since {fmt_time(since)}:** {plural(len(alerts), 'new alert')}, "
                     f"{len(open_alerts)} still open, {plural(len(posts), 'post')} waiting for "
                     f"a reply, {plural(len(cases), 'case')}.")
        for a in open_alerts:
            lines.append(f"- alert #{a.id} {a.kind} ({a.state}) {a.member_name} {a.link}".rstrip())
        for c in cases[-10:]:
            lines.append(f"- case #{c.id} {c.action} {c.target_name} ({c.rule_id or c.reason})")
        return CommandResult("\n".join(lines))

"""``duty``, ``quiet`` and ``handover``: the roster, one's own quiet hours, the shift logbook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot.core.clock import fmt_time
from bot.core.commands import Arg, Invocation, command
from bot.core.durations import parse_clock_range
from bot.core.errors import CommandError
from bot.core.events import CommandResult, DutyChanged
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
        t = ctx.templates
        if state == "list":
            roster = [r for r in await ctx.repo.duty.duty_roster(inv.community_id) if r.on_duty]
            if not roster:
                return CommandResult(t.render("duty_nobody"))
            return CommandResult(t.render("duty_list", moderators=", ".join(
                t.render("duty_list_item", moderator=ctx.platform.user_mention(r.user_id),
                         since=fmt_time(r.since or 0))
                for r in roster)))
        await ctx.repo.duty.set_duty(inv.community_id, inv.invoker.id, inv.invoker.name,
                                     state == "on", ctx.clock.now())
        ctx.publish(DutyChanged(inv.community_id, ctx.clock.now(), user_id=inv.invoker.id,
                                name=inv.invoker.name, on=state == "on"))
        return CommandResult(t.render("duty_on" if state == "on" else "duty_off"))

    @command("quiet", "Set your own quiet hours (no alert mentions), e.g. 22:00-07:00 or off")
    async def quiet(self, inv: Invocation,
                    hours: Annotated[str, Arg("HH:MM-HH:MM or off")]) -> CommandResult:
        """Set or clear one's own quiet hours (UTC)."""
        duty = self.ctx.repo.duty
        t = self.ctx.templates
        value = hours.strip().lower()
        if value in ("off", "none", "clear"):
            await duty.set_quiet_hours(inv.community_id, inv.invoker.id, inv.invoker.name,
                                       None, None)
            return CommandResult(t.render("quiet_cleared"))
        try:
            start, end = parse_clock_range(value)
        except ValueError as exc:
            raise CommandError(t.render("quiet_invalid", problem=exc)) from None
        await duty.set_quiet_hours(inv.community_id, inv.invoker.id, inv.invoker.name, start, end)
        return CommandResult(t.render("quiet_set", hours=value))

    @command("handover", "Add to the shift logbook, or show it and what happened since")
    async def handover(self, inv: Invocation,
                       text: Annotated[str | None,
                                       Arg("Note for the next shift", rest=True)] = None
                       ) -> CommandResult:
        """Add to the shift logbook, or show it and what happened since the last entry."""
        ctx, repo = self.ctx, self.ctx.repo
        t = ctx.templates
        note = (text or "").strip()
        if note:
            entry = await repo.duty.add_handover(inv.community_id, inv.invoker.id,
                                                 inv.invoker.name, note, ctx.clock.now())
            return CommandResult(t.render("handover_added", entry=entry))
        entries = await repo.duty.latest_handover(inv.community_id)
        # "what happened since": since the previous shift's note, else the last 24 hours
        since = entries[1].created_at if len(entries) > 1 else ctx.clock.now() - 86400
        lines = [t.render("handover_heading")]
        for e in entries:
            lines.append(t.render("handover_item", at=fmt_time(e.created_at),
                                  moderator=e.author_name, text=e.text))
        if not entries:
            lines.append(t.render("handover_empty"))
        alerts = await repo.alerts.alerts_since(inv.community_id, since)
        open_alerts = await repo.alerts.alerts_by_state(inv.community_id, ("open", "claimed"))
        posts = await repo.posts.open_posts(inv.community_id)
        cases = await repo.cases.cases_since(inv.community_id, since)
        lines.append(t.render("handover_since", since=fmt_time(since),
                              new_alerts=plural(len(alerts), "new alert"),
                              open_alerts=len(open_alerts), posts=plural(len(posts), "post"),
                              cases=plural(len(cases), "case")))
        for a in open_alerts:
            lines.append(t.render("handover_alert", alert=a.number, kind=a.kind, state=a.state,
                                  member=a.member_name, link=a.link).rstrip())
        for c in cases[-10:]:
            lines.append(t.render("handover_case", case=c.number, action=c.action,
                                  member=c.target_name, reason=c.rule_id or c.reason))
        return CommandResult("\n".join(lines))

"""``alerts``, ``claim``, ``resolve`` and the Claim/Resolve buttons on alert messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from bot.core.clock import fmt_duration
from bot.core.commands import Arg, Invocation, button, command
from bot.core.events import ButtonPressed, CommandResult

if TYPE_CHECKING:
    from bot.features.alerts.context import AlertsContext
    from bot.features.alerts.feature import Alerts


class AlertCommands:
    """The moderators' side of alerts."""

    def __init__(self, alerts: Alerts, ctx: AlertsContext) -> None:
        self.alerts = alerts
        self.ctx = ctx

    @command("alerts", "Open crisis and safety alerts")
    async def list_open(self, inv: Invocation) -> CommandResult:
        """Open and claimed alerts, oldest first."""
        ctx = self.ctx
        alerts = await ctx.repo.alerts.alerts_by_state(inv.community_id, ("open", "claimed"))
        t = ctx.templates
        if not alerts:
            return CommandResult(t.render("alerts_none"))
        lines = [t.render("alerts_heading_one" if len(alerts) == 1 else "alerts_heading",
                          count=len(alerts))]
        for a in alerts:
            claimed = a.state == "claimed" and a.claimed_by
            lines.append(t.render(
                "alerts_item_claimed" if claimed else "alerts_item", alert=a.number, kind=a.kind,
                severity=a.severity, member=a.member_name, channel=a.channel_name,
                age=fmt_duration(ctx.clock.now() - a.created_at), link=a.link,
                moderator=ctx.platform.user_mention(a.claimed_by or "")).rstrip())
        return CommandResult("\n".join(lines))

    @command("claim", "Take an alert so others know you are on it")
    async def claim(self, inv: Invocation,
                    alert: Annotated[int, Arg("Alert number")]) -> CommandResult:
        """Claim an alert."""
        return CommandResult(await self.alerts.claim(inv.community_id, alert, inv.invoker.id))

    @command("resolve", "Close an alert, with an optional note")
    async def resolve(self, inv: Invocation, alert: Annotated[int, Arg("Alert number")],
                      note: Annotated[str | None, Arg("What happened", rest=True)] = None
                      ) -> CommandResult:
        """Resolve an alert with an optional note."""
        return CommandResult(await self.alerts.resolve(inv.community_id, alert, inv.invoker.id,
                                                       note))

    @button("claim")
    async def claim_button(self, ev: ButtonPressed) -> CommandResult:
        """The Claim button: same check and effect as the command."""
        return CommandResult(await self.alerts.claim(ev.community_id, ev.alert_id, ev.member.id))

    @button("resolve")
    async def resolve_button(self, ev: ButtonPressed) -> CommandResult:
        """The Resolve button (no note)."""
        return CommandResult(await self.alerts.resolve(ev.community_id, ev.alert_id,
                                                       ev.member.id, None))

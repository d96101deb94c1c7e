"""``excerpts``, ``team`` and ``checkin``: each moderator's exposure, the team's load, and
asking a colleague to check in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from bot.core.commands import Arg, Invocation, command
from bot.core.events import CommandResult, Outgoing

if TYPE_CHECKING:
    from bot.features.care.feature import Care, CareContext


class CareCommands:
    """Moderators looking after themselves and each other."""

    def __init__(self, care: Care, ctx: CareContext) -> None:
        self.care = care
        self.ctx = ctx

    @command("excerpts", "How much of a post's text alerts show you: on, spoiler, off or default")
    async def excerpts(self, inv: Invocation,
                       mode: Annotated[Literal["on", "spoiler", "off", "default"],
                                       Arg("on, spoiler, off or default")]) -> CommandResult:
        """Set one's own exposure to alert text (the most protective choice among the
        moderators an alert mentions is used)."""
        ctx = self.ctx
        await ctx.repo.duty.set_excerpts(inv.community_id, inv.invoker.id, inv.invoker.name,
                                         None if mode == "default" else mode)
        shown = ctx.config.excerpts if mode == "default" else mode
        return CommandResult(ctx.templates.render(f"care_excerpts_{shown}"))

    @command("team", "Who handled what: alerts claimed, resolved, crisis and at night")
    async def team(self, inv: Invocation) -> CommandResult:
        """Per moderator, the last 24 hours and 7 days."""
        ctx = self.ctx
        rows = await self.care.load(inv.community_id)
        if not rows:
            return CommandResult(ctx.templates.render("care_team_empty"))
        lines = [ctx.templates.render("care_team_header")]
        for r in rows:
            lines.append(ctx.templates.render(
                "care_team_line", moderator=ctx.platform.user_mention(r.user_id),
                claimed=f"{r.claimed[0]}/{r.claimed[1]}", resolved=f"{r.resolved[0]}/{r.resolved[1]}",
                crisis=f"{r.crisis[0]}/{r.crisis[1]}", night=f"{r.night[0]}/{r.night[1]}"))
        return CommandResult("\n".join(lines))

    @command("checkin", "Ask another moderator, quietly, to check in with you")
    async def checkin(self, inv: Invocation) -> CommandResult:
        """A quiet note in the moderators' channel (no role ping): someone would like a word."""
        ctx = self.ctx
        text = ctx.templates.render("care_checkin_request",
                                    moderator=ctx.platform.user_mention(inv.invoker.id))
        sent = await ctx.messenger.send(inv.community_id, ctx.core.channels.moderators,
                                        Outgoing(text))
        return CommandResult(ctx.templates.render(
            "care_checkin_sent" if sent is not None else "care_checkin_failed"),
            ok=sent is not None)

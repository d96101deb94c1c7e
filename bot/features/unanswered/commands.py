"""``unanswered``: support posts still waiting for a reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.clock import fmt_duration
from bot.core.commands import Invocation, command
from bot.core.events import CommandResult

if TYPE_CHECKING:
    from bot.features.unanswered.feature import Unanswered, UnansweredContext


class UnansweredCommands:
    """What is still waiting, for moderators."""

    def __init__(self, feature: Unanswered, ctx: UnansweredContext) -> None:
        self.ctx = ctx

    @command("unanswered", "Support posts still waiting for a reply, longest first")
    async def unanswered(self, inv: Invocation) -> CommandResult:
        """Support posts still waiting, longest first."""
        ctx = self.ctx
        posts = await ctx.repo.open_posts(inv.community_id)
        t = ctx.templates
        if not posts:
            return CommandResult(t.render("unanswered_none"))
        lines = [t.render("unanswered_heading_one" if len(posts) == 1 else "unanswered_heading",
                          count=len(posts))]
        for p in posts[:20]:
            lines.append(t.render("unanswered_item", channel=p.channel_name, link=p.link,
                                  waited=fmt_duration(ctx.clock.now() - p.posted_at)).rstrip())
        return CommandResult("\n".join(lines))

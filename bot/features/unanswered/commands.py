"""``unanswered``: support posts still waiting for a reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.clock import fmt_duration
from bot.core.commands import Invocation, command
from bot.core.events import CommandResult
from bot.core.templates import plural

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
        if not posts:
            return CommandResult("Every support post has had a reply.")
        lines = [f"**{plural(len(posts), 'post')} waiting for a reply:**"]
        for p in posts[:20]:
            lines.append(f"- #{p.channel_name}: waiting "
                         f"{fmt_duration(ctx.clock.now() - p.posted_at)} {p.link}".rstrip())
        return CommandResult("\n".join(lines))

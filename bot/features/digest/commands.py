"""``digest``, ``reviewed`` (moderators) and ``report`` (members)."""

from __future__ import annotations

import re
from typing import Annotated

from bot.core.commands import Arg, Invocation, button, command
from bot.core.events import ButtonPressed, CommandResult
from bot.features.digest.feature import DigestContext, DigestFeature

REASON_MAX = 300
"""The longest reason a member can give with ``report``."""
LINK = re.compile(r"^(https?://\S+|matrix:\S+)$")


class DigestCommands:
    """Show and work through the review digest; members report posts privately."""

    def __init__(self, feature: DigestFeature, ctx: DigestContext) -> None:
        self.feature = feature
        self.ctx = ctx

    @command("digest", "What is waiting for review now (flags, reports, first posts)")
    async def digest(self, inv: Invocation) -> CommandResult:
        """Every unreviewed item, rendered as in the digest."""
        ctx, feature = self.ctx, self.feature
        await feature.collect_first_posts(inv.community_id)
        items = [i for i in await ctx.repo.digest.unreviewed(inv.community_id)
                 if i.kind in ctx.config.kinds]
        if not items:
            return CommandResult(ctx.templates.render("digest_nothing"))
        header = ctx.templates.render("digest_now", count=len(items),
                                      hint=inv.hint("reviewed", "<number|all>"))
        return CommandResult(feature.render(items, header))

    @command("reviewed", "Mark a review item (or all) as done")
    async def reviewed(self, inv: Invocation,
                       item: Annotated[str, Arg("Item number, or all")]) -> CommandResult:
        """Mark one item, or every unreviewed one, reviewed; they never come back."""
        return await self.mark(inv.community_id, inv.invoker.id, item)

    @button("reviewed")
    async def reviewed_button(self, ev: ButtonPressed) -> CommandResult:
        """The "Reviewed" button of one item (``alert_id`` is the item number; 0: all)."""
        return await self.mark(ev.community_id, ev.member.id,
                               "all" if ev.alert_id == 0 else str(ev.alert_id))

    async def mark(self, community_id: str, by: str, which: str) -> CommandResult:
        """Mark ``which`` (an item number or ``all``) reviewed by ``by``."""
        ctx = self.ctx
        open_items = await ctx.repo.digest.unreviewed(community_id)
        which = which.strip().lstrip("#").lower()
        if which == "all":
            ids = [i.id for i in open_items]
        elif which.isdigit() and int(which) in {i.id for i in open_items}:
            ids = [int(which)]
        else:
            return CommandResult(ctx.templates.render("digest_no_item", item=which,
                                                      hint=ctx.hint("digest")), ok=False)
        count = await ctx.repo.digest.mark_reviewed(ids, by, ctx.clock.now())
        return CommandResult(ctx.templates.render("digest_marked", count=count))

    @command("report", "Tell the moderators privately about a post", moderator_only=False)
    async def report(self, inv: Invocation,
                     link: Annotated[str, Arg("Link to the post")],
                     reason: Annotated[str | None, Arg("Why (optional)", rest=True)] = None
                     ) -> CommandResult:
        """A member reports a post: stored for the next digest, never its text."""
        ctx = self.ctx
        if not self.feature.collects("report"):
            return CommandResult(ctx.templates.render("report_off"), ok=False)
        link = link.strip().strip("<>")
        if not LINK.match(link):
            return CommandResult(ctx.templates.render("report_needs_link"), ok=False)
        reason = (reason or "").strip()
        if len(reason) > REASON_MAX:
            return CommandResult(ctx.templates.render("report_too_long", limit=REASON_MAX),
                                 ok=False)
        await self.feature.add_report(inv.community_id, inv.invoker.id, inv.invoker.name,
                                      link, reason or ctx.templates.render("report_no_reason"))
        return CommandResult(ctx.templates.render("report_thanks"))

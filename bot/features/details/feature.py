"""Identifying details adding up across posts.

One post names a town, another a school, another a clinic: none identifies the
member alone, together they can. Each post is checked by :func:`detect` for the
KINDS of detail it reveals; only the kind, the time and the post's link are stored
(never the text). When one member's posts within ``window`` reveal ``kinds`` or more
different kinds, Haven sends that member one private, kind note (once per window,
also after a crash) and flags it for the moderators' review digest, naming the
kinds, never the details. Crisis and concern posts are never counted or answered
with a privacy note; hidden posts are gone already. An edit re-evaluates its post.
"""

from __future__ import annotations

import logging

from bot.core.events import Flagged, MessagePosted, Outgoing
from bot.core.feature import Feature, FeatureContext, MessageOutcome, Stage
from bot.core.templates import plural
from bot.features.details.config import DetailsConfig
from bot.features.details.detector import detect, in_order
from bot.storage.repositories.details import DetailsRepository

DetailsContext = FeatureContext[DetailsConfig, DetailsRepository]

log = logging.getLogger(__name__)

DAY = 86400.0


def span(seconds: float) -> str:
    """A window in plain words: ``30 days``, ``12 hours``."""
    if seconds >= DAY and seconds % DAY == 0:
        return plural(seconds / DAY, "day")
    if seconds >= 3600 and seconds % 3600 == 0:
        return plural(seconds / 3600, "hour")
    return plural(round(seconds / 60), "minute")


class Details(Feature):
    """Counts the kinds of identifying detail per member and notes when they add up."""

    def __init__(self, ctx: DetailsContext) -> None:
        self.ctx = ctx

    def stages(self) -> list[Stage]:
        """After the members stage; edits are checked again, hidden and support posts never."""
        if not self.ctx.config.enabled:
            return []
        return [Stage("details.check", 45, "follow_up", self._check_stage,
                      skip=frozenset({"hidden", "support"}))]

    def keep_for(self) -> float:
        """How long rows are kept: the window, or the retention period if shorter."""
        return min(self.ctx.config.window, self.ctx.core.moderation.retention_days * DAY)

    async def _check_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        await self.check(ev)

    async def check(self, ev: MessagePosted) -> frozenset[str]:
        """Record the kinds this post reveals; send the note when they add up.

        Returns the kinds found in this post.
        """
        ctx, cfg = self.ctx, self.ctx.config
        if cfg.ignores(ev.channel) or ev.channel.kind == "dm":
            return frozenset()
        kinds = detect(ev.text)
        if not kinds and not ev.edited:
            return kinds
        await ctx.repo.record(ev.community_id, ev.author.id, ev.message.message_id, kinds,
                              ev.at, ev.link)
        await ctx.repo.prune(ev.at - self.keep_for(), ev.community_id)
        if not kinds:
            return kinds
        since = ev.at - cfg.window
        seen = await ctx.repo.kinds_since(ev.community_id, ev.author.id, since)
        if len(seen) < cfg.kinds:
            return kinds
        last = await ctx.repo.last_note(ev.community_id, ev.author.id)
        if last is not None and last >= since:
            return kinds
        await self._note(ev, in_order(seen))
        return kinds

    async def _note(self, ev: MessagePosted, kinds: list[str]) -> None:
        """Send the member the note (once, via the outbox), remember it, flag it."""
        ctx = self.ctx
        words = [ctx.templates.render(f"details_kind_{k}") for k in kinds]
        window = span(ctx.config.window)

        async def send() -> str:
            text = ctx.templates.render(
                "details_note", member=ev.author.name, window=window,
                kinds="\n".join(f"• {w}" for w in words))
            result = await ctx.messenger.private(ev.community_id, ev.author.id, Outgoing(text))
            if result == "private":
                return "private"
            log.info("identifying details: member %s could not be messaged privately; "
                     "no public fallback (privacy)", ev.author.id)
            return "closed"

        result = await ctx.messenger.once(
            ev.community_id, f"details:{ev.author.id}:{ev.message.message_id}", send)
        await ctx.repo.noted(ev.community_id, ev.author.id, ev.at, kinds)
        ctx.publish(Flagged(
            ev.community_id, ev.at, kind="details", key=f"{ev.message.message_id}:details",
            member_id=ev.author.id, member_name=ev.author.name,
            channel_name=ev.channel.name, link=ev.link,
            summary=ctx.templates.render(
                "details_flag" if result == "private" else "details_flag_no_dm",
                count=str(len(kinds)), window=window, kinds=", ".join(words))))

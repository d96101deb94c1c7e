"""The review digest: what was flagged and did not alert, twice a day, to work through.

Other features publish :class:`~bot.core.events.Flagged` (check-in notes, personal-detail
nudges, content-warning redirects, shadow-mode matches); members ``report`` posts; and
newcomers' first posts still without a reply are found in the tracked support posts.
Each is stored as one item (never the post's text). At each configured time in the
community's time zone a durable job stores the digest with its items in one
transaction, then sends it once to the moderators' channel. Reviewed items never
come back; an empty digest is not sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from bot.core.clock import fmt_duration
from bot.core.events import Flagged, MessagePosted, Outgoing
from bot.core.feature import EventHandler, Feature, FeatureContext, JobKind, MessageOutcome, Stage
from bot.core.ports import Capability, has
from bot.features.digest.config import FIRST_POST, DigestConfig
from bot.storage.database import Database, Migration
from bot.storage.repositories.digest import DigestItem, DigestRepository
from bot.storage.repositories.members import MembersRepository
from bot.storage.repositories.posts import TrackedPostsRepository
from bot.storage.rows import Job

log = logging.getLogger(__name__)

JOB = "digest_send"
MAX_ITEM_BUTTONS = 24
"""Item buttons on one message (Discord allows 25; the last is "All reviewed")."""


class DigestRepos:
    """What the digest reads and writes: its own items, tracked posts and members."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = DigestRepository.MIGRATIONS
    """The digest's own tables (applied by the composition root)."""

    def __init__(self, db: Database) -> None:
        self.digest = DigestRepository(db)
        self.posts = TrackedPostsRepository(db)
        self.members = MembersRepository(db)


DigestContext = FeatureContext[DigestConfig, DigestRepos]


def next_time(now: float, times: Sequence[int], zone: ZoneInfo) -> float:
    """The first of ``times`` (minutes after midnight in ``zone``) strictly after ``now``.

    Wall-clock times: 09:00 stays 09:00 across a DST change. A time skipped by the
    change (02:30 on a spring-forward night) falls an hour later, as zoneinfo reads it.
    """
    today = datetime.fromtimestamp(now, zone).date()
    for offset in range(0, 3):
        day = today + timedelta(days=offset)
        for minute in sorted(times):
            local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
            at = local.timestamp()
            if at > now:
                return at
    raise ValueError("no digest time configured")


class DigestFeature(Feature):
    """Collects flagged items and sends the review digest at the configured times."""

    def __init__(self, ctx: DigestContext) -> None:
        self.ctx = ctx
        self._scheduled: set[str] = set()

    def stages(self) -> list[Stage]:
        """Keeps the community's digest job scheduled (newcomers' posts need it too)."""
        return [Stage("digest.schedule", 90, "follow_up", self._watch)]

    def handlers(self) -> dict[type, EventHandler]:
        """A flag becomes an item of the next digest."""
        return {Flagged: self.on_flagged}

    def jobs(self) -> list[JobKind]:
        """Sending the digest."""
        return [JobKind(JOB, self._send_job)]

    async def start(self) -> None:
        """Every community with items keeps its digest job (survives a lost job row)."""
        if not self.ctx.config.enabled:
            return
        for community_id in await self.ctx.repo.digest.communities():
            await self.ensure_scheduled(community_id)

    # -- collecting -------------------------------------------------------------------

    def collects(self, kind: str) -> bool:
        """Whether items of ``kind`` are collected."""
        return self.ctx.config.enabled and kind in self.ctx.config.kinds

    async def on_flagged(self, ev: Flagged) -> None:
        """Store a flag as an item (once per key); kinds not configured are ignored."""
        if not self.collects(ev.kind):
            return
        await self.ctx.repo.digest.add_item(ev.community_id, ev.kind, ev.key, ev.member_id,
                                            ev.member_name, ev.channel_name, ev.link,
                                            ev.summary, ev.at)
        await self.ensure_scheduled(ev.community_id)

    async def add_report(self, community_id: str, reporter_id: str, reporter_name: str,
                         link: str, reason: str) -> bool:
        """Store a member's report of a post; ``False`` if they reported it before."""
        added = await self.ctx.repo.digest.add_item(
            community_id, "report", f"report:{reporter_id}:{link}", reporter_id, reporter_name,
            "", link, reason, self.ctx.clock.now())
        await self.ensure_scheduled(community_id)
        return added is not None

    async def _watch(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        if outcome.first_post:
            await self.ensure_scheduled(ev.community_id)

    async def ensure_scheduled(self, community_id: str) -> None:
        """Schedule the community's next digest (once per process; jobs are durable)."""
        if not self.ctx.config.enabled or community_id in self._scheduled:
            return
        self._scheduled.add(community_id)
        await self._schedule_after(community_id, self.ctx.clock.now())

    async def _schedule_after(self, community_id: str, after: float) -> None:
        due = next_time(after, self.ctx.config.times, self.ctx.core.community.zone())
        await self.ctx.scheduler.schedule(community_id, JOB, f"digest:{community_id}:{int(due)}",
                                          due, {})

    async def collect_first_posts(self, community_id: str) -> None:
        """Newcomers' first posts still unanswered after ``first_posts_after`` become items."""
        ctx = self.ctx
        if not self.collects(FIRST_POST):
            return
        cutoff = ctx.clock.now() - ctx.config.first_posts_after
        for post in await ctx.repo.posts.open_posts(community_id):
            if post.posted_at > cutoff:
                break
            author = await ctx.repo.members.get_member(community_id, post.author_id)
            if author is None or author.first_post_at is None:
                continue
            if author.first_post_at != post.posted_at:
                continue
            summary = ctx.templates.render(
                "digest_first_post", waited=fmt_duration(ctx.clock.now() - post.posted_at))
            await ctx.repo.digest.add_item(community_id, FIRST_POST, f"first_post:{post.message_id}",
                                           post.author_id, author.name, post.channel_name,
                                           post.link, summary, post.posted_at)

    # -- sending ----------------------------------------------------------------------

    async def _send_job(self, job: Job) -> None:
        ctx = self.ctx
        community_id = job.community_id
        await self._schedule_after(community_id, max(job.due_at, ctx.clock.now()))
        if not ctx.config.enabled:
            return
        # A digest stored before a crash is sent first (once).
        for earlier in await ctx.repo.digest.unsent(community_id):
            await self._deliver(community_id, earlier.id, earlier.number)
        await self.collect_first_posts(community_id)
        items = [i for i in await ctx.repo.digest.undigested(community_id)
                 if i.kind in ctx.config.kinds]
        if not items:
            log.info("digest for %s: nothing to review, not sent", community_id)
            return
        async with ctx.transaction():
            digest = await ctx.repo.digest.create_digest(community_id, job.due_at,
                                                         [i.id for i in items])
        await self._deliver(community_id, digest.id, digest.number)

    async def _deliver(self, community_id: str, digest_id: int, number: int) -> None:
        ctx = self.ctx
        items = [i for i in await ctx.repo.digest.items_of(digest_id) if i.reviewed_at is None]
        refs: list[str] = []

        async def send() -> str:
            if not items:
                return "empty"
            text = self.render(items, header=ctx.templates.render(
                "digest_header", number=number, count=len(items),
                hint=ctx.hint("reviewed", "<number|all>")))
            ref = await ctx.platform.send(community_id, ctx.core.channels.moderators,
                                          Outgoing(text, dedupe_key=f"digest:{digest_id}",
                                                   buttons=self.buttons(items)))
            if ref is not None:
                refs.append(ref.message_id)
            return "sent"

        await ctx.messenger.once(community_id, f"digest:{digest_id}", send)
        await ctx.repo.digest.mark_sent(digest_id, ctx.clock.now(), json.dumps(refs))
        log.info("digest %d for %s sent (%d items)", number, community_id, len(items))

    # -- rendering --------------------------------------------------------------------

    def buttons(self, items: Sequence[DigestItem]) -> tuple[tuple[str, int], ...]:
        """Where the platform has buttons: "Reviewed" for each item shown (as many as fit
        beside the "All reviewed" one) and one for all (number 0)."""
        if not has(self.ctx.platform, Capability.BUTTONS):
            return ()
        shown = items[:min(self.ctx.config.max_items, MAX_ITEM_BUTTONS)]
        return (*(("reviewed", i.id) for i in shown), ("reviewed", 0))

    def render(self, items: Sequence[DigestItem], header: str) -> str:
        """The header, one line per item (up to ``max_items``), then how many more."""
        ctx = self.ctx
        limit = ctx.config.max_items
        lines = [header, *(self.line(i) for i in items[:limit])]
        if len(items) > limit:
            lines.append(ctx.templates.render("digest_more", count=len(items) - limit,
                                              hint=ctx.hint("digest")))
        return "\n".join(lines)

    def line(self, item: DigestItem) -> str:
        """One item: its number, the kind in words, who, where, the summary and the link."""
        t = self.ctx.templates
        where = t.render("digest_where", channel=item.channel_name) if item.channel_name else ""
        return t.render("digest_line", number=item.id, kind=t.render(f"digest_kind_{item.kind}"),
                        who=item.member_name or item.member_id, where=where,
                        summary=item.summary, link=item.link).rstrip()

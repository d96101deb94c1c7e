"""Unanswered-post watch: timely replies keep people coming back.

A root post in a support place is tracked until someone other than its author
(and not a bot) replies: a reply to it, a message in its thread or forum post,
or (``count_next_message``) the next message from someone else in the channel.
After ``remind_after`` the peer supporters are nudged (never the post's own
author); after ``escalate_after`` the moderators are told. Timers are persisted jobs: after downtime each due
nudge fires once, and a post answered or deleted meanwhile is left alone.
Posts that raised a crisis alert are left to that alert, and crisis text is
never quoted outside the moderators' channel.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.core.clock import fmt_duration
from bot.core.contracts import WarningLabels
from bot.core.durations import in_clock_range
from bot.core.events import MessageDeleted, MessagePosted, MessageRef, Outgoing
from bot.core.feature import EventHandler, Feature, FeatureContext, JobKind, MessageOutcome, Stage
from bot.core.messenger import quote
from bot.core.ports import Capability, RoleMembers, capability
from bot.features.unanswered.config import UnansweredConfig
from bot.rules.model import Match
from bot.rules.planner import plan
from bot.storage.repositories.posts import TrackedPostsRepository
from bot.storage.rows import Job, PostState, TrackedPost

UnansweredContext = FeatureContext[UnansweredConfig, TrackedPostsRepository]

log = logging.getLogger(__name__)


class Unanswered(Feature):
    """Tracks support posts and nudges people about the ones nobody answered."""

    def __init__(self, ctx: UnansweredContext, labels: WarningLabels) -> None:
        self.ctx = ctx
        self.labels = labels

    def stages(self) -> list[Stage]:
        """Last in the follow-up: track support posts, answer the ones replied to."""
        return [Stage("unanswered.track", 50, "follow_up", self._track_stage)]

    def handlers(self) -> dict[type, EventHandler]:
        """A deleted post stops being tracked."""
        return {MessageDeleted: self.on_delete}

    def jobs(self) -> list[JobKind]:
        """Reminding peer supporters, then telling moderators."""
        return [JobKind("post_remind", self._remind_job),
                JobKind("post_escalate", self._escalate_job)]

    async def _track_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        if ev.edited:
            if outcome.hidden or outcome.crisis:
                # hidden: stop tracking it; crisis: leave it to the alert, quote nothing
                await self.on_hidden(ev, crisis=outcome.crisis)
            return
        await self.on_message(ev, hidden=outcome.hidden, crisis=outcome.crisis,
                              matches=outcome.matches)

    def _is_root(self, ev: MessagePosted) -> bool:
        if ev.reply_to:
            return False
        return ev.thread_root is None or ev.thread_root == ev.message.message_id

    async def on_message(self, ev: MessagePosted, hidden: bool, crisis: bool,
                         matches: list[Match] | None = None) -> None:
        """Answer tracked posts this message replies to; track it if it is a support post."""
        ctx = self.ctx
        if not ctx.config.enabled or ev.author.is_bot:
            return
        if not hidden:
            await self._answer_from(ev)
        place = ctx.config.support_place(ev.channel)
        if place is None or hidden or not self._is_root(ev):
            return
        # Quote nothing of crisis posts, spoilered posts or content-warned posts, nor of
        # sensitive posts left in a CW-exempt support place (they carry no warning).
        quotable = not (crisis or ev.spoilered or self.labels.in_warning_channel(ev.channel)
                        or self.labels.has_warning(ev) or self._needs_warning(matches))
        excerpt = ev.text[: ctx.config.excerpt_chars] if quotable else None
        thread = ev.message.thread_id or (ev.thread_root if ev.thread_root else None)
        if crisis:  # tracked as a crisis post (no reminder): one statement, no transaction
            await ctx.repo.track_post(ev.community_id, ev.channel.id, ev.channel.name,
                                      ev.message.message_id, thread, ev.author.id, ev.at,
                                      ev.link, None, state="crisis")
            return
        # The post and its reminder are stored together: a crash between the two would
        # leave a tracked post that a repeated delivery skips (already tracked) and that
        # no timer ever reminds anyone of.
        async with ctx.transaction():
            post_id = await ctx.repo.track_post(
                ev.community_id, ev.channel.id, ev.channel.name, ev.message.message_id,
                thread, ev.author.id, ev.at, ev.link, excerpt)
            if post_id is None:
                return
            due = self.shift_out_of_quiet(ev.at + place.remind_after)
            await ctx.scheduler.schedule(ev.community_id, "post_remind", f"post:{post_id}:remind",
                                          due, {"post_id": post_id,
                                                "escalate_after": place.escalate_after,
                                                "author_roles": self._peer_roles_of(ev)})
        if ev.channel.kind == "forum" and ctx.config.waiting_tag:
            await ctx.messenger.tag_post(_post_ref(ev.community_id, ev.channel.id, ev.message.message_id),
                                          add=(ctx.config.waiting_tag,))

    @staticmethod
    def _needs_warning(matches: list[Match] | None) -> bool:
        """Whether a rule would have redirected this post to the CW channel (pure);
        a post whose matches are unknown is not quoted."""
        return matches is None or plan(matches).redirect_cw is not None

    async def _answer_from(self, ev: MessagePosted) -> None:
        ctx = self.ctx
        targets: list[TrackedPost] = []
        refs = {ev.reply_to, ev.thread_root, ev.message.thread_id} - {ev.message.message_id}
        for ref in {r for r in refs if r is not None}:
            post = await ctx.repo.find_tracked(ev.community_id, ref)
            if post is not None:
                targets.append(post)
        if ctx.config.count_next_message and not targets and self._is_root(ev):
            targets = await ctx.repo.open_posts_in_channel(ev.community_id, ev.channel.id, ev.at)
        for post in targets:
            if post.author_id == ev.author.id or post.state not in ("open", "crisis"):
                continue
            if await ctx.repo.answer_post(post.id, ev.author.id, ev.at):
                await ctx.scheduler.cancel("post_remind", f"post:{post.id}:")
                await ctx.scheduler.cancel("post_escalate", f"post:{post.id}:")
                if ev.channel.kind == "forum":
                    cfg = ctx.config
                    await ctx.messenger.tag_post(
                        _post_ref(ev.community_id, post.channel_id, post.message_id),
                        add=tuple(t for t in (cfg.answered_tag,) if t),
                        remove=tuple(t for t in (cfg.waiting_tag,) if t))
                log.info("support post %s answered after %s", post.message_id,
                         fmt_duration(ev.at - post.posted_at))

    async def on_delete(self, ev: MessageDeleted) -> None:
        """A deleted post stops being tracked."""
        post = await self.ctx.repo.find_tracked(ev.community_id, ev.message.message_id)
        if post is not None and post.message_id == ev.message.message_id and post.state == "open":
            await self._stop(post)

    async def on_hidden(self, ev: MessagePosted, crisis: bool = False) -> None:
        """An edited post was hidden (stop tracking it) or now raises a crisis alert
        (leave it to the alert, dropping its excerpt)."""
        post = await self.ctx.repo.find_tracked(ev.community_id, ev.message.message_id)
        if post is not None and post.message_id == ev.message.message_id and post.state == "open":
            await self._stop(post, "crisis" if crisis else "deleted")

    async def _stop(self, post: TrackedPost, state: PostState = "deleted") -> None:
        await self.ctx.repo.set_post_state(post.id, state)
        await self.ctx.scheduler.cancel("post_remind", f"post:{post.id}:")
        await self.ctx.scheduler.cancel("post_escalate", f"post:{post.id}:")

    def shift_out_of_quiet(self, due: float) -> float:
        """Move a nudge that falls in quiet hours to the end of the quiet period."""
        quiet = self.ctx.config.quiet_hours
        if quiet is None:
            return due
        when = datetime.fromtimestamp(due, UTC)
        minute = when.hour * 60 + when.minute
        if not in_clock_range(minute, quiet.start, quiet.end):
            return due
        end = when.replace(hour=quiet.end // 60, minute=quiet.end % 60, second=0, microsecond=0)
        if end <= when:
            end += timedelta(days=1)
        return end.timestamp()

    def _peer_roles_of(self, ev: MessagePosted) -> list[str]:
        """The peer-supporter roles the author holds (a nudge must not ping them through)."""
        return [r for r in self.ctx.core.roles.peer_supporters if r in ev.author.roles]

    async def _nudge_mentions(self, post: TrackedPost,
                              author_roles: list[str]) -> tuple[list[str], list[str]]:
        """(roles, users) to ping about ``post``: the peer supporters except its author.

        A peer supporter is never nudged about their own post. Groups that list people
        by id (Matrix) simply leave the author out; a role the author holds is replaced
        by its other members where the platform can list them (``role_member_ids``),
        else the role is pinged as it is so the others still hear.
        """
        ctx = self.ctx
        roles: list[str] = []
        users: list[str] = []
        lister = capability(ctx.platform, Capability.ROLE_MEMBERS, RoleMembers)
        for role in ctx.core.roles.peer_supporters:
            if role == post.author_id:
                continue
            ids = None
            if role in author_roles and lister is not None:
                try:
                    ids = await lister.role_member_ids(post.community_id, role)
                except Exception as exc:  # the role ping below still reaches the others
                    log.warning("could not list the members of role %s: %s", role, exc)
            if ids is None:
                roles.append(role)
            else:
                users.extend(i for i in ids if i != post.author_id and i not in users)
        return roles, users

    def _waiting(self, post: TrackedPost) -> str:
        return fmt_duration(self.ctx.clock.now() - post.posted_at)

    async def _remind_job(self, job: Job) -> None:
        ctx = self.ctx
        post = await ctx.repo.get_tracked(int(job.payload["post_id"]))
        if post is None or post.state != "open":
            return
        escalate_at = post.posted_at + float(job.payload.get(
            "escalate_after", ctx.config.escalate_after))
        # The escalation is stored first: if the nudge fails for good, moderators still hear.
        await ctx.scheduler.schedule(post.community_id, "post_escalate", f"post:{post.id}:escalate",
                                      max(escalate_at, ctx.clock.now()), {"post_id": post.id})
        now = ctx.clock.now()
        later = self.shift_out_of_quiet(now)
        if later > now and post.reminded_at is None and escalate_at > later:
            # due during quiet hours (after downtime or a retry): wait for them to end
            await ctx.scheduler.schedule(post.community_id, "post_remind",
                                          f"post:{post.id}:remind:after-quiet", later,
                                          dict(job.payload))
            return
        if post.reminded_at is None and escalate_at > ctx.clock.now():
            roles, users = await self._nudge_mentions(
                post, list(job.payload.get("author_roles") or ()))
            if ctx.core.roles.peer_supporters and not roles and not users:
                # The author is the only peer supporter: nobody else to nudge; the
                # moderators hear at escalate_after as usual.
                log.info("support post %s: no other peer supporter to nudge", post.message_id)
                return
            who = " ".join([*(ctx.platform.role_mention(post.community_id, r) for r in roles),
                            *(ctx.platform.user_mention(u) for u in users)])
            lines = [ctx.templates.render("unanswered_nudge", mentions=who,
                                          channel=post.channel_name,
                                          waited=self._waiting(post)).strip(), post.link]
            if post.excerpt:
                lines.append(quote(post.excerpt, ctx.config.excerpt_chars))
            channel = ctx.core.channels.nudges or ctx.core.channels.moderators
            # Raises on failure so the scheduler retries.
            await ctx.platform.send(post.community_id, channel,
                                     Outgoing("\n".join(x for x in lines if x),
                                              mention_roles=tuple(roles),
                                              mention_users=tuple(users)))
            await ctx.repo.mark_post_reminded(post.id, ctx.clock.now())

    async def _escalate_job(self, job: Job) -> None:
        ctx = self.ctx
        post = await ctx.repo.get_tracked(int(job.payload["post_id"]))
        if post is None or post.state != "open" or post.escalated_at is not None:
            return
        roles = ctx.core.roles.moderators
        who = " ".join(ctx.platform.role_mention(post.community_id, r) for r in roles)
        template = "unanswered_escalation_nudged" if post.reminded_at else "unanswered_escalation"
        lines = [ctx.templates.render(template, mentions=who, channel=post.channel_name,
                                      waited=self._waiting(post)), post.link]
        if post.excerpt:
            lines.append(quote(post.excerpt, ctx.config.excerpt_chars))
        await ctx.platform.send(post.community_id, ctx.core.channels.moderators,
                                 Outgoing("\n".join(x for x in lines if x),
                                          mention_roles=tuple(roles)))
        await ctx.repo.mark_post_escalated(post.id, ctx.clock.now())


def _post_ref(community_id: str, channel_id: str, message_id: str) -> MessageRef:
    """A forum post: its thread is the channel it lives in."""
    return MessageRef(community_id, channel_id, message_id, thread_id=channel_id)

"""Members: who posted when, and who is new here.

Every post (not an edit) is counted; the first one of a member is marked on the
shared outcome so the welcome can greet it. :meth:`Members.is_newcomer` is what
other features ask (:class:`bot.core.contracts.MemberDirectory`).
"""

from __future__ import annotations

from bot.core.events import MessagePosted
from bot.core.feature import Feature, FeatureContext, MessageOutcome, Stage
from bot.storage.repositories.members import MembersRepository

MembersContext = FeatureContext[None, MembersRepository]


class Members(Feature):
    """Counts posts and knows who is new."""

    def __init__(self, ctx: MembersContext) -> None:
        self.ctx = ctx

    def stages(self) -> list[Stage]:
        """Count the post; mark the author's first."""
        return [Stage("members.record", 30, "follow_up", self._record_stage,
                      skip=frozenset({"edited"}))]

    async def _record_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        outcome.first_post = await self.ctx.repo.record_post(
            ev.community_id, ev.author.id, ev.author.name, ev.at,
            is_reply_to_other=bool(ev.reply_to or (ev.thread_root and
                                                   ev.thread_root != ev.message.message_id)))

    async def is_newcomer(self, ev: MessagePosted) -> bool:
        """Whether the author is new: welcomed by Haven, or joined within ``newcomer_days``."""
        if self.ctx.perms.is_moderator(ev.author):
            return False
        joined = ev.author.joined_at
        if joined is not None:
            return ev.at - joined < self.ctx.core.community.newcomer_days * 86400
        row = await self.ctx.repo.get_member(ev.community_id, ev.author.id)
        return row is None or row.welcomed_at is not None or row.first_post_at == ev.at

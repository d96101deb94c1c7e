"""MembersRepository: members Haven has seen: first sight, welcome, first post, counts."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from bot.storage.database import Database
from bot.storage.repositories.base import Repository, as_dicts
from bot.storage.rows import MemberRow, from_row

POSTED_CACHE = 100_000
"""How many members known to have posted :class:`MembersRepository` remembers."""

_COUNT_POST = (
    "INSERT INTO members (community_id, user_id, name, first_seen, first_post_at, posts, "
    "replies) VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT(community_id, user_id) DO UPDATE "
    "SET name = excluded.name, posts = members.posts + 1, "
    "replies = members.replies + excluded.replies, "
    "first_post_at = COALESCE(members.first_post_at, excluded.first_post_at)")


class MembersRepository(Repository):
    """Members Haven has seen: first sight, welcome, first post, counts.

    Where the engine defers writes (SQLite, one process), it remembers which members have
    posted (their count only grows until :meth:`forget`), so their next post is counted
    with a deferred write that nobody waits for.
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._posted: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def get_member(self, community_id: str, user_id: str) -> MemberRow | None:
        """The member row, if Haven has seen this member."""
        row = await self.db.one("SELECT * FROM members WHERE community_id = ? AND user_id = ?",
                                (community_id, user_id))
        return from_row(MemberRow, row)

    async def touch_member(self, community_id: str, user_id: str, name: str, at: float) -> None:
        """Record that a member exists (first sight)."""
        await self.db.write(
            "INSERT INTO members (community_id, user_id, name, first_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(community_id, user_id) DO UPDATE SET name = excluded.name",
            (community_id, user_id, name, at))

    async def mark_welcomed(self, community_id: str, user_id: str, name: str, at: float) -> bool:
        """Mark a member welcomed; ``False`` if they already were (welcome once).
        One transaction."""
        async with self.db.transaction():
            await self.touch_member(community_id, user_id, name, at)
            changed = await self.db.write(
                "UPDATE members SET welcomed_at = ? WHERE community_id = ? AND user_id = ? "
                "AND welcomed_at IS NULL", (at, community_id, user_id))
            return changed > 0

    async def record_post(self, community_id: str, user_id: str, name: str, at: float,
                          is_reply_to_other: bool) -> bool:
        """Count a post; returns ``True`` when it is the member's first post. One statement:
        it records the member, counts the post and notes the first post's time (the count
        and that time are only ever set together, so a count of one is the first post)."""
        args = (community_id, user_id, name, at, at, 1 if is_reply_to_other else 0)
        key = (community_id, user_id)
        if key in self._posted:
            self._posted.move_to_end(key)
            await self.db.defer(_COUNT_POST, args)
            return False
        row = await self.db.one(_COUNT_POST + " RETURNING posts", args)
        if self.db.defers and row is not None:
            self._posted[key] = None
            if len(self._posted) > POSTED_CACHE:
                self._posted.popitem(last=False)
        return row is not None and int(row["posts"]) == 1

    async def mark_greeted(self, community_id: str, user_id: str, at: float) -> bool:
        """Mark a member's first post greeted; ``False`` if already greeted."""
        changed = await self.db.write(
            "UPDATE members SET greeted_at = ? WHERE community_id = ? AND user_id = ? "
            "AND greeted_at IS NULL", (at, community_id, user_id))
        return changed > 0

    async def member_activity(self, community_id: str) -> list[MemberRow]:
        """Every member row of a community (for stats)."""
        rows = await self.db.all("SELECT * FROM members WHERE community_id = ?", (community_id,))
        return [from_row(MemberRow, r) for r in rows]

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``member``: the member row."""
        return {"member": as_dicts(await self.db.all(
            "SELECT * FROM members WHERE community_id = ? AND user_id = ?",
            (community_id, user_id)))}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete the member row."""
        self._posted.pop((community_id, user_id), None)
        return {"member": await self.db.write(
            "DELETE FROM members WHERE community_id = ? AND user_id = ?", (community_id, user_id))}

"""TrackedPostsRepository: support posts watched for a reply (the unanswered feature)."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.storage.database import Migration
from bot.storage.repositories.base import Repository, as_dicts
from bot.storage.rows import PostState, TrackedPost, from_row


class TrackedPostsRepository(Repository):
    """Support posts watched for a reply (the unanswered feature)."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = (
        # every reply looks its parent up by message or thread id: without this index
        # that read scanned all of a community's tracked posts
        Migration("tracked_posts", 1, "CREATE INDEX IF NOT EXISTS tracked_thread "
                                      "ON tracked_posts (community_id, thread_id);"),
    )

    async def track_post(self, community_id: str, channel_id: str, channel_name: str,
                         message_id: str, thread_id: str | None, author_id: str,
                         posted_at: float, link: str, excerpt: str | None,
                         state: PostState = "open") -> int | None:
        """Start tracking a support post (in ``state``: a crisis post is tracked as
        ``crisis`` at once, without its excerpt); ``None`` if it was already tracked."""
        if state in ("deleted", "crisis"):
            excerpt = None
        written = await self.db.execute(
            "INSERT OR IGNORE INTO tracked_posts (community_id, channel_id, channel_name, "
            "message_id, thread_id, author_id, posted_at, link, excerpt, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, channel_id, channel_name, message_id, thread_id, author_id, posted_at,
             link, excerpt, state))
        return written.rowid if written.rowcount else None

    async def get_tracked(self, post_id: int) -> TrackedPost | None:
        """A tracked post by its row id."""
        return from_row(TrackedPost, await self.db.one("SELECT * FROM tracked_posts WHERE id = ?",
                                                       (post_id,)))

    async def find_tracked(self, community_id: str, message_id: str) -> TrackedPost | None:
        """A tracked post by its message id (or thread id)."""
        row = await self.db.one(
            "SELECT * FROM tracked_posts WHERE (community_id = ? AND message_id = ?) "
            "OR (community_id = ? AND thread_id = ?) ORDER BY id LIMIT 1",
            (community_id, message_id, community_id, message_id))
        return from_row(TrackedPost, row)

    async def open_posts_in_channel(self, community_id: str, channel_id: str,
                                    before: float) -> list[TrackedPost]:
        """Open tracked posts in a channel posted before ``before``."""
        rows = await self.db.all(
            "SELECT * FROM tracked_posts WHERE community_id = ? AND channel_id = ? "
            "AND state = 'open' AND posted_at <= ? ORDER BY posted_at", (community_id, channel_id,
                                                                           before))
        return [from_row(TrackedPost, r) for r in rows]

    async def answer_post(self, post_id: int, by: str, at: float) -> bool:
        """Mark a post answered (dropping its excerpt); ``False`` if it was not open."""
        changed = await self.db.write(
            "UPDATE tracked_posts SET state = 'answered', answered_at = ?, answered_by = ?, "
            "excerpt = NULL WHERE id = ? AND state IN ('open', 'crisis')", (at, by, post_id))
        return changed > 0

    async def set_post_state(self, post_id: int, state: PostState) -> None:
        """Set a post's state (``deleted``, ``crisis``); deleted posts lose their excerpt."""
        drop = ", excerpt = NULL" if state in ("deleted", "crisis") else ""
        await self.db.write(f"UPDATE tracked_posts SET state = ?{drop} WHERE id = ?", (state, post_id))

    async def mark_post_reminded(self, post_id: int, at: float) -> None:
        """Record the nudge to peer supporters."""
        await self.db.write("UPDATE tracked_posts SET reminded_at = ? WHERE id = ?", (at, post_id))

    async def mark_post_escalated(self, post_id: int, at: float) -> None:
        """Record the escalation to moderators."""
        await self.db.write("UPDATE tracked_posts SET escalated_at = ? WHERE id = ?", (at, post_id))

    async def open_posts(self, community_id: str) -> list[TrackedPost]:
        """Posts still waiting for a reply, longest waiting first."""
        rows = await self.db.all("SELECT * FROM tracked_posts WHERE community_id = ? AND state = 'open' "
                                 "ORDER BY posted_at", (community_id,))
        return [from_row(TrackedPost, r) for r in rows]

    async def posts_since(self, community_id: str, since: float) -> list[TrackedPost]:
        """Tracked posts posted since ``since`` (for stats)."""
        rows = await self.db.all("SELECT * FROM tracked_posts WHERE community_id = ? AND posted_at >= ? "
                                 "ORDER BY posted_at", (community_id, since))
        return [from_row(TrackedPost, r) for r in rows]

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``support_posts``: the member's tracked posts."""
        return {"support_posts": as_dicts(await self.db.all(
            "SELECT channel_name, posted_at, state, answered_at, excerpt FROM tracked_posts "
            "WHERE community_id = ? AND author_id = ?", (community_id, user_id)))}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete the member's posts; their answers to others' posts name ``alias``."""
        counts = {"support_posts": await self.db.write(
            "DELETE FROM tracked_posts WHERE community_id = ? AND author_id = ?",
            (community_id, user_id))}
        await self.db.write("UPDATE tracked_posts SET answered_by = ? WHERE community_id = ? "
                            "AND answered_by = ?", (alias, community_id, user_id))
        return counts

    async def purge_text(self, cutoff: float) -> int:
        """Drop post excerpts older than ``cutoff``."""
        return await self.db.write("UPDATE tracked_posts SET excerpt = NULL WHERE excerpt IS NOT "
                                   "NULL AND posted_at < ?", (cutoff,))

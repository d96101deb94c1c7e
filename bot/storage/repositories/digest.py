"""DigestRepository: what the review digest collects and the digests sent (never text).

An item is one thing moderators should look at once: a flag another feature published
(``Flagged``), a newcomer's first post still waiting, or a post a member reported. Items
carry a summary and a link, never the post's text. ``key`` is unique per community, so
an item flagged twice is stored once. A digest is stored with its items in one
transaction before it is sent; reviewed items never come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bot.storage.database import Migration
from bot.storage.repositories.base import Repository, as_dicts
from bot.storage.repositories.counters import next_number

MIGRATIONS: tuple[Migration, ...] = (
    Migration("digest", 1, """
    CREATE TABLE digest_items (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, member_id TEXT NOT NULL DEFAULT '',
        member_name TEXT NOT NULL DEFAULT '', channel_name TEXT NOT NULL DEFAULT '',
        link TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL DEFAULT '',
        flagged_at REAL NOT NULL, digest_id INTEGER, reviewed_by TEXT, reviewed_at REAL,
        UNIQUE (community_id, key));
    CREATE INDEX digest_items_open ON digest_items (community_id, reviewed_at, digest_id);
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        number INTEGER NOT NULL, due_at REAL NOT NULL, sent_at REAL,
        messages TEXT NOT NULL DEFAULT '[]', UNIQUE (community_id, number));
    """),
    # 2: digest numbers come from the per-community counters (base migration 6), so
    # processes sharing the database never give one number twice; they continue after
    # the digests already sent.
    Migration("digest", 2, """
    INSERT INTO counters (community_id, kind, value)
        SELECT community_id, 'digest', MAX(number) FROM digests GROUP BY community_id;
    """),
)
"""The digest's own tables (owner ``digest``)."""


@dataclass(frozen=True)
class DigestItem:
    """One thing to review: a summary and a link, never the post's text."""

    id: int
    community_id: str
    kind: str
    key: str
    member_id: str
    member_name: str
    channel_name: str
    link: str
    summary: str
    flagged_at: float
    digest_id: int | None
    reviewed_by: str | None
    reviewed_at: float | None


@dataclass(frozen=True)
class Digest:
    """One digest: a number readable per community, when it was due and sent."""

    id: int
    community_id: str
    number: int
    due_at: float
    sent_at: float | None
    messages: str


class DigestRepository(Repository):
    """Digest items and digests (the digest feature)."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS

    async def add_item(self, community_id: str, kind: str, key: str, member_id: str,
                       member_name: str, channel_name: str, link: str, summary: str,
                       at: float) -> int | None:
        """Store an item; ``None`` if one with this key is already stored."""
        written = await self.db.execute(
            "INSERT OR IGNORE INTO digest_items (community_id, kind, key, member_id, "
            "member_name, channel_name, link, summary, flagged_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, kind, key, member_id, member_name, channel_name, link, summary, at))
        return written.rowid if written.rowcount else None

    async def has_key(self, community_id: str, key: str) -> bool:
        """Whether an item with ``key`` was ever stored (reviewed or not)."""
        return await self.db.one("SELECT 1 FROM digest_items WHERE community_id = ? AND key = ?",
                                 (community_id, key)) is not None

    async def unreviewed(self, community_id: str) -> list[DigestItem]:
        """Items not yet reviewed, oldest first (their number is their position)."""
        rows = await self.db.all(
            "SELECT * FROM digest_items WHERE community_id = ? AND reviewed_at IS NULL "
            "ORDER BY id", (community_id,))
        return [DigestItem(**dict(r)) for r in rows]

    async def undigested(self, community_id: str) -> list[DigestItem]:
        """Unreviewed items not yet in any digest, oldest first."""
        rows = await self.db.all(
            "SELECT * FROM digest_items WHERE community_id = ? AND reviewed_at IS NULL "
            "AND digest_id IS NULL ORDER BY id", (community_id,))
        return [DigestItem(**dict(r)) for r in rows]

    async def items_of(self, digest_id: int) -> list[DigestItem]:
        """The items of one digest, in their order."""
        rows = await self.db.all("SELECT * FROM digest_items WHERE digest_id = ? "
                                 "ORDER BY id", (digest_id,))
        return [DigestItem(**dict(r)) for r in rows]

    async def create_digest(self, community_id: str, due_at: float,
                            item_ids: list[int]) -> Digest:
        """Store a digest with the community's next digest number and assign ``item_ids``
        to it, in one transaction (or the caller's)."""
        async with self.db.transaction():
            number = await next_number(self.db, community_id, "digest")
            digest_id = await self.db.write(
                "INSERT INTO digests (community_id, number, due_at) VALUES (?, ?, ?)",
                (community_id, number, due_at))
            for item_id in item_ids:
                await self.db.write("UPDATE digest_items SET digest_id = ? WHERE id = ? "
                                    "AND digest_id IS NULL", (digest_id, item_id))
        return Digest(digest_id, community_id, number, due_at, None, "[]")

    async def unsent(self, community_id: str | None = None) -> list[Digest]:
        """Digests stored but not marked sent (a crash came between), oldest first."""
        sql = "SELECT * FROM digests WHERE sent_at IS NULL"
        args: tuple[Any, ...] = ()
        if community_id is not None:
            sql += " AND community_id = ?"
            args = (community_id,)
        return [Digest(**dict(r)) for r in await self.db.all(sql + " ORDER BY id", args)]

    async def mark_sent(self, digest_id: int, at: float, messages: str) -> None:
        """Record that a digest was sent (and the message refs, as JSON)."""
        await self.db.write("UPDATE digests SET sent_at = ?, messages = ? WHERE id = ?",
                            (at, messages, digest_id))

    async def digests(self, community_id: str) -> list[Digest]:
        """Every digest of a community, oldest first."""
        rows = await self.db.all("SELECT * FROM digests WHERE community_id = ? ORDER BY id",
                                 (community_id,))
        return [Digest(**dict(r)) for r in rows]

    async def communities(self) -> list[str]:
        """Communities with any digest item (their digest job is kept scheduled)."""
        rows = await self.db.all("SELECT DISTINCT community_id FROM digest_items")
        return [r["community_id"] for r in rows]

    async def mark_reviewed(self, item_ids: list[int], by: str, at: float) -> int:
        """Mark items reviewed (those not reviewed yet); returns how many changed."""
        changed = 0
        for item_id in item_ids:
            changed += await self.db.write(
                "UPDATE digest_items SET reviewed_by = ?, reviewed_at = ? WHERE id = ? "
                "AND reviewed_at IS NULL", (by, at, item_id))
        return changed

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``review_items_about_you``: what moderators were asked to look at, and when
        (the key only when there is any, so other members' exports stay as they were)."""
        rows = as_dicts(await self.db.all(
            "SELECT kind, channel_name, link, summary, flagged_at, reviewed_at "
            "FROM digest_items WHERE community_id = ? AND member_id = ?",
            (community_id, user_id)))
        return {"review_items_about_you": rows} if rows else {}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Anonymise the member's items (id and name become ``alias``); a moderator who
        reviewed items is named ``alias`` there."""
        changed = await self.db.write(
            "UPDATE digest_items SET member_id = ?, member_name = ? WHERE community_id = ? "
            "AND member_id = ?", (alias, alias, community_id, user_id))
        await self.db.write("UPDATE digest_items SET reviewed_by = ? WHERE community_id = ? "
                            "AND reviewed_by = ?", (alias, community_id, user_id))
        return {"review_items_about_you": changed} if changed else {}

    async def purge_text(self, cutoff: float) -> int:
        """Delete reviewed items reviewed before ``cutoff``."""
        return await self.db.write("DELETE FROM digest_items WHERE reviewed_at IS NOT NULL "
                                   "AND reviewed_at < ?", (cutoff,))

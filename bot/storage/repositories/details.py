"""DetailsRepository: which kinds of identifying detail a member's posts revealed, and when.

Never the text and never the detail itself: one row per (post, kind) with the time
and the post's link, so an edited post replaces its own rows instead of counting
twice. A second table remembers when a member was last sent the note, so it goes
out once per window. Both are the member's data: ``mydata`` shows them, ``forgetme``
deletes them, the retention purge drops rows older than its cutoff.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from bot.storage.database import Migration
from bot.storage.repositories.base import Repository, as_dicts

DETAILS_MIGRATIONS: tuple[Migration, ...] = (
    Migration("details", 1, """
    CREATE TABLE identifying_details (
        community_id TEXT NOT NULL, member_id TEXT NOT NULL, message_id TEXT NOT NULL,
        kind TEXT NOT NULL, at REAL NOT NULL, link TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (community_id, message_id, kind));
    CREATE INDEX identifying_details_member ON identifying_details (community_id, member_id, at);
    CREATE TABLE identifying_notes (
        community_id TEXT NOT NULL, member_id TEXT NOT NULL, at REAL NOT NULL,
        kinds TEXT NOT NULL DEFAULT '', PRIMARY KEY (community_id, member_id));
    """),
)
"""The tables of identifying details (owner ``details``)."""


class DetailsRepository(Repository):
    """Kinds of identifying detail per member and post; when the note was last sent."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = DETAILS_MIGRATIONS

    async def record(self, community_id: str, member_id: str, message_id: str,
                     kinds: Iterable[str], at: float, link: str) -> None:
        """Set the kinds post ``message_id`` reveals (an edit replaces the post's rows;
        a kind it still reveals keeps its first time). One transaction."""
        wanted = sorted(set(kinds))
        async with self.db.transaction():
            marks = ", ".join("?" for _ in wanted)
            await self.db.write(
                "DELETE FROM identifying_details WHERE community_id = ? AND message_id = ?"
                + (f" AND kind NOT IN ({marks})" if wanted else ""),
                (community_id, message_id, *wanted))
            for kind in wanted:
                await self.db.write(
                    "INSERT INTO identifying_details (community_id, member_id, message_id, "
                    "kind, at, link) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(community_id, message_id, kind) DO NOTHING",
                    (community_id, member_id, message_id, kind, at, link))

    async def kinds_since(self, community_id: str, member_id: str, since: float) -> set[str]:
        """The different kinds the member's posts revealed at or after ``since``."""
        rows = await self.db.all(
            "SELECT DISTINCT kind FROM identifying_details WHERE community_id = ? "
            "AND member_id = ? AND at >= ?", (community_id, member_id, since))
        return {r["kind"] for r in rows}

    async def last_note(self, community_id: str, member_id: str) -> float | None:
        """When the member was last sent the note, if ever (and not forgotten)."""
        row = await self.db.one(
            "SELECT at FROM identifying_notes WHERE community_id = ? AND member_id = ?",
            (community_id, member_id))
        return float(row["at"]) if row else None

    async def noted(self, community_id: str, member_id: str, at: float,
                    kinds: Iterable[str]) -> None:
        """Remember that the member was sent the note at ``at`` naming ``kinds``."""
        await self.db.write(
            "INSERT INTO identifying_notes (community_id, member_id, at, kinds) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(community_id, member_id) DO UPDATE SET "
            "at = excluded.at, kinds = excluded.kinds",
            (community_id, member_id, at, ",".join(sorted(set(kinds)))))

    async def prune(self, before: float, community_id: str | None = None) -> int:
        """Delete rows older than ``before`` (in one community, or all); rows deleted."""
        where = "at < ?" if community_id is None else "at < ? AND community_id = ?"
        args: tuple[object, ...] = (before,) if community_id is None else (before, community_id)
        async with self.db.transaction():
            n = await self.db.write(f"DELETE FROM identifying_details WHERE {where}", args)
            n += await self.db.write(f"DELETE FROM identifying_notes WHERE {where}", args)
        return n

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``identifying_details``: kind, time and link of each (never the text); the key
        only when there is any, so other members' exports stay as they were."""
        rows = as_dicts(await self.db.all(
            "SELECT kind, at, link FROM identifying_details WHERE community_id = ? "
            "AND member_id = ? ORDER BY at, kind", (community_id, user_id)))
        return {"identifying_details": rows} if rows else {}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete the member's rows and the time of their note."""
        n = await self.db.write(
            "DELETE FROM identifying_details WHERE community_id = ? AND member_id = ?",
            (community_id, user_id))
        await self.db.write(
            "DELETE FROM identifying_notes WHERE community_id = ? AND member_id = ?",
            (community_id, user_id))
        return {"identifying_details": n} if n else {}

    async def purge_text(self, cutoff: float) -> int:
        """Retention: drop rows older than ``cutoff`` (they hold no text, but say when
        a member revealed what kind of detail)."""
        return await self.prune(cutoff)

"""DutyRepository: the duty roster, quiet hours and the shift logbook (handover)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.storage.repositories.base import Repository, as_dicts
from bot.storage.rows import DutyRow, HandoverEntry, from_row


class DutyRepository(Repository):
    """The duty roster, quiet hours and the shift logbook (handover)."""

    async def set_duty(self, community_id: str, user_id: str, name: str, on: bool,
                       at: float) -> None:
        """Put a moderator on or off duty."""
        await self.db.write(
            "INSERT INTO duty (community_id, user_id, name, on_duty, since) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(community_id, user_id) DO UPDATE SET name = excluded.name, "
            "on_duty = excluded.on_duty, since = excluded.since",
            (community_id, user_id, name, int(on), at if on else None))

    async def set_quiet_hours(self, community_id: str, user_id: str, name: str,
                              start: int | None, end: int | None) -> None:
        """Set (or clear, with ``None``) a moderator's quiet hours."""
        await self.db.write(
            "INSERT INTO duty (community_id, user_id, name, quiet_start, quiet_end) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(community_id, user_id) DO UPDATE SET "
            "name = excluded.name, quiet_start = excluded.quiet_start, "
            "quiet_end = excluded.quiet_end", (community_id, user_id, name, start, end))

    async def set_excerpts(self, community_id: str, user_id: str, name: str,
                           mode: str | None) -> None:
        """Set (or clear, with ``None``) how much alert text a moderator sees."""
        await self.db.write(
            "INSERT INTO duty (community_id, user_id, name, excerpts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(community_id, user_id) DO UPDATE SET name = excluded.name, "
            "excerpts = excluded.excerpts", (community_id, user_id, name, mode))

    async def duty_roster(self, community_id: str) -> list[DutyRow]:
        """Every moderator with a duty row, least recently alerted first."""
        rows = await self.db.all("SELECT * FROM duty WHERE community_id = ? "
                                 "ORDER BY last_alerted_at, user_id", (community_id,))
        return [from_row(DutyRow, r) for r in rows]

    async def mark_alerted(self, community_id: str, user_ids: Iterable[str], at: float) -> None:
        """Record that these moderators were just mentioned on an alert (one transaction)."""
        async with self.db.transaction():
            for uid in user_ids:
                await self.db.write("UPDATE duty SET last_alerted_at = ? WHERE community_id = ? "
                                    "AND user_id = ?", (at, community_id, uid))

    async def add_handover(self, community_id: str, author_id: str, author_name: str, text: str,
                           at: float) -> int:
        """Add a logbook entry."""
        return await self.db.write("INSERT INTO handover (community_id, author_id, author_name, text, "
                                   "created_at) VALUES (?, ?, ?, ?, ?)",
                                   (community_id, author_id, author_name, text, at))

    async def latest_handover(self, community_id: str, limit: int = 5) -> list[HandoverEntry]:
        """The newest logbook entries, newest first."""
        rows = await self.db.all("SELECT * FROM handover WHERE community_id = ? "
                                 "ORDER BY created_at DESC, id DESC LIMIT ?", (community_id, limit))
        return [from_row(HandoverEntry, r) for r in rows]

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``duty``: the member's duty status and quiet hours."""
        return {"duty": as_dicts(await self.db.all(
            "SELECT on_duty, quiet_start, quiet_end, excerpts FROM duty WHERE community_id = ? "
            "AND user_id = ?", (community_id, user_id)))}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete the duty row; the member's logbook entries stay, as ``alias``."""
        counts = {"duty": await self.db.write(
            "DELETE FROM duty WHERE community_id = ? AND user_id = ?", (community_id, user_id))}
        await self.db.write("UPDATE handover SET author_id = ?, author_name = ? "
                            "WHERE community_id = ? AND author_id = ?",
                            (alias, alias, community_id, user_id))
        return counts

    async def purge_text(self, cutoff: float) -> int:
        """Delete logbook entries older than ``cutoff`` (they exist only as text)."""
        return await self.db.write("DELETE FROM handover WHERE created_at < ?", (cutoff,))

"""LedgerRepository: what was handled or delivered once (seen messages, outbox, deliveries)."""

from __future__ import annotations

from bot.storage.repositories.base import Repository


class LedgerRepository(Repository):
    """What was handled or delivered once: seen messages, the outbox, command and button deliveries."""

    async def mark_message_seen(self, community_id: str, message_id: str, digest: str,
                                at: float) -> bool:
        """Remember a message version; ``False`` if it was handled before."""
        written = await self.db.execute(
            "INSERT OR IGNORE INTO seen_messages VALUES (?, ?, ?, ?)",
            (community_id, message_id, digest, at))
        return written.rowcount > 0

    async def note_message_seen(self, community_id: str, message_id: str, digest: str,
                                at: float) -> None:
        """Remember a message version handled, as a deferred write (:meth:`Database.defer`):
        it commits with the next statements, before any later read of it."""
        await self.db.defer("INSERT OR IGNORE INTO seen_messages VALUES (?, ?, ?, ?)",
                            (community_id, message_id, digest, at))

    async def message_seen(self, community_id: str, message_id: str, digest: str) -> bool:
        """Whether this version of a message was handled already."""
        row = await self.db.one("SELECT 1 FROM seen_messages WHERE community_id = ? AND "
                                "message_id = ? AND digest = ?", (community_id, message_id, digest))
        return row is not None

    async def prune_seen_before(self, cutoff: float) -> int:
        """Forget handled-message markers older than ``cutoff``."""
        return await self.db.write("DELETE FROM seen_messages WHERE at < ?", (cutoff,))

    async def outbox_begin(self, community_id: str, key: str, at: float) -> str | None:
        """Record that a delivery is about to be made; returns the stored result if it was
        made before (then it must not be made again), else ``None`` (go ahead).
        One statement (atomic on its own): the insert, or for a key already there a
        write that changes nothing, returns the row as it stands."""
        row = await self.db.one(
            "INSERT INTO outbox (community_id, key, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (community_id, key) DO UPDATE SET state = outbox.state "
            "RETURNING state, result", (community_id, key, at))
        if row is not None and row["state"] == "sent":
            return str(row["result"] or "")
        return None

    async def outbox_done(self, community_id: str, key: str, result: str, at: float) -> None:
        """Mark a delivery made, with its result (``private``, ``fallback``, ...)."""
        await self.db.write("UPDATE outbox SET state = 'sent', result = ?, done_at = ? "
                            "WHERE community_id = ? AND key = ?", (result, at, community_id, key))

    async def outbox_forget(self, community_id: str, key: str) -> None:
        """A delivery failed: forget it, so a later attempt is made."""
        await self.db.write("DELETE FROM outbox WHERE community_id = ? AND key = ? "
                            "AND state = 'pending'", (community_id, key))

    async def outbox_state(self, community_id: str, key: str) -> str | None:
        """``pending``, ``sent`` or ``None`` (tests and diagnostics)."""
        row = await self.db.one("SELECT state FROM outbox WHERE community_id = ? AND key = ?",
                                (community_id, key))
        return str(row["state"]) if row else None

    async def prune_outbox_before(self, cutoff: float) -> int:
        """Forget outbox rows older than ``cutoff``."""
        return await self.db.write("DELETE FROM outbox WHERE created_at < ?", (cutoff,))

    async def begin_delivery(self, community_id: str, delivery_id: str, at: float) -> str | None:
        """Claim a command/button delivery id; ``None`` when it is new (act on it), else the
        state of the earlier delivery (``running`` or ``done``): do nothing again.
        One transaction: the claim and the read see the same row."""
        async with self.db.transaction():
            written = await self.db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, 'running', ?)",
                (community_id, delivery_id, at))
            if written.rowcount > 0:
                return None
            row = await self.db.one("SELECT state FROM deliveries WHERE community_id = ? AND "
                                    "delivery_id = ?", (community_id, delivery_id))
        return str(row["state"]) if row else "done"

    async def finish_delivery(self, community_id: str, delivery_id: str) -> None:
        """Mark a command/button delivery handled."""
        await self.db.write("UPDATE deliveries SET state = 'done' WHERE community_id = ? AND "
                            "delivery_id = ?", (community_id, delivery_id))

    async def prune_deliveries_before(self, cutoff: float) -> int:
        """Forget delivery ids older than ``cutoff``."""
        return await self.db.write("DELETE FROM deliveries WHERE at < ?", (cutoff,))

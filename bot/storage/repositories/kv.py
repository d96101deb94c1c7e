"""KeyValueRepository: small values kept across restarts (sync tokens, last-seen ids, flags)."""

from __future__ import annotations

from bot.storage.repositories.base import Repository


class KeyValueRepository(Repository):
    """Small values kept across restarts (sync tokens, last-seen ids, flags)."""

    async def get(self, key: str) -> str | None:
        """A stored value (sync tokens, last-seen ids, flags)."""
        row = await self.db.one("SELECT value FROM kv WHERE key = ?", (key,))
        return row["value"] if row else None

    async def set(self, key: str, value: str) -> None:
        """Store a value under ``key``."""
        await self.db.write("INSERT INTO kv (key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        await self.db.write("DELETE FROM kv WHERE key = ?", (key,))

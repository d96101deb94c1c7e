"""DashboardRepository: the dashboard's one-time sign-in links and sessions, stored hashed.

A token is handed out once (in a private message, or as a cookie) and never stored:
the tables keep its SHA-256 hash, so a copy of the database opens no session. A link
is valid for a few minutes and only once (:meth:`use_link` marks it used in the same
statement that finds it). A session is scoped to one community and one moderator;
``logout-all`` revokes a community's sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from bot.storage.database import Migration
from bot.storage.repositories.base import Repository

MIGRATIONS: tuple[Migration, ...] = (
    Migration("dashboard", 1, """
    CREATE TABLE dashboard_links (
        token_hash TEXT PRIMARY KEY, community_id TEXT NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
        expires_at REAL NOT NULL, used_at REAL);
    CREATE TABLE dashboard_sessions (
        token_hash TEXT PRIMARY KEY, community_id TEXT NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
        expires_at REAL NOT NULL, ended_at REAL);
    CREATE INDEX dashboard_sessions_by_community ON dashboard_sessions (community_id);
    """),
)
"""The dashboard's own tables (owner ``dashboard``)."""

TOKEN_BYTES = 32
"""Random bytes in a link or session token (256 bits)."""


def new_token() -> str:
    """A fresh random token (URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored for ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class DashboardSession:
    """A signed-in moderator of one community (the token itself is not kept)."""

    community_id: str
    user_id: str
    user_name: str
    created_at: float
    expires_at: float


class DashboardRepository(Repository):
    """Sign-in links and sessions (the dashboard feature and the web server)."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS

    async def create_link(self, community_id: str, user_id: str, user_name: str, at: float,
                          valid_for: float) -> str:
        """A new one-time link token for a moderator, valid ``valid_for`` seconds from ``at``;
        returns the token (only its hash is stored)."""
        token = new_token()
        await self.db.execute(
            "INSERT INTO dashboard_links (token_hash, community_id, user_id, user_name, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash(token), community_id, user_id, user_name, at, at + valid_for))
        return token

    async def link_is_valid(self, token: str, at: float) -> bool:
        """Whether ``token`` is an unused link that has not expired (nothing changes)."""
        row = await self.db.one(
            "SELECT 1 FROM dashboard_links WHERE token_hash = ? AND used_at IS NULL "
            "AND expires_at > ?", (token_hash(token), at))
        return row is not None

    async def use_link(self, token: str, at: float) -> DashboardSession | None:
        """Spend a link: who it was for (as a session to open), or ``None`` when it is
        unknown, expired or already used. Two concurrent uses: only one succeeds."""
        digest = token_hash(token)
        async with self.db.transaction():
            written = await self.db.execute(
                "UPDATE dashboard_links SET used_at = ? WHERE token_hash = ? "
                "AND used_at IS NULL AND expires_at > ?", (at, digest, at))
            if written.rowcount != 1:
                return None
            row = await self.db.one(
                "SELECT community_id, user_id, user_name FROM dashboard_links "
                "WHERE token_hash = ?", (digest,))
        if row is None:
            return None
        return DashboardSession(row["community_id"], row["user_id"], row["user_name"], at, at)

    async def cancel_link(self, token: str, at: float) -> None:
        """Spend a link without signing in (it could not be delivered)."""
        await self.db.execute(
            "UPDATE dashboard_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
            (at, token_hash(token)))

    async def create_session(self, community_id: str, user_id: str, user_name: str, at: float,
                             lasts: float) -> str:
        """A new session token lasting ``lasts`` seconds (only its hash is stored)."""
        token = new_token()
        await self.db.execute(
            "INSERT INTO dashboard_sessions (token_hash, community_id, user_id, user_name, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash(token), community_id, user_id, user_name, at, at + lasts))
        return token

    async def session(self, token: str, at: float) -> DashboardSession | None:
        """The live session of ``token`` (not ended, not expired), if any."""
        row = await self.db.one(
            "SELECT community_id, user_id, user_name, created_at, expires_at "
            "FROM dashboard_sessions WHERE token_hash = ? AND ended_at IS NULL "
            "AND expires_at > ?", (token_hash(token), at))
        if row is None:
            return None
        return DashboardSession(row["community_id"], row["user_id"], row["user_name"],
                                row["created_at"], row["expires_at"])

    async def end_session(self, token: str, at: float) -> bool:
        """Sign one session out; whether it was live."""
        written = await self.db.execute(
            "UPDATE dashboard_sessions SET ended_at = ? WHERE token_hash = ? "
            "AND ended_at IS NULL", (at, token_hash(token)))
        return written.rowcount == 1

    async def end_user_sessions(self, community_id: str, user_id: str, at: float) -> int:
        """Sign out every session of one person in a community (no longer a moderator)."""
        written = await self.db.execute(
            "UPDATE dashboard_sessions SET ended_at = ? WHERE community_id = ? "
            "AND user_id = ? AND ended_at IS NULL", (at, community_id, user_id))
        return written.rowcount

    async def end_all_sessions(self, community_id: str, at: float) -> int:
        """``dashboard logout-all``: end every live session and unused link of a community;
        the number of sessions ended."""
        async with self.db.transaction():
            written = await self.db.execute(
                "UPDATE dashboard_sessions SET ended_at = ? WHERE community_id = ? "
                "AND ended_at IS NULL AND expires_at > ?", (at, community_id, at))
            await self.db.execute(
                "UPDATE dashboard_links SET used_at = ? WHERE community_id = ? "
                "AND used_at IS NULL", (at, community_id))
        return written.rowcount

    # -- privacy --------------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The member's dashboard sessions (when, until when; never a token)."""
        rows = await self.db.all(
            "SELECT created_at, expires_at, ended_at FROM dashboard_sessions "
            "WHERE community_id = ? AND user_id = ? ORDER BY created_at", (community_id, user_id))
        return {"dashboard_sessions": [dict(r) for r in rows]} if rows else {}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete the member's links and sessions (they sign out); counted only when there
        were any, so forgetting someone who never used the dashboard reads as before."""
        async with self.db.transaction():
            links = await self.db.execute(
                "DELETE FROM dashboard_links WHERE community_id = ? AND user_id = ?",
                (community_id, user_id))
            sessions = await self.db.execute(
                "DELETE FROM dashboard_sessions WHERE community_id = ? AND user_id = ?",
                (community_id, user_id))
        ended = links.rowcount + sessions.rowcount
        return {"dashboard_sessions": ended} if ended else {}

    async def purge_text(self, cutoff: float) -> int:
        """Drop links and sessions that ended or expired before ``cutoff``."""
        links = await self.db.execute(
            "DELETE FROM dashboard_links WHERE expires_at < ?", (cutoff,))
        sessions = await self.db.execute(
            "DELETE FROM dashboard_sessions WHERE expires_at < ? "
            "OR (ended_at IS NOT NULL AND ended_at < ?)", (cutoff, cutoff))
        return links.rowcount + sessions.rowcount

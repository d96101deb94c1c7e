"""Signing in by a one-time link, sessions, and the CSRF token of a session.

A moderator gets a link from the ``dashboard`` command. Opening it shows a page
with one button (so a link preview, which only fetches the page, spends nothing);
pressing it spends the link (:meth:`Auth.sign_in`) and opens a session whose token
goes into an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when the public
address is https). Links and sessions are stored as SHA-256 hashes
(:mod:`bot.storage.repositories.dashboard`). A session's CSRF token is derived from
its secret token (:func:`csrf_token`), so it is never stored and cannot be guessed
without the cookie; every POST carries it in a hidden field.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from bot.core.clock import Clock
from bot.storage.repositories.dashboard import DashboardRepository, DashboardSession, token_hash

COOKIE = "haven_session"
"""The session cookie's name."""
CSRF_FIELD = "csrf"
"""The hidden form field that carries the CSRF token."""


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: an HMAC of a fixed label keyed by the session token."""
    return hmac.new(session_token.encode(), b"haven-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, sent: str | None) -> bool:
    """Whether ``sent`` is the CSRF token of the session (constant-time)."""
    return bool(sent) and hmac.compare_digest(csrf_token(session_token), sent or "")


def session_key(session_token: str) -> str:
    """A name for a session that is safe to keep in memory and logs (its stored hash, cut)."""
    return token_hash(session_token)[:16]


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: the cookie's token and who it is for."""

    token: str
    session: DashboardSession


class Auth:
    """Links become sessions; cookies are looked up as sessions; sign-out."""

    def __init__(self, repo: DashboardRepository, clock: Clock, session_hours: float) -> None:
        self.repo = repo
        self.clock = clock
        self.session_seconds = session_hours * 3600

    async def link_is_valid(self, token: str) -> bool:
        """Whether a link can still be used (the page before the button)."""
        return await self.repo.link_is_valid(token, self.clock.now())

    async def sign_in(self, link_token: str) -> SignedIn | None:
        """Spend the link and open a session; ``None`` if the link is unknown, expired or
        used (the caller then checks that the person is a moderator before using it)."""
        now = self.clock.now()
        who = await self.repo.use_link(link_token, now)
        if who is None:
            return None
        token = await self.repo.create_session(who.community_id, who.user_id, who.user_name,
                                               now, self.session_seconds)
        return SignedIn(token, DashboardSession(who.community_id, who.user_id, who.user_name,
                                                now, now + self.session_seconds))

    async def session(self, token: str | None) -> DashboardSession | None:
        """The live session of a cookie, if any."""
        if not token:
            return None
        return await self.repo.session(token, self.clock.now())

    async def sign_out(self, token: str) -> None:
        """End one session."""
        await self.repo.end_session(token, self.clock.now())

    async def sign_out_everywhere(self, session: DashboardSession) -> None:
        """End every session of that person in that community (no longer a moderator)."""
        await self.repo.end_user_sessions(session.community_id, session.user_id,
                                          self.clock.now())

"""Who may use the dashboard: a moderator of the session's community, checked again
on every request through the core's permission check (cached for a minute at most).

The person is looked up on the platform (:meth:`Platform.resolve_member`) and judged
by :meth:`Permissions.is_moderator`, exactly as a command would be. Someone demoted,
or gone from the community, is refused within :data:`RECHECK_SECONDS`. A platform
that cannot answer is a refusal too (fail closed), never a cached "yes" kept longer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from bot.core.clock import Clock
from bot.core.errors import PlatformError
from bot.core.events import Member
from bot.core.permissions import Permissions
from bot.core.ports import Platform

log = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0
"""How long one answer of the platform is trusted."""


class Verdict(Enum):
    """The outcome of a check."""

    MODERATOR = "moderator"
    REFUSED = "refused"
    """Not (or no longer) a moderator of that community."""
    UNKNOWN = "unknown"
    """The platform could not say just now."""


@dataclass(frozen=True)
class Checked:
    """One answer, and when it was given."""

    verdict: Verdict
    member: Member | None
    at: float


class Access:
    """Re-checks that a signed-in person is still a moderator of their community."""

    def __init__(self, platform: Platform, perms: Permissions, clock: Clock,
                 recheck: float = RECHECK_SECONDS) -> None:
        self.platform = platform
        self.perms = perms
        self.clock = clock
        self.recheck = min(recheck, RECHECK_SECONDS)
        self._cache: dict[tuple[str, str], Checked] = {}

    async def check(self, community_id: str, user_id: str) -> Checked:
        """Whether ``user_id`` is a moderator of ``community_id`` now (cached briefly)."""
        now = self.clock.now()
        key = (community_id, user_id)
        cached = self._cache.get(key)
        if cached is not None and now - cached.at < self.recheck:
            return cached
        try:
            member = await self.platform.resolve_member(community_id, user_id)
        except PlatformError as exc:
            log.warning("dashboard: could not check %s in %s: %s", user_id, community_id,
                        type(exc).__name__)
            self._cache.pop(key, None)
            return Checked(Verdict.UNKNOWN, None, now)
        ok = member is not None and member.id == user_id and self.perms.is_moderator(member)
        answer = Checked(Verdict.MODERATOR if ok else Verdict.REFUSED, member, now)
        self._cache[key] = answer
        if len(self._cache) > 1000:
            self._prune(now)
        return answer

    def forget(self, community_id: str, user_id: str) -> None:
        """Drop a cached answer (after signing someone out)."""
        self._cache.pop((community_id, user_id), None)

    def _prune(self, now: float) -> None:
        self._cache = {k: v for k, v in self._cache.items() if now - v.at < self.recheck}

"""What Haven stores about a member, composed from each repository's own part.

``mydata`` (:meth:`Privacy.export`), ``forgetme`` (:meth:`Privacy.forget`) and the
retention purge (:meth:`Privacy.purge_text`) each ask every repository for its part.
``forget`` and ``purge_text`` run in ONE transaction: a failure half-way changes nothing.
A repository added later joins by implementing :class:`MemberData` and being listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from bot.storage.database import Database
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.cases import CasesRepository
from bot.storage.repositories.dashboard import DashboardRepository
from bot.storage.repositories.details import DetailsRepository
from bot.storage.repositories.digest import DigestRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.members import MembersRepository
from bot.storage.repositories.posts import TrackedPostsRepository
from bot.storage.repositories.rule_changes import RuleChangesRepository

Export = dict[str, list[dict[str, Any]]]


@runtime_checkable
class MemberData(Protocol):
    """A repository's part of ``mydata``, ``forgetme`` and the retention purge."""

    async def export(self, community_id: str, user_id: str) -> Export:
        """This repository's rows about the member, by ``mydata`` key."""
        ...

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete or anonymise (as ``alias``) the member's rows; counts by key."""
        ...

    async def purge_text(self, cutoff: float) -> int:
        """Drop text older than ``cutoff``; returns rows changed."""
        ...


class Privacy:
    """Export, forget and purge across every repository that holds member data."""

    EXPORT_ORDER: tuple[str, ...] = ("member", "support_posts", "alerts_about_you",
                                     "cases_about_you", "duty", "signposting")
    """The ``mydata`` keys, in the order members have always seen them."""

    def __init__(self, db: Database, parts: Sequence[MemberData]) -> None:
        self.db = db
        self.parts = tuple(parts)

    async def export(self, community_id: str, user_id: str) -> Export:
        """Everything Haven stores about a member (for ``mydata``), keys in
        :attr:`EXPORT_ORDER` (then any other part's keys), read in one transaction."""
        found: Export = {}
        async with self.db.transaction():
            for part in self.parts:
                found.update(await part.export(community_id, user_id))
        ordered = {key: found.pop(key) for key in self.EXPORT_ORDER if key in found}
        ordered.update(found)
        return ordered

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete what Haven stores about a member, in one transaction.

        Moderation cases are kept (a moderator may need them) but anonymised: the
        member's id is replaced by ``alias`` and text is dropped. Alerts that are still
        open keep the member until they are resolved (the ``forgotten:`` key).
        """
        counts: dict[str, int] = {}
        async with self.db.transaction():
            for part in self.parts:
                counts.update(await part.forget(community_id, user_id, alias))
        return counts

    async def purge_text(self, cutoff: float) -> int:
        """Drop text older than ``cutoff`` everywhere, in one transaction: excerpts in
        alerts, cases and tracked posts, and whole handover notes. Returns rows changed."""
        total = 0
        async with self.db.transaction():
            for part in self.parts:
                total += await part.purge_text(cutoff)
        return total


def member_data_parts(db: Database) -> list[MemberData]:
    """Every repository that holds member data, in export order."""
    return [MembersRepository(db), TrackedPostsRepository(db), AlertsRepository(db),
            CasesRepository(db), DutyRepository(db), DetailsRepository(db),
            DigestRepository(db), DashboardRepository(db), RuleChangesRepository(db)]

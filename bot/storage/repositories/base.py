"""What every repository shares: the Database it works over and its owned migrations."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.storage.database import Database, Migration, Row


class Repository:
    """A set of typed methods over some tables of one :class:`Database`.

    Stateless: every call goes to the database, so two repositories over the same
    Database see the same rows, and their statements join an open transaction.
    A repository that needs its own tables lists them in ``MIGRATIONS``. One that
    holds member data overrides the privacy trio (:meth:`export`, :meth:`forget`,
    :meth:`purge_text`), which :class:`~bot.storage.privacy.Privacy` composes.
    """

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = ()

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- privacy: nothing by default -------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """This repository's rows about a member, by ``mydata`` key (none by default)."""
        return {}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete or anonymise the member's rows; counts by key (nothing by default)."""
        return {}

    async def purge_text(self, cutoff: float) -> int:
        """Drop text older than ``cutoff``; rows changed (nothing by default)."""
        return 0


def as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as plain dicts (for ``mydata``)."""
    return [dict(r) for r in rows]

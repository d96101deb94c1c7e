"""What every repository shares: the Database it works over and its owned migrations."""

from __future__ import annotations

from typing import ClassVar

from bot.storage.database import Database, Migration


class Repository:
    """A set of typed methods over some tables of one :class:`Database`.

    Stateless: every call goes to the database, so two repositories over the same
    Database see the same rows, and their statements join an open transaction.
    A repository that needs its own tables lists them in ``MIGRATIONS``.
    """

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = ()

    def __init__(self, db: Database) -> None:
        self.db = db

"""Haven's storage, opened: the :class:`~bot.storage.database.Database` and its repositories.

:class:`Store` opens (and migrates) the database and holds one repository per concern
(``store.alerts``, ``store.jobs``...) plus the privacy composition; it has no queries of
its own. The composition root hands each feature only the repositories it needs. Every
row carries its ``community_id`` so
work can later be split by shard. Message text is kept only where a human needs it
(alert and case excerpts, the excerpt of a post waiting for a reply) and is purged after
the retention period or as soon as it is no longer needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.storage.database import BASE_MIGRATIONS, Database, Migration
from bot.storage.inline import Connection
from bot.storage.privacy import Privacy, member_data_parts
from bot.storage.repositories import (
    AlertsRepository,
    CasesRepository,
    DutyRepository,
    JobsRepository,
    KeyValueRepository,
    LedgerRepository,
    MembersRepository,
    TrackedPostsRepository,
)

MIGRATIONS = BASE_MIGRATIONS
"""Haven's numbered schema (re-exported from :mod:`bot.storage.database`)."""

def member_data_migrations() -> tuple[Migration, ...]:
    """The owned tables of every repository the privacy composition reads (mydata,
    forgetme and retention need them even when their feature is not installed)."""
    return tuple(m for part in member_data_parts(Database(":memory:"))
                 for m in getattr(part, "MIGRATIONS", ()))


class Store:
    """Haven's database and its repositories. Open with :meth:`open`.

    Attributes ``kv``, ``members``, ``posts``, ``alerts``, ``jobs``, ``cases``, ``duty``
    and ``ledger`` are the repositories, ``privacy`` composes their ``mydata``/``forgetme``/
    retention parts.
    """

    kv: KeyValueRepository
    members: MembersRepository
    posts: TrackedPostsRepository
    alerts: AlertsRepository
    jobs: JobsRepository
    cases: CasesRepository
    duty: DutyRepository
    ledger: LedgerRepository
    privacy: Privacy

    def __init__(self, path: str) -> None:
        self.path = path
        self._database: Database | None = None

    @classmethod
    async def open(cls, path: str | Path, migrations: Sequence[Migration] = ()) -> Store:
        """Open (creating if needed) and migrate the database at ``path``: Haven's base
        schema, then the features' own ``migrations`` (each owner's in order)."""
        store = cls(str(path))
        store._attach(await Database.open(path, (*member_data_migrations(), *migrations)))
        return store

    def _attach(self, database: Database) -> None:
        self._database = database
        self.kv = KeyValueRepository(database)
        self.members = MembersRepository(database)
        self.posts = TrackedPostsRepository(database)
        self.alerts = AlertsRepository(database)
        self.jobs = JobsRepository(database)
        self.cases = CasesRepository(database)
        self.duty = DutyRepository(database)
        self.ledger = LedgerRepository(database)
        # every repository holding member data, this store's own instances where it has them
        parts = {type(p): p for p in member_data_parts(database)}
        for mine in (self.members, self.posts, self.alerts, self.cases, self.duty):
            parts[type(mine)] = mine
        self.privacy = Privacy(database, list(parts.values()))

    @property
    def database(self) -> Database:
        """The open :class:`~bot.storage.database.Database` (transactions live there)."""
        if self._database is None:
            raise RuntimeError("store is not open")
        return self._database

    @property
    def db(self) -> Connection:
        """The open connection."""
        return self.database.connection

    async def close(self) -> None:
        """Close the connection."""
        if self._database is not None:
            await self._database.close()
            self._database = None

    async def migrate(self, migrations: Sequence[Migration] = ()) -> int:
        """Apply pending migrations (the base schema's, then the owned ``migrations``);
        returns the base schema version."""
        return await self.database.migrate((*member_data_migrations(), *migrations))


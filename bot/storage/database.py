"""Haven's database: one interface, two engines.

:class:`Database` (in :mod:`bot.storage.engine`) is what repositories use: ``one``,
``all``, ``execute``, ``write``, ``executemany`` and ``transaction()`` (a savepoint
when nested), plus numbered migrations. :meth:`Database.open` picks the engine from
the config's ``database``:

- a path (or ``:memory:``): SQLite, :class:`~bot.storage.sqlite.SqliteDatabase`
  (aiosqlite, one connection; a transaction holds the database's lock);
- ``postgresql://user@host:port/dbname``: PostgreSQL,
  :class:`~bot.storage.postgres.PostgresDatabase` (asyncpg, a pool; the password
  only from ``HAVEN_DATABASE_PASSWORD`` or ``PGPASSWORD``).

Both run the same numbered migrations (:mod:`bot.storage.schema` and each repository's
``MIGRATIONS``) and the same repository SQL (:mod:`bot.storage.dialect` translates).
Importing this module loads both engines, so :meth:`Database.open` finds them.
"""

from __future__ import annotations

from bot.storage.engine import Database, DatabaseUnavailable, Migration, Row, Written
from bot.storage.postgres import PostgresDatabase
from bot.storage.schema import BASE_MIGRATIONS
from bot.storage.sqlite import SqliteDatabase

__all__ = ["BASE_MIGRATIONS", "Database", "DatabaseUnavailable", "Migration", "PostgresDatabase",
           "Row", "SqliteDatabase", "Written"]

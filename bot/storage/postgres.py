"""The PostgreSQL engine (asyncpg): a connection pool, numbered migrations, transactions.

Selected by ``database: postgresql://user@host:port/dbname`` in the config. The
password never comes from the file: it is read from ``HAVEN_DATABASE_PASSWORD``, else
libpq's own ``PGPASSWORD`` (or ``~/.pgpass``), and it never appears in ``path``, in
logs or in errors (:class:`~bot.storage.engine.DatabaseUnavailable` carries the URL
without it).

A statement outside a transaction borrows a pooled connection and commits on its
own; the connection is then kept for the next such statement (a few, never the whole
pool) rather than handed back, as asyncpg's borrow-and-return costs more on the event
loop than the statement itself. :meth:`PostgresDatabase.transaction` holds one connection for the running task
(``BEGIN`` .. ``COMMIT``, ``ROLLBACK`` on an error); every statement of that task goes
to it, and a nested transaction is a savepoint. Other tasks keep working on other
connections: PostgreSQL's row locks, not one lock for the whole database, keep them
apart, and no task ever sees another's uncommitted rows.

Migrations are the same numbered scripts as SQLite's (:mod:`bot.storage.schema` and the
repositories' ``MIGRATIONS``), translated by :mod:`bot.storage.dialect`; the base
version lives in ``haven_schema``, owned versions in ``schema_versions``. They run under
an advisory lock, so several Haven processes starting together migrate once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.storage.dialect import has_returning, inserted_table, postgres_ddl, postgres_statement
from bot.storage.engine import (
    PASSWORD_ENV,
    Database,
    DatabaseUnavailable,
    Migration,
    Row,
    Written,
    redact,
    without_password,
)
from bot.storage.schema import BASE_MIGRATIONS

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x4A7E4E  # pg_advisory_lock key: one migrating process at a time
_COUNT = re.compile(r"(\d+)\s*$")


def connect_args(url: str) -> tuple[str, str | None]:
    """The DSN to hand asyncpg (no password in it) and the password: from the URL if a
    caller put one there, else ``HAVEN_DATABASE_PASSWORD`` (``None``: asyncpg then
    reads ``PGPASSWORD`` or ``~/.pgpass`` itself)."""
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password is not None else None
    dsn = without_password(parts).geturl() if password is not None else url
    return dsn, password if password is not None else (os.environ.get(PASSWORD_ENV) or None)


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with the password (given, or from the environment) replaced by ``***``."""
    for secret in (*secrets, os.environ.get(PASSWORD_ENV), os.environ.get("PGPASSWORD")):
        if secret:
            text = text.replace(secret, "***")
    return text


def params(args: Iterable[Any]) -> tuple[Any, ...]:
    """Arguments for asyncpg; U+0000, which PostgreSQL's text cannot hold, becomes U+FFFD
    (the core already cleans what members write, this guards the rest)."""
    out = tuple(args)
    if any(type(a) is str and "\x00" in a for a in out):
        return tuple(a.replace("\x00", "\ufffd") if type(a) is str else a for a in out)
    return out


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a connection handed back: nothing more than asyncpg's own
    roll-back of a transaction left open. Its default reset (``RESET ALL``, ``UNLISTEN
    *``, ``CLOSE ALL``, advisory locks released) is one more round trip to the server per
    pooled statement; Haven changes no session state outside :meth:`PostgresDatabase.migrate`,
    which puts back what it changed."""


def _alive(conn: asyncpg.Connection) -> bool:
    """Whether a pooled connection is still open (one the server cut is closed, and
    asyncpg may already have detached it from the pool)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


class PostgresDatabase(Database):
    """An asyncpg pool over one PostgreSQL database, behind the :class:`Database` API."""

    engine: ClassVar[str] = "postgresql"
    POOL_MAX: ClassVar[int] = 10
    CONNECT_TIMEOUT: ClassVar[float] = 10.0
    LOCK_TIMEOUT_MS: ClassVar[int] = 5000
    """How long a statement waits for a row another transaction holds before it fails
    (as SQLite's ``busy_timeout``): a stuck transaction elsewhere never hangs Haven."""

    def __init__(self, path: str) -> None:
        super().__init__(redact(path))
        self._url = path
        self._pool: asyncpg.Pool | None = None
        self._held: dict[asyncio.Task[Any], asyncpg.Connection] = {}
        self._parked: list[asyncpg.Connection] = []
        """Pooled connections kept out of the pool between statements outside a
        transaction (see :meth:`_borrow`): at most ``POOL_MAX - 1``."""
        self._identity: frozenset[str] = frozenset()

    async def connect(self) -> None:
        """Open the pool; :class:`DatabaseUnavailable` (without the password) if the
        server cannot be reached or refuses us."""
        dsn, password = connect_args(self._url)
        try:
            self._pool = await asyncpg.create_pool(
                dsn, password=password, min_size=1, max_size=self.POOL_MAX,
                timeout=self.CONNECT_TIMEOUT, statement_cache_size=512, reset=_keep_session,
                server_settings={"application_name": "haven",
                                 "lock_timeout": str(self.LOCK_TIMEOUT_MS)})
        except Exception as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {self.path}: "
                f"{scrub(f'{type(exc).__name__}: {exc}', password)}") from None

    async def probe(self) -> str:
        """Connect without migrating: the server's version and this database's schema
        version, one line (``haven check``); :class:`DatabaseUnavailable` if it cannot."""
        await self.connect()
        try:
            async with self.pool.acquire() as conn:
                server = await conn.fetchval("SHOW server_version")
                has = await conn.fetchval("SELECT to_regclass('haven_schema') IS NOT NULL")
                version = int(await conn.fetchval(
                    "SELECT COALESCE(MAX(version), 0) FROM haven_schema") if has else 0)
        finally:
            await self.close()
        known = len(BASE_MIGRATIONS)
        if version > known:
            raise self.newer_schema(self.path, version, known)
        state = "up to date" if version == known else (
            f"{known - version} migration(s) will run at start-up" if version else
            "empty: Haven creates its tables at start-up")
        return f"PostgreSQL {server} at {self.path}, schema {version}/{known} ({state})"

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool (for tests and diagnostics; use the methods otherwise)."""
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    @property
    def is_open(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    async def close(self) -> None:
        """Close the pool (closing twice is fine); connections still busy after ten
        seconds are cut."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        parked, self._parked = self._parked, []
        for conn in parked:
            with contextlib.suppress(Exception):
                await pool.release(conn)
        try:
            await asyncio.wait_for(pool.close(), 10)
        except TimeoutError:
            pool.terminate()

    # -- migrations --------------------------------------------------------------------

    async def migrate(self, migrations: Sequence[Migration] = ()) -> int:
        """Apply pending base migrations, then pending owned ``migrations``, each in
        its own transaction, under an advisory lock; returns the base schema version."""
        async with self.pool.acquire() as conn:
            try:
                await conn.execute("SET lock_timeout = 0")  # another process may be migrating
                await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
                version = await self._migrate_base(conn)
                if migrations:
                    await self._migrate_owned(conn, migrations)
            finally:  # the pool does not reset sessions (_keep_session): leave it as found
                await conn.execute("SELECT pg_advisory_unlock_all(); RESET lock_timeout")
            self._identity = frozenset(r["relname"] for r in await conn.fetch(
                "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attname = 'id' "
                "AND a.attidentity <> '' AND n.nspname = current_schema()"))
        return version

    async def _migrate_base(self, conn: asyncpg.Connection) -> int:
        await conn.execute("CREATE TABLE IF NOT EXISTS haven_schema (version BIGINT NOT NULL)")
        version = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM haven_schema"))
        if version > len(BASE_MIGRATIONS):
            raise self.newer_schema(self.path, version, len(BASE_MIGRATIONS))
        for number, script in enumerate(BASE_MIGRATIONS, start=1):
            if number <= version:
                continue
            log.info("applying store migration %d", number)
            async with conn.transaction():
                await conn.execute(postgres_ddl(script))
                await conn.execute("DELETE FROM haven_schema")
                await conn.execute("INSERT INTO haven_schema (version) VALUES ($1)", number)
            version = number
        return version

    async def _migrate_owned(self, conn: asyncpg.Connection,
                             migrations: Sequence[Migration]) -> None:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_versions ("
                           "owner TEXT PRIMARY KEY, version BIGINT NOT NULL)")
        done = {r["owner"]: int(r["version"])
                for r in await conn.fetch("SELECT owner, version FROM schema_versions")}
        for m in sorted(migrations, key=lambda m: (m.owner, m.number)):
            if m.number <= done.get(m.owner, 0):
                continue
            log.info("applying %s migration %d", m.owner, m.number)
            async with conn.transaction():
                await conn.execute(postgres_ddl(m.sql))
                await conn.execute(
                    "INSERT INTO schema_versions (owner, version) VALUES ($1, $2) "
                    "ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                    m.owner, m.number)
            done[m.owner] = m.number

    # -- statements ----------------------------------------------------------------------

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """The connection for one statement: the task's own transaction's, else a
        pooled one (the statement then commits on its own)."""
        task = asyncio.current_task()
        held = self._held.get(task) if task is not None else None
        if held is not None:
            yield held
            return
        conn = await self._borrow()
        done = False
        try:
            yield conn
            done = True
        finally:
            await self._give_back(conn, done)

    async def _borrow(self) -> asyncpg.Connection:
        """A connection for one statement or transaction: one kept from an earlier
        statement when there is one, else the pool's. Borrowing from and handing back to
        asyncpg's pool costs a task, a timer and several callbacks on the event loop for
        every statement; a kept connection costs nothing."""
        pool = self.pool
        while self._parked:
            conn = self._parked.pop()
            if _alive(conn):
                return conn
            with contextlib.suppress(Exception):  # cut meanwhile: the pool replaces it
                await pool.release(conn)
        return await pool.acquire()

    async def _give_back(self, conn: asyncpg.Connection, done: bool) -> None:
        """Keep a connection whose statement ended cleanly (no transaction left open, not
        cut) for the next one, while fewer than ``POOL_MAX - 1`` are kept (so the pool
        always has one for anyone else); hand any other back to the pool, which resets or
        replaces it."""
        if (done and self._pool is not None and len(self._parked) < self.POOL_MAX - 1
                and _alive(conn) and not conn.is_in_transaction()):
            self._parked.append(conn)
            return
        if self._pool is not None:
            if _alive(conn):
                await self._pool.release(conn)
            else:  # cut: the pool took it back itself; tell it again, quietly
                with contextlib.suppress(Exception):
                    await self._pool.release(conn)
        else:  # closed meanwhile: nothing to keep it for
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    async def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a query, or ``None``."""
        async with self._conn() as conn:
            row: Row | None = await conn.fetchrow(postgres_statement(sql), *params(args))
            return row

    async def one_for_update(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a ``SELECT ... FOR UPDATE``: other transactions wanting the
        row wait until ours ends (so a read-modify-write loses no update)."""
        return await self.one(f"{sql} FOR UPDATE", args)

    async def all_for_update(self, sql: str, args: Iterable[Any] = (),
                             skip_locked: bool = False) -> list[Row]:
        """Every row of a ``SELECT ... FOR UPDATE [SKIP LOCKED]``."""
        return await self.all(f"{sql} FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}", args)

    async def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a query."""
        async with self._conn() as conn:
            return list(await conn.fetch(postgres_statement(sql), *params(args)))

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> Written:
        """Run one write; commits unless inside a transaction. An ``INSERT`` into a table
        with an ``id`` column returns the new id (``RETURNING id``)."""
        statement = postgres_statement(sql)
        table = inserted_table(sql)
        args = params(args)
        async with self._conn() as conn:
            if table is not None and table in self._identity and not has_returning(sql):
                rows = await conn.fetch(f"{statement} RETURNING id", *args)
                return Written(int(rows[0][0]) if rows else 0, len(rows))
            if has_returning(sql):
                rows = await conn.fetch(statement, *args)
                return Written(int(rows[0][0]) if rows else 0, len(rows))
            status = await conn.execute(statement, *args)
        found = _COUNT.search(status or "")
        return Written(0, int(found.group(1)) if found else 0)

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one write once per argument tuple, in one transaction (or the open one)."""
        batch = [params(r) for r in rows]
        if not batch:
            return
        async with self.transaction(), self._conn() as conn:
            await conn.executemany(postgres_statement(sql), batch)

    async def tables(self) -> list[str]:
        """Haven's tables (those of the current schema)."""
        rows = await self.all("SELECT table_name FROM information_schema.tables WHERE "
                              "table_schema = current_schema() AND table_type = 'BASE TABLE' "
                              "ORDER BY table_name")
        return [str(r["table_name"]) for r in rows]

    async def after_copy(self) -> None:
        """Move each identity column's sequence past the highest id copied in."""
        for table in sorted(self._identity):
            await self.one(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")

    # -- transactions ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Everything inside happens together or not at all.

        ``BEGIN`` .. ``COMMIT`` on a connection held by the running task; an exception
        rolls back and propagates. Nested in the same task it is a savepoint (rolled
        back alone if the inner block fails). Other tasks are not blocked, except by
        the rows this one has written. Never await a platform call inside.
        """
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a transaction needs a running task")
        held = self._held.get(task)
        if held is not None:
            async with held.transaction():  # asyncpg nests as a savepoint
                yield
            return
        conn = await self._borrow()
        done = False
        self._held[task] = conn
        try:
            async with conn.transaction():
                yield
            done = True
        finally:
            self._held.pop(task, None)
            await self._give_back(conn, done)

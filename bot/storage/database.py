"""The SQLite database: one connection, numbered migrations, transactions.

One connection serves every task. A :meth:`Database.transaction` takes the database's
lock for its whole length (``BEGIN IMMEDIATE`` .. ``COMMIT``, or ``ROLLBACK`` on an
error), so statements of other tasks wait for it instead of landing inside it. A
transaction opened again in the same task is a ``SAVEPOINT``. A statement outside any
transaction takes the lock for itself and commits on its own, as it always has.
Statements run on the event loop's thread (:mod:`bot.storage.inline`): they take
microseconds, a hop to a worker thread far more.

Commits are atomic and survive Haven being killed at once (WAL with
``synchronous=NORMAL``: no ``fsync`` per commit); :meth:`Database.durable` makes
every commit so far survive a power cut too (one ``fsync`` of the WAL for all of
them). Haven calls it before it acts on a platform, so "store first, then act"
holds on disk while many events share one ``fsync``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage import inline

log = logging.getLogger(__name__)

Row = aiosqlite.Row

BASE_MIGRATIONS: tuple[str, ...] = (
    # 1: everything the first release needs
    """
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE members (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        first_seen REAL NOT NULL, welcomed_at REAL, first_post_at REAL, greeted_at REAL,
        posts INTEGER NOT NULL DEFAULT 0, replies INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, user_id));
    CREATE TABLE tracked_posts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        channel_id TEXT NOT NULL, channel_name TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL, thread_id TEXT, author_id TEXT NOT NULL,
        posted_at REAL NOT NULL, link TEXT NOT NULL DEFAULT '', excerpt TEXT,
        state TEXT NOT NULL DEFAULT 'open', answered_at REAL, answered_by TEXT,
        reminded_at REAL, escalated_at REAL,
        UNIQUE (community_id, message_id));
    CREATE INDEX tracked_open ON tracked_posts (community_id, state, posted_at);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        member_id TEXT NOT NULL, member_name TEXT NOT NULL DEFAULT '',
        channel_id TEXT NOT NULL DEFAULT '', channel_name TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '', link TEXT NOT NULL DEFAULT '', excerpt TEXT,
        rule_id TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT 'high',
        state TEXT NOT NULL DEFAULT 'open', count INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        claimed_by TEXT, claimed_at REAL, resolved_by TEXT, resolved_at REAL, note TEXT,
        escalations INTEGER NOT NULL DEFAULT 0, messages TEXT NOT NULL DEFAULT '[]');
    CREATE INDEX alerts_state ON alerts (community_id, state);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, due_at REAL NOT NULL, payload TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        state TEXT NOT NULL DEFAULT 'pending', created_at REAL NOT NULL, done_at REAL);
    CREATE UNIQUE INDEX jobs_key ON jobs (kind, key) WHERE state = 'pending';
    CREATE INDEX jobs_due ON jobs (state, due_at);
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, action TEXT NOT NULL,
        rule_id TEXT, reason TEXT NOT NULL DEFAULT '', actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL DEFAULT '', target_id TEXT NOT NULL,
        target_name TEXT NOT NULL DEFAULT '', channel_id TEXT, message_id TEXT, excerpt TEXT,
        created_at REAL NOT NULL);
    CREATE INDEX cases_target ON cases (community_id, target_id);
    CREATE TABLE cooldowns (
        community_id TEXT NOT NULL, rule_id TEXT NOT NULL, user_id TEXT NOT NULL,
        until REAL NOT NULL, PRIMARY KEY (community_id, rule_id, user_id));
    CREATE TABLE duty (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        on_duty INTEGER NOT NULL DEFAULT 0, since REAL, quiet_start INTEGER, quiet_end INTEGER,
        last_alerted_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (community_id, user_id));
    CREATE TABLE handover (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        author_id TEXT NOT NULL, author_name TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE signposts (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, topic TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (community_id, user_id, topic));
    """,
    # 2: messages already handled (ids and a digest, never text), so a platform that
    # delivers an event twice (a replayed sync after a crash, history catch-up) is
    # handled exactly once.
    """
    CREATE TABLE seen_messages (
        community_id TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT NOT NULL,
        at REAL NOT NULL, PRIMARY KEY (community_id, message_id, digest));
    CREATE INDEX seen_at ON seen_messages (at);
    """,
    # 3: field hardening. Each alert keeps the place of every post (channel and link) and
    # its urgency (``quiet`` notes are never pinged or re-escalated); the outbox makes
    # member-facing deliveries idempotent (stored before sending, marked after); deliveries
    # holds command and button delivery ids so each is acted on once.
    """
    ALTER TABLE alerts ADD COLUMN places TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE alerts ADD COLUMN urgency TEXT NOT NULL DEFAULT 'now';
    CREATE TABLE outbox (
        community_id TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
        result TEXT, created_at REAL NOT NULL, done_at REAL,
        PRIMARY KEY (community_id, key));
    CREATE INDEX outbox_at ON outbox (created_at);
    CREATE TABLE deliveries (
        community_id TEXT NOT NULL, delivery_id TEXT NOT NULL, state TEXT NOT NULL,
        at REAL NOT NULL, PRIMARY KEY (community_id, delivery_id));
    CREATE INDEX deliveries_at ON deliveries (at);
    """,
    # 4: care for moderators: how much of an alert's text each moderator wants to see
    # (on, spoiler or off; NULL = the community default).
    """
    ALTER TABLE duty ADD COLUMN excerpts TEXT;
    """,
)
"""Haven's own schema, numbered by ``PRAGMA user_version`` (1, 2, 3 ...)."""

CHECKPOINT_EVERY = 500
"""Commits between two checkpoints of the write-ahead log (:meth:`Database.checkpoint`)."""


@dataclass(frozen=True)
class Migration:
    """A numbered schema change owned by a repository (not by Haven's base schema).

    Each owner's migrations run once, in ``number`` order, each in one transaction
    with its row in ``schema_versions``. The table is made only when the first owned
    migration is given, so a database without any stays exactly as before.
    """

    owner: str
    number: int
    sql: str


@dataclass(frozen=True)
class Written:
    """What a write did: the new row id (for an ``INSERT``) and the rows it changed."""

    rowid: int
    rowcount: int


class Database:
    """One SQLite connection with numbered migrations and :meth:`transaction`.

    Open with :meth:`open`. Every statement goes through :meth:`one`, :meth:`all`,
    :meth:`write` or :meth:`execute`; outside a transaction a write commits at once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: inline.Connection | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._savepoints = itertools.count(1)
        self._commits = 0
        """Commits made so far; :meth:`durable` syncs up to this one."""
        self._synced = 0
        self._sync_lock = asyncio.Lock()
        self.fsyncs = 0
        """How many times :meth:`durable` synced the log (diagnostics and the benchmark)."""
        self._checkpointed = 0
        self._checkpointing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str | Path, migrations: Sequence[Migration] = ()) -> Database:
        """Open (creating if needed) and migrate the database at ``path``."""
        db = cls(str(path))
        if db.path != ":memory:":
            Path(db.path).parent.mkdir(parents=True, exist_ok=True)
        db._conn = await inline.connect(db.path)
        try:
            db._conn.row_factory = aiosqlite.Row
            await db._conn.execute("PRAGMA journal_mode=WAL")
            await db._conn.execute("PRAGMA foreign_keys=ON")
            await db._conn.execute("PRAGMA busy_timeout=5000")
            # commits survive a crash of Haven at once; durable() syncs before acting
            await db._conn.execute("PRAGMA synchronous=NORMAL")
            # the log is copied into the file by checkpoint(), in a worker thread, not by
            # whichever statement happens to fill it (that stalled the loop for an fsync)
            await db._conn.execute("PRAGMA wal_autocheckpoint=0")
            await db.migrate(migrations)
            db._commits += 1  # the migrations: synced before Haven's first act
        except BaseException:
            await db.close()
            raise
        return db

    @property
    def connection(self) -> inline.Connection:
        """The open connection (for tests and diagnostics; use the methods otherwise)."""
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    @property
    def is_open(self) -> bool:
        """Whether the connection is open."""
        return self._conn is not None

    async def close(self) -> None:
        """Close the connection (closing twice is fine)."""
        if self._checkpointing is not None:
            await asyncio.wait({self._checkpointing})
            self._checkpointing = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # -- migrations --------------------------------------------------------------------

    async def migrate(self, migrations: Sequence[Migration] = ()) -> int:
        """Apply pending base migrations, then pending owned ``migrations``; returns the
        base schema version. A database newer than this Haven is refused."""
        conn = self.connection
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(BASE_MIGRATIONS):
            raise RuntimeError(
                f"database {self.path} has schema version {version}, newer than this Haven "
                f"understands ({len(BASE_MIGRATIONS)}); upgrade Haven or use a backup")
        for number, script in enumerate(BASE_MIGRATIONS, start=1):
            if number <= version:
                continue
            log.info("applying store migration %d", number)
            await conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            version = number
        if migrations:
            await self._migrate_owned(migrations)
        return version

    async def _migrate_owned(self, migrations: Sequence[Migration]) -> None:
        conn = self.connection
        await conn.executescript("CREATE TABLE IF NOT EXISTS schema_versions ("
                                 "owner TEXT PRIMARY KEY, version INTEGER NOT NULL);")
        async with conn.execute("SELECT owner, version FROM schema_versions") as cur:
            done = {r["owner"]: int(r["version"]) for r in await cur.fetchall()}
        for m in sorted(migrations, key=lambda m: (m.owner, m.number)):
            if m.number <= done.get(m.owner, 0):
                continue
            log.info("applying %s migration %d", m.owner, m.number)
            owner = m.owner.replace("'", "''")
            await conn.executescript(
                f"BEGIN;\n{m.sql}\n;INSERT INTO schema_versions (owner, version) "
                f"VALUES ('{owner}', {m.number}) ON CONFLICT(owner) DO UPDATE SET "
                f"version = excluded.version;\nCOMMIT;")
            done[m.owner] = m.number

    # -- statements ----------------------------------------------------------------------

    def _mine(self) -> bool:
        """Whether the running task holds the open transaction."""
        return self._owner is not None and self._owner is asyncio.current_task()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[inline.Connection]:
        """The connection for one statement: at once inside our own transaction, else
        after any other task's transaction has finished."""
        if self._mine():
            yield self.connection
            return
        async with self._lock:
            yield self.connection

    async def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a query (or of a write's ``RETURNING``), or ``None``."""
        async with self._turn() as conn:
            changes = conn.total_changes
            async with conn.execute(sql, tuple(args)) as cur:
                row = await cur.fetchone()
            self._count_commit(conn, changes)
            return row

    async def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a query (or of a write's ``RETURNING``)."""
        async with self._turn() as conn:
            changes = conn.total_changes
            async with conn.execute(sql, tuple(args)) as cur:
                rows = list(await cur.fetchall())
            self._count_commit(conn, changes)
            return rows

    def _count_commit(self, conn: inline.Connection, changes_before: int) -> None:
        """A write with ``RETURNING`` outside a transaction committed by itself."""
        if conn.total_changes != changes_before and not self._mine():
            self._committed()

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> Written:
        """Run one write; commits unless inside a transaction."""
        async with self._turn() as conn:
            async with conn.execute(sql, tuple(args)) as cur:
                written = Written(cur.lastrowid or 0, cur.rowcount)
            if not self._mine():
                await conn.commit()
                self._committed()
        return written

    async def write(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one write: the new row id for an ``INSERT``, else the rows changed."""
        written = await self.execute(sql, args)
        return written.rowid if sql.lstrip().upper().startswith("INSERT") else written.rowcount

    def _committed(self) -> None:
        """Count a commit; every :data:`CHECKPOINT_EVERY` commits start a :meth:`checkpoint`."""
        self._commits += 1
        if self._commits - self._checkpointed < CHECKPOINT_EVERY or self.path == ":memory:":
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._checkpointed = self._commits
        self._checkpointing = asyncio.get_running_loop().create_task(
            self.checkpoint(), name="haven-wal-checkpoint")

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, in a worker thread on a
        connection of its own (passive: it never waits for Haven's statements nor holds
        them up; the log is reused from its start once it is all copied)."""
        try:
            await asyncio.to_thread(_checkpoint, self.path)
        except Exception:
            log.warning("checkpoint of the database log failed; the next one tries again",
                        exc_info=True)

    async def durable(self) -> None:
        """Make every commit so far survive a power cut, not only a crash of Haven.

        Call before acting on what was stored (sending an alert, hiding a post). One
        ``fsync`` of the write-ahead log covers every commit since the last call, so
        callers arriving together share it; with nothing new committed it costs nothing.
        """
        target = self._commits
        if target <= self._synced or self.path == ":memory:":
            return
        async with self._sync_lock:
            if target <= self._synced:
                return  # another caller's fsync covered ours
            target = self._commits
            await asyncio.to_thread(_fsync_log, self.path)
            self.fsyncs += 1
            self._synced = max(self._synced, target)

    # -- transactions ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Everything inside happens together or not at all.

        ``BEGIN IMMEDIATE`` .. ``COMMIT``; an exception rolls back and propagates. Other
        tasks' statements wait until the transaction ends; nested in the same task it is
        a ``SAVEPOINT`` (rolled back alone if the inner block fails). Never await a
        platform call inside: the lock is held for the whole block.
        """
        if self._mine():
            async with self._savepoint():
                yield
            return
        async with self._lock:
            conn = self.connection
            await conn.execute("BEGIN IMMEDIATE")
            self._owner = asyncio.current_task()
            try:
                yield
            except BaseException:
                self._owner = None
                await conn.rollback()
                raise
            self._owner = None
            try:
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
            self._committed()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        name = f"haven_sp{next(self._savepoints)}"
        conn = self.connection
        await conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await conn.execute(f"ROLLBACK TO {name}")
            await conn.execute(f"RELEASE {name}")
            raise
        await conn.execute(f"RELEASE {name}")


def _checkpoint(path: str) -> None:
    """A passive checkpoint of the database at ``path`` (run in a worker thread)."""
    conn = sqlite3.connect(path, timeout=1.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


def _fsync_log(path: str) -> None:
    """``fsync`` the database's write-ahead log (checkpoints sync the file itself), or the
    file when there is no log."""
    for name in (f"{path}-wal", path):
        try:
            fd = os.open(name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return

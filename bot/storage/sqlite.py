"""The SQLite engine (aiosqlite): one connection, numbered migrations, transactions.

One connection serves every task. A :meth:`SqliteDatabase.transaction` takes the
database's lock for its whole length (``BEGIN IMMEDIATE`` .. ``COMMIT``, or ``ROLLBACK``
on an error), so statements of other tasks wait for it instead of landing inside it. A
transaction opened again in the same task is a ``SAVEPOINT``. A statement outside any
transaction takes the lock for itself and commits on its own, as it always has.

Commits are atomic and survive Haven being killed at once (WAL with
``synchronous=NORMAL``: no ``fsync`` per commit); :meth:`SqliteDatabase.durable` makes
every commit so far survive a power cut too (one ``fsync`` of the write-ahead log for all
of them). Haven calls it before it acts on a platform, so "store first, then act" holds
on disk while many events share one ``fsync``.

Statements of several tasks go to aiosqlite's thread together (one hop); the writes and
reads of a hop that run outside any transaction share one ``BEGIN IMMEDIATE .. COMMIT``
there (a group commit) and their callers hear back only after that ``COMMIT``. If
anything in the group fails, the group is rolled back and its statements run again one
at a time, each committing on its own: a failing write's error reaches its caller alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import aiosqlite

from bot.storage.engine import Database, Migration, Row, Written
from bot.storage.schema import BASE_MIGRATIONS

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_WAITS = 4
"""How many turns of the event loop queued statements wait for other tasks' to join them."""

_READ, _WRITE, _SOLO, _OWN = range(4)
"""What a queued piece of work is: a query outside any transaction (joins a hop's group
commit when one is open), a write outside any transaction (opens one when another write
follows it in the hop), another statement outside any transaction (``PRAGMA``, DDL: runs
alone, committing on its own), or work of a task's own transaction (or none at all)."""

_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")


_KINDS: dict[str, int] = {}
""":func:`_kind` of each statement seen (the same few hundred statements run all day)."""


def _kind(sql: str) -> int:
    """How a statement outside any transaction runs: grouped (a query or a write) or alone."""
    kind = _KINDS.get(sql)
    if kind is None:
        word = sql.lstrip()[:7].upper()
        kind = _READ if word.startswith("SELECT") else _WRITE if word.startswith(_DML) else _SOLO
        if len(_KINDS) < 10_000:  # statements are constants; never grow without bound
            _KINDS[sql] = kind
    return kind


class SqliteDatabase(Database):
    """One aiosqlite connection with numbered migrations and :meth:`transaction`.

    Every statement goes through :meth:`one`, :meth:`all`, :meth:`write` or
    :meth:`execute`; outside a transaction a write commits at once.
    """

    engine: ClassVar[str] = "sqlite"
    defers: ClassVar[bool] = True

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._savepoints = itertools.count(1)
        self._commits = 0
        """Commits made so far; :meth:`durable` syncs up to this one."""
        self._synced = 0
        self._sync_lock = asyncio.Lock()
        self.fsyncs = 0
        """How many times :meth:`durable` synced the log (diagnostics and the benchmark)."""
        self._pending: list[_Queued] = []
        self._hops: set[asyncio.Future[Any]] = set()
        self._waits = 0
        self._begin = False
        """The open transaction's ``BEGIN`` is still to go (with its first statement)."""
        self._prefix: list[str] = []
        """Savepoint statements of the open transaction still to go (``SAVEPOINT`` and
        ``RELEASE``): they ride with the transaction's next statement, in the same hop."""
        self.deferred_failures = 0
        """Deferred writes (:meth:`defer`) that failed (each also logged)."""
        self.hops = 0
        """How many times statements went to aiosqlite's thread (diagnostics and the benchmark)."""

    async def connect(self) -> None:
        """Open the file (creating its folder) in WAL mode."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA busy_timeout=5000")
            # commits survive a crash of Haven at once; durable() syncs before acting
            await self._conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            await self.close()
            raise

    @property
    def connection(self) -> aiosqlite.Connection:
        """The open connection (for tests and diagnostics; use the methods otherwise)."""
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    @property
    def is_open(self) -> bool:
        """Whether the connection is open."""
        return self._conn is not None

    async def close(self) -> None:
        """Close the connection (closing twice is fine), after deferred writes have run."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self.settle()
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
            raise self.newer_schema(self.path, version, len(BASE_MIGRATIONS))
        for number, script in enumerate(BASE_MIGRATIONS, start=1):
            if number <= version:
                continue
            log.info("applying store migration %d", number)
            await conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            version = number
        if migrations:
            await self._migrate_owned(migrations)
        self._commits += 1  # the migrations: synced before Haven's first act
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

    async def _turn(self) -> None:
        """Wait until this task may queue a statement: at once inside its own transaction
        or when none is open, else after the other task's transaction has finished.

        The statement is queued in the same step, before any other task runs, so it never
        lands inside a transaction another task begins later (whose ``BEGIN`` queues behind)."""
        if self._mine() or not self._lock.locked():
            return
        async with self._lock:
            pass

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T], kind: int = _OWN) -> T:
        """Run ``work`` on the connection in aiosqlite's thread, never on the event loop's.

        Statements queued by several tasks in one turn of the event loop go over together,
        in the order queued, in one hop to the thread and back (aiosqlite's own ``execute``,
        ``fetchone`` and ``close`` are a hop each); those outside any transaction share one
        commit there (see :func:`_run_hop`), and each one's error goes to its caller alone.
        """
        return cast(T, await self._queue(work, kind))

    def _queue(self, work: Callable[[sqlite3.Connection], Any],
               kind: int = _OWN) -> asyncio.Future[Any]:
        """Queue ``work`` for the next hop; its future (call after :meth:`_turn`).
        ``kind``: how it runs when outside this task's transaction (``_READ`` ..)."""
        if self._owner is not None and self._mine():
            work, kind = self._inside(work), _OWN
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((work, future, kind, ""))
        if len(self._pending) == 1 and not self._hops:
            loop.call_soon(self._flush)
        return future

    def _inside(self, work: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        """``work`` of the task holding the transaction: the first begins it (``BEGIN
        IMMEDIATE`` in the same hop); any later one refuses to run outside it (if that
        ``BEGIN`` failed and its caller carried on, nothing may commit on its own).
        Savepoint statements still to go run first, in the same hop."""
        begin, self._begin = self._begin, False
        prefix, self._prefix = self._prefix, []

        def run(db: sqlite3.Connection) -> T:
            if begin:
                db.execute("BEGIN IMMEDIATE").close()
            elif not db.in_transaction:
                raise sqlite3.OperationalError("the transaction is not open (its BEGIN failed)")
            for sql in prefix:
                db.execute(sql).close()
            return work(db)

        return run

    async def defer(self, sql: str, args: Iterable[Any] = ()) -> None:
        """Queue one write whose answer nobody waits for; it commits in the next hop, in
        order with every other statement (a later read sees it), together with other
        tasks' statements. Inside this task's transaction it runs at once, as part of it.
        :meth:`durable` and :meth:`settle` wait for it; a failure is logged (the
        statement's first words only, never its values) and counted in
        :attr:`deferred_failures`."""
        params = tuple(args)
        await self._turn()
        if self._mine():
            await self.execute(sql, params)
            return

        def work(db: sqlite3.Connection) -> None:
            db.execute(sql, params).close()

        # no future: nobody waits, and its outcome is read when the hop comes back
        self._pending.append((work, None, _kind(sql), sql))
        if len(self._pending) == 1 and not self._hops:
            asyncio.get_running_loop().call_soon(self._flush)

    async def settle(self) -> None:
        """Wait until every statement queued so far (deferred writes included) has run."""
        if self._pending or self._hops:
            await self._in_thread(_nothing, _READ)

    def _flush(self) -> None:
        """Send the queued statements to the thread in one hop (one hop at a time: what
        is queued meanwhile goes together in the next, as the thread runs one at a time
        anyway; so the busier the store, the more statements share a hop)."""
        if not self._pending or self._hops:
            return
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)  # asyncio's run queue: tasks about to run
        if ready and self._waits < _MAX_WAITS:
            # other tasks are about to run and may queue statements: let them, then go
            self._waits += 1
            loop.call_soon(self._flush)
            return
        self._waits = 0
        batch, self._pending = self._pending, []
        try:
            conn = self.connection
        except RuntimeError as exc:
            self._deliver(batch, None, exc)
            return
        works = [(w, k) for w, _, k, _ in batch]

        def run_all() -> _HopResult:
            return _run_hop(conn._conn, works)

        hop: asyncio.Future[_HopResult]
        tx = getattr(conn, "_tx", None)
        if tx is not None and getattr(conn, "_running", False) and \
                getattr(conn, "_connection", None) is not None:
            # onto aiosqlite's queue as its own _execute() does, without a task around it
            # (two turns of the event loop fewer per hop); its thread answers the future
            hop = loop.create_future()
            tx.put_nowait((hop, run_all))
        else:  # closed (it raises), or an aiosqlite that works otherwise
            hop = asyncio.ensure_future(conn._execute(run_all))
        self._hops.add(hop)
        hop.add_done_callback(lambda t: self._hop_done(batch, t))
        self.hops += 1

    def _hop_done(self, batch: list[_Queued], hop: asyncio.Future[_HopResult]) -> None:
        self._hops.discard(hop)
        if hop.cancelled():
            self._deliver(batch, None, asyncio.CancelledError())
        elif hop.exception() is not None:
            self._deliver(batch, None, hop.exception())
        else:
            results, commits = hop.result()
            self._commits += commits  # counted before anyone hears back
            self._deliver(batch, results, None)
        if self._pending:  # after the callers just answered have queued their next ones
            asyncio.get_running_loop().call_soon(self._flush)

    def _deliver(self, batch: Sequence[_Queued], results: Sequence[_Result] | None,
                 error: BaseException | None) -> None:
        """Hand each statement of a hop its result or error (``error``: the hop itself
        failed); a deferred write's failure is logged (its first words, never its values)
        and counted."""
        for k, (_, future, _, deferred) in enumerate(batch):
            if results is not None:
                ok, value = results[k]
            else:
                ok, value = False, error if error is not None else RuntimeError("hop failed")
            if future is None:
                if not ok:
                    self.deferred_failures += 1
                    log.error("a deferred write (%s) failed: %s",
                              " ".join(deferred.split()[:4]), type(value).__name__)
            elif future.done():  # its caller was cancelled meanwhile
                continue
            elif ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a query (or of a write's ``RETURNING``), or ``None``."""
        params = tuple(args)

        def work(db: sqlite3.Connection) -> Row | None:
            cur = db.execute(sql, params)
            try:
                row: Row | None = cur.fetchone()
            finally:
                cur.close()
            return row

        await self._turn()
        return await self._in_thread(work, _kind(sql))

    async def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a query (or of a write's ``RETURNING``)."""
        params = tuple(args)

        def work(db: sqlite3.Connection) -> list[Row]:
            cur = db.execute(sql, params)
            try:
                rows: list[Row] = cur.fetchall()
            finally:
                cur.close()
            return rows

        await self._turn()
        return await self._in_thread(work, _kind(sql))

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> Written:
        """Run one write; commits unless inside a transaction."""
        params = tuple(args)

        def work(db: sqlite3.Connection) -> Written:
            cur = db.execute(sql, params)
            try:
                return Written(cur.lastrowid or 0, cur.rowcount)
            finally:
                cur.close()

        await self._turn()
        return await self._in_thread(work, _kind(sql))

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one write once per argument tuple, in one transaction (or the open one)."""
        batch = [tuple(r) for r in rows]
        if not batch:
            return
        async with self.transaction():
            await self._in_thread(lambda db: db.executemany(sql, batch).close())

    async def tables(self) -> list[str]:
        """Haven's tables (SQLite's own ``sqlite_*`` left out)."""
        rows = await self.all("SELECT name FROM sqlite_master WHERE type = 'table' "
                              "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        return [str(r["name"]) for r in rows]

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
            self._owner = asyncio.current_task()
            self._begin = True  # BEGIN goes over with the first statement, in its hop
            try:
                yield
            except BaseException:
                self._owner = None
                self._prefix = []  # the rollback undoes every savepoint
                begun, self._begin = not self._begin, False
                if begun:
                    await self._in_thread(_rollback)
                raise
            self._owner = None
            self._prefix = []  # the commit releases every savepoint
            if self._begin:  # nothing ran inside: nothing to commit
                self._begin = False
                return
            try:
                await self._in_thread(_commit)
            except BaseException:
                await self._in_thread(_rollback)
                raise
            self._commits += 1

    async def durable(self) -> None:
        """Make every commit so far survive a power cut, not only a crash of Haven.

        Called before acting on what was stored (sending an alert, hiding a post). One
        ``fsync`` of the write-ahead log covers every commit since the last call, so
        callers arriving together share it; with nothing new committed it costs nothing.
        """
        await self.settle()  # deferred writes first: they are among "everything stored"
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

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        """A nested transaction. Its ``SAVEPOINT`` goes with its first statement and its
        ``RELEASE`` with the transaction's next one (a ``COMMIT`` releases every
        savepoint), so a savepoint costs no hop of its own; one that ran nothing costs
        nothing. Only a failed block waits for its ``ROLLBACK TO``."""
        name = f"haven_sp{next(self._savepoints)}"
        begin = f"SAVEPOINT {name}"
        self._prefix.append(begin)
        try:
            yield
        except BaseException:
            if begin in self._prefix:  # nothing of it ran: nothing to undo
                self._prefix.remove(begin)
            else:
                await self._in_thread(_statement(f"ROLLBACK TO {name}", f"RELEASE {name}"))
            raise
        if begin in self._prefix:
            self._prefix.remove(begin)
        else:
            self._prefix.append(f"RELEASE {name}")


def _statement(*sql: str) -> Callable[[sqlite3.Connection], None]:
    """Work that runs these statements (no arguments, no rows) one after the other."""
    def work(db: sqlite3.Connection) -> None:
        for one in sql:
            db.execute(one).close()
    return work


def _nothing(db: sqlite3.Connection) -> None:
    """A hop that runs nothing (waits for every statement queued before it)."""


def _commit(db: sqlite3.Connection) -> None:
    db.commit()


def _rollback(db: sqlite3.Connection) -> None:
    db.rollback()


Work = Callable[[sqlite3.Connection], Any]
"""A piece of work for aiosqlite's thread: statements on the connection."""
_Queued = tuple[Work, "asyncio.Future[Any] | None", int, str]
"""Queued work, its caller's future (``None``: a deferred write), its kind (``_READ`` ..)
and a deferred write's statement (for the log, if it fails)."""
_Result = tuple[bool, Any]
"""A piece of work's outcome: ``(True, value)`` or ``(False, exception)``."""
_HopResult = tuple[list[_Result], int]
"""Every outcome of a hop, and how many commits in it wrote something."""


def _run_hop(db: sqlite3.Connection, batch: Sequence[tuple[Work, int]]) -> _HopResult:
    """Run one hop's work in order (in aiosqlite's thread).

    Work of a task's transaction and statements that must run alone (``_OWN``,
    ``_SOLO``) run as they are. Between them, a run of statements outside any transaction
    with two writes or more shares one ``BEGIN IMMEDIATE .. COMMIT`` from its first write
    on (see :func:`_run_group`); anything else runs alone, committing on its own.
    """
    done: list[_Result] = []
    commits = 0
    i = 0
    while i < len(batch):
        kind = batch[i][1]
        end = i + 1
        if kind == _WRITE and not db.in_transaction:
            while end < len(batch) and batch[end][1] in (_READ, _WRITE):
                end += 1
        if sum(1 for _, k in batch[i:end] if k == _WRITE) >= 2:
            group = batch[i:end]
            results, wrote = _run_group(db, [w for w, _ in group], [k for _, k in group])
        else:
            results, wrote = _run_alone(db, batch[i][0], kind)
            end = i + 1
        done.extend(results)
        commits += wrote
        i = end
    return done, commits


def _run_alone(db: sqlite3.Connection, work: Work, kind: int) -> tuple[list[_Result], int]:
    """Run one piece of work as it is; whether it committed a change on its own."""
    changes = db.total_changes
    try:
        result: _Result = (True, work(db))
    except Exception as exc:
        result = (False, exc)
    if kind == _OWN or db.in_transaction:
        return [result], 0  # a transaction's own work: its COMMIT is counted by it
    wrote = (kind == _SOLO and result[0]) or db.total_changes != changes
    return [result], int(wrote)


def _run_group(db: sqlite3.Connection, works: Sequence[Work],
               kinds: Sequence[int]) -> tuple[list[_Result], int]:
    """Run statements outside any transaction in one ``BEGIN IMMEDIATE .. COMMIT`` (a
    group commit: one commit, one lock, instead of one each).

    If any of them (or ``BEGIN``, or ``COMMIT``) fails, the group is rolled back and
    each runs again alone, committing on its own, as without grouping: a failing
    statement's error reaches its caller alone and the others still commit.
    """
    try:
        db.execute("BEGIN IMMEDIATE").close()
    except Exception:
        return _one_by_one(db, works, kinds)
    changes = db.total_changes
    done: list[_Result] = []
    try:
        for work in works:
            done.append((True, work(db)))
        wrote = db.total_changes != changes
        db.commit()
    except Exception:
        with contextlib.suppress(Exception):
            db.rollback()
        return _one_by_one(db, works, kinds)
    return done, int(wrote)


def _one_by_one(db: sqlite3.Connection, works: Sequence[Work],
                kinds: Sequence[int]) -> tuple[list[_Result], int]:
    """Run each piece of work alone (see :func:`_run_alone`); the outcomes and commits."""
    done: list[_Result] = []
    commits = 0
    for work, kind in zip(works, kinds, strict=True):
        results, wrote = _run_alone(db, work, kind)
        done.extend(results)
        commits += wrote
    return done, commits


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

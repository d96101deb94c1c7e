"""SQLite on the event loop's own thread, behind aiosqlite's interface.

aiosqlite runs every call (execute, each fetch, closing the cursor, commit) in a worker
thread and hands the result back through the event loop: three or four thread hops per
statement, each waiting for the interpreter lock. Haven's statements are small and hit
a local file (write-ahead log, ``synchronous=NORMAL``: no ``fsync`` on commit), so they
take microseconds; the hops cost a hundred times more. :func:`connect` returns a
connection with the same awaitable methods that runs each statement at once on the
calling thread. The one slow operation, the ``fsync`` of
:meth:`bot.storage.database.Database.durable`, still runs in a thread.

Only one process writes a Haven SQLite file; a statement that finds the file locked by
another (a backup tool) waits at most ``busy_timeout`` with the loop held.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Iterable
from types import TracebackType
from typing import Any


class Cursor:
    """A finished statement: its rows, ``lastrowid`` and ``rowcount`` (aiosqlite's cursor)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def lastrowid(self) -> int | None:
        """The row id of the last ``INSERT``."""
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        """The rows the statement changed."""
        return self._cursor.rowcount

    async def fetchone(self) -> Any:
        """The next row, or ``None``."""
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""
        return self._cursor.fetchall()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` rows."""
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()


class _Statement:
    """What :meth:`Connection.execute` returns: awaitable, or ``async with`` (as aiosqlite)."""

    def __init__(self, run: Callable[[], sqlite3.Cursor]) -> None:
        self._run = run
        self._cursor: Cursor | None = None

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._start().__await__()

    async def _start(self) -> Cursor:
        self._cursor = Cursor(self._run())
        return self._cursor

    async def __aenter__(self) -> Cursor:
        return await self._start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class Connection:
    """An open SQLite connection with aiosqlite's awaitable methods, run inline."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def row_factory(self) -> Any:
        """The row type (``sqlite3.Row`` in Haven)."""
        return self._conn.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._conn.row_factory = factory

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._conn.in_transaction

    @property
    def total_changes(self) -> int:
        """Rows changed since the connection opened."""
        return self._conn.total_changes

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> _Statement:
        """Run one statement (await it, or use it with ``async with``)."""
        args = tuple(parameters)
        return _Statement(lambda: self._conn.execute(sql, args))

    def executemany(self, sql: str, rows: Iterable[Any]) -> _Statement:
        """Run one statement for each row of parameters."""
        return _Statement(lambda: self._conn.executemany(sql, rows))

    async def executescript(self, script: str) -> Cursor:
        """Run a script of statements."""
        return Cursor(self._conn.executescript(script))

    async def commit(self) -> None:
        """Commit the open transaction."""
        self._conn.commit()

    async def rollback(self) -> None:
        """Roll the open transaction back."""
        self._conn.rollback()

    async def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        """Call ``callback`` with each SQL statement run (diagnostics, the benchmark)."""
        self._conn.set_trace_callback(callback)

    async def close(self) -> None:
        """Close the connection."""
        self._conn.close()


async def connect(path: str) -> Connection:
    """Open the SQLite file at ``path`` (``:memory:`` for a private in-memory database)."""
    # autocommit: a statement outside BEGIN .. COMMIT commits by itself (one statement,
    # not BEGIN, the statement and COMMIT); transactions are always opened explicitly
    return Connection(sqlite3.connect(path, check_same_thread=False, isolation_level=None))

"""The one Database interface every storage engine implements (SQLite, PostgreSQL).

Repositories talk only to :class:`Database`: :meth:`~Database.one`, :meth:`~Database.all`,
:meth:`~Database.execute`, :meth:`~Database.write`, :meth:`~Database.executemany` and
:meth:`~Database.transaction`, with ``?`` placeholders and SQLite's spelling of the few
things that differ (``INSERT OR IGNORE``); an engine translates what it must. A row
reads the same on every engine: by column name (``row["id"]``), by position
(``row[0]``) and as ``dict(row)``.

:meth:`Database.open` picks the engine from the target: a ``postgresql://`` (or
``postgres://``) URL opens PostgreSQL, anything else is a SQLite file (or ``:memory:``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import SplitResult, urlsplit

PASSWORD_ENV = "HAVEN_DATABASE_PASSWORD"
"""Where Haven reads the PostgreSQL password (libpq's ``PGPASSWORD`` is the fallback)."""


class Row(Protocol):
    """A result row: by column name or position, and ``dict(row)``."""

    def __getitem__(self, key: int | str, /) -> Any:
        """A column's value by name or position."""
        ...

    def keys(self) -> Iterable[str]:
        """The column names, in order."""
        ...


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened; the message never holds a password."""


@dataclass(frozen=True)
class Migration:
    """A numbered schema change owned by a repository (not by Haven's base schema).

    Each owner's migrations run once, in ``number`` order, each in one transaction
    with its row in ``schema_versions``. The table is made only when the first owned
    migration is given, so a database without any stays exactly as before. The SQL is
    written in SQLite's dialect; PostgreSQL translates its types.
    """

    owner: str
    number: int
    sql: str


@dataclass(frozen=True)
class Written:
    """What a write did: the new row id (for an ``INSERT``) and the rows it changed."""

    rowid: int
    rowcount: int


def is_postgres_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def without_password(parts: SplitResult) -> SplitResult:
    """A split URL with the password (if any) left out of its netloc."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{user}{host}{port}")


def redact(url: str) -> str:
    """``url`` without any password (what logs and errors may show)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        return without_password(parts).geturl()
    except ValueError:
        return "postgresql://(unreadable URL)"


def database_url_problem(url: str) -> str | None:
    """What is wrong with a ``postgresql://`` URL in the config (``None``: nothing).
    Never repeats the URL: it may hold a password."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        return f"not a valid postgresql:// URL ({exc})"
    if parts.password is not None:
        return (f"a password is not allowed in the URL (the file is not a secret store): "
                f"remove it and set {PASSWORD_ENV} (or PGPASSWORD) in the environment")
    if parts.path.strip("/") == "":
        return "the URL names no database: postgresql://user@host:port/dbname"
    return None


class Database:
    """Haven's database, whichever engine holds it. Open with :meth:`open`.

    Outside a transaction every write commits on its own. :meth:`transaction` makes a
    block all-or-nothing; nested in the same task it is a savepoint. ``path`` is what
    logs and errors may show: the file, or the URL without any password.
    """

    engine: ClassVar[str] = "none"
    """The engine's name (``sqlite``, ``postgresql``)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    async def open(cls, target: str | Path, migrations: Sequence[Migration] = ()) -> Database:
        """Open (creating if needed) and migrate the database at ``target``: a SQLite
        path or ``:memory:``, or a ``postgresql://user@host:port/dbname`` URL."""
        engine = cls if cls is not Database else _engine_for(target)
        db = engine(str(target))
        await db.connect()
        try:
            await db.migrate(migrations)
        except BaseException:
            await db.close()
            raise
        return db

    # -- what every engine implements ----------------------------------------------------

    async def connect(self) -> None:
        """Open the connection (or pool)."""
        raise NotImplementedError

    @property
    def is_open(self) -> bool:
        """Whether the database is open."""
        return False

    async def close(self) -> None:
        """Close (closing twice is fine)."""

    async def durable(self) -> None:
        """Make every commit so far survive a power cut; called before Haven acts on what
        it stored. Nothing to do where every commit is already durable (PostgreSQL)."""

    async def migrate(self, migrations: Sequence[Migration] = ()) -> int:
        """Apply pending base migrations, then pending owned ``migrations``; returns the
        base schema version. A database newer than this Haven is refused."""
        raise NotImplementedError

    async def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a query, or ``None``."""
        raise NotImplementedError

    async def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a query."""
        raise NotImplementedError

    async def one_for_update(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a ``SELECT``, locked until the open transaction ends, for a
        read-modify-write (call inside :meth:`transaction`): ``FOR UPDATE`` on
        PostgreSQL, where another task's transaction may write the same row; SQLite's
        transaction already holds the whole database."""
        return await self.one(sql, args)

    async def all_for_update(self, sql: str, args: Iterable[Any] = (),
                             skip_locked: bool = False) -> list[Row]:
        """Every row of a ``SELECT``, locked until the open transaction ends (call inside
        :meth:`transaction`). ``skip_locked``: leave out rows another transaction holds
        (``FOR UPDATE SKIP LOCKED``: several workers claim different rows). On SQLite the
        transaction holds the whole database, so no row is ever held by another."""
        return await self.all(sql, args)

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> Written:
        """Run one write; commits unless inside a transaction."""
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one write once per argument tuple, all together (one transaction)."""
        raise NotImplementedError

    defers: ClassVar[bool] = False
    """Whether :meth:`defer` queues a write without waiting for it (SQLite: one ordered
    queue to one connection, so a later read still sees it), rather than running it."""

    async def defer(self, sql: str, args: Iterable[Any] = ()) -> None:
        """Run one write whose answer nobody needs (a counter, a handled-marker): an
        engine may queue it to go with later statements (see :attr:`defers`); by default
        it runs now. :meth:`durable` and :meth:`settle` wait for queued writes."""
        await self.execute(sql, args)

    async def settle(self) -> None:
        """Wait until every write queued by :meth:`defer` has run (nothing by default)."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything inside happens together or not at all (see the engine)."""
        raise NotImplementedError

    async def tables(self) -> list[str]:
        """Haven's tables in this database (not the engine's own bookkeeping)."""
        raise NotImplementedError

    async def after_copy(self) -> None:
        """After rows were copied in with their ids: new ids continue after them."""

    # -- shared ----------------------------------------------------------------------------

    async def write(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one write: the new row id for an ``INSERT``, else the rows changed."""
        written = await self.execute(sql, args)
        return written.rowid if sql.lstrip().upper().startswith("INSERT") else written.rowcount

    @staticmethod
    def newer_schema(path: str, version: int, known: int) -> RuntimeError:
        """The error for a database made by a newer Haven."""
        return RuntimeError(
            f"database {path} has schema version {version}, newer than this Haven "
            f"understands ({known}); upgrade Haven or use a backup")


def _engine_for(target: str | Path) -> type[Database]:
    """The registered engine class for ``target`` (the subclasses in
    :mod:`bot.storage.sqlite` and :mod:`bot.storage.postgres`, which
    :mod:`bot.storage.database` imports)."""
    wanted = "postgresql" if is_postgres_url(target) else "sqlite"
    for engine in _subclasses(Database):
        if engine.engine == wanted:
            return engine
    raise DatabaseUnavailable(f"no {wanted} engine is loaded (import bot.storage.database)")


def _subclasses(cls: type[Database]) -> list[type[Database]]:
    found: list[type[Database]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found

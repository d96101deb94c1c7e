"""bot.storage.database: opening, migrations, statements and transactions, on both engines
(``db`` runs each test on SQLite and on a real PostgreSQL; ``sqlite_db`` is SQLite only)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.storage.database import BASE_MIGRATIONS, Database, Migration, PostgresDatabase


@pytest.fixture
async def db(db_target: str) -> AsyncIterator[Database]:
    d = await Database.open(db_target)
    yield d
    await d.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    d = await Database.open(tmp_path / "haven.db")
    yield d
    await d.close()


async def base_version(db: Database) -> int:
    """The base schema version, read the engine's own way."""
    if isinstance(db, PostgresDatabase):
        return int((await db.one("SELECT MAX(version) FROM haven_schema"))[0])
    return int((await db.one("PRAGMA user_version"))[0])


async def table_exists(db: Database, name: str) -> bool:
    if isinstance(db, PostgresDatabase):
        sql = "SELECT 1 FROM information_schema.tables WHERE table_name = ?"
    else:
        sql = "SELECT 1 FROM sqlite_master WHERE name = ?"
    return await db.one(sql, (name,)) is not None


async def keys_seen_by_another_connection(db: Database) -> list[str]:
    """The kv keys a second, independent connection sees (what is committed)."""
    if isinstance(db, PostgresDatabase):
        conn = await asyncpg.connect(db.path)
        try:
            return [r["key"] for r in await conn.fetch("SELECT key FROM kv ORDER BY key")]
        finally:
            await conn.close()
    with sqlite3.connect(db.path) as other:
        keys = [r[0] for r in other.execute("SELECT key FROM kv ORDER BY key")]
    other.close()
    return keys


async def kv(db: Database) -> dict[str, str]:
    return {r["key"]: r["value"] for r in await db.all("SELECT key, value FROM kv")}


async def put(db: Database, key: str, value: str = "v") -> int:
    return await db.write("INSERT INTO kv (key, value) VALUES (?, ?)", (key, value))


# -- opening and migrations -----------------------------------------------------------


async def test_open_migrates_and_sets_pragmas(sqlite_db: Database) -> None:
    db = sqlite_db
    assert (await db.one("PRAGMA user_version"))[0] == len(BASE_MIGRATIONS)
    assert (await db.one("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.one("PRAGMA foreign_keys"))[0] == 1
    assert (await db.one("PRAGMA busy_timeout"))[0] == 5000
    # no owned migrations: no extra table, the file is what the old Store made
    assert await db.one("SELECT name FROM sqlite_master WHERE name = 'schema_versions'") is None


OLD_STORE_V3 = [  # the statements the pre-repository Store ran, written with plain sqlite3
    "INSERT INTO kv VALUES ('sync', 's1')",
    "INSERT INTO members (community_id, user_id, name, first_seen) VALUES ('c1', 'u1', 'Ann', 1)",
    "INSERT INTO alerts (community_id, kind, member_id, created_at, updated_at, places) "
    "VALUES ('c1', 'crisis', 'u1', 1, 1, '[]')",
    "INSERT INTO jobs (community_id, kind, key, due_at, created_at) VALUES ('c1', 'k', 'a', 5, 1)",
]


async def test_a_file_made_by_the_old_store_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("PRAGMA journal_mode=WAL")
        for number, script in enumerate(BASE_MIGRATIONS[:3], start=1):
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        for sql in OLD_STORE_V3:
            old.execute(sql)
    old.close()
    db = await Database.open(path)
    try:
        # a file at version 3 is migrated (4: moderators' excerpt setting) and keeps its rows
        assert (await db.one("PRAGMA user_version"))[0] == len(BASE_MIGRATIONS)
        assert await kv(db) == {"sync": "s1"}
        assert (await db.one("SELECT name FROM members"))["name"] == "Ann"
        assert (await db.one("SELECT COUNT(*) FROM alerts"))[0] == 1
        assert (await db.one("SELECT key FROM jobs WHERE state = 'pending'"))["key"] == "a"
    finally:
        await db.close()


async def test_an_older_file_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as old:
        old.executescript(f"BEGIN;\n{BASE_MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
        old.execute("INSERT INTO kv VALUES ('k', 'v')")
    old.close()
    db = await Database.open(path)
    try:
        assert (await db.one("PRAGMA user_version"))[0] == len(BASE_MIGRATIONS)
        assert await kv(db) == {"k": "v"}
        assert await db.one("SELECT * FROM outbox") is None  # table exists now
    finally:
        await db.close()


async def test_a_newer_schema_is_refused_with_todays_message(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as new:
        new.execute(f"PRAGMA user_version = {len(BASE_MIGRATIONS) + 1}")
    new.close()
    with pytest.raises(RuntimeError, match=(
            rf"database .*new\.db has schema version {len(BASE_MIGRATIONS) + 1}, newer than "
            rf"this Haven understands \({len(BASE_MIGRATIONS)}\); upgrade Haven or use a backup")):
        await Database.open(path)


async def test_open_migrates_every_engine(db: Database) -> None:
    assert await base_version(db) == len(BASE_MIGRATIONS)
    assert await db.migrate() == len(BASE_MIGRATIONS)  # idempotent


async def test_an_empty_postgres_database_gets_only_the_base_schema(pg_url: str) -> None:
    db = await Database.open(pg_url)
    try:
        assert await base_version(db) == len(BASE_MIGRATIONS)
        assert await table_exists(db, "jobs")
        assert not await table_exists(db, "schema_versions")  # no owned migrations given
    finally:
        await db.close()


async def test_a_newer_postgres_schema_is_refused(pg_url: str) -> None:
    db = await Database.open(pg_url)
    await db.write("UPDATE haven_schema SET version = ?", (len(BASE_MIGRATIONS) + 1,))
    await db.close()
    with pytest.raises(RuntimeError, match=(
            rf"database postgresql://.* has schema version {len(BASE_MIGRATIONS) + 1}, newer "
            rf"than this Haven understands \({len(BASE_MIGRATIONS)}\)")):
        await Database.open(pg_url)


async def test_an_owned_migration_runs_once(db_target: str) -> None:
    path = db_target
    migrations = [Migration("raid", 2, "ALTER TABLE raid_waves ADD COLUMN note TEXT"),
                  Migration("raid", 1, "CREATE TABLE raid_waves (id INTEGER PRIMARY KEY)")]
    db = await Database.open(path, migrations)
    await db.write("INSERT INTO raid_waves (id, note) VALUES (1, 'x')")
    await db.close()
    db = await Database.open(path, migrations)  # again: nothing re-applied, row kept
    try:
        assert (await db.one("SELECT note FROM raid_waves"))["note"] == "x"
        assert (await db.one("SELECT version FROM schema_versions WHERE owner = 'raid'"))[0] == 2
        assert await base_version(db) == len(BASE_MIGRATIONS)
    finally:
        await db.close()


async def test_a_failing_owned_migration_changes_nothing(db_target: str) -> None:
    path = db_target
    with pytest.raises((sqlite3.OperationalError, asyncpg.PostgresError)):
        await Database.open(path, [Migration("x", 1, "CREATE TABLE t (a TEXT); SELECT nope FROM t")])
    db = await Database.open(path)
    try:
        assert not await table_exists(db, "t")
    finally:
        await db.close()


async def test_closed_database_raises(db_target: str) -> None:
    db = await Database.open(db_target)
    await db.close()
    await db.close()
    assert not db.is_open
    with pytest.raises(RuntimeError, match="not open"):
        await db.one("SELECT 1")


# -- statements -----------------------------------------------------------------------


async def test_write_returns_rowid_for_insert_else_rowcount(db: Database) -> None:
    await db.write("INSERT INTO handover (community_id, author_id, text, created_at) "
                   "VALUES ('c', 'a', 't', 1)")
    assert await db.write("INSERT INTO handover (community_id, author_id, text, created_at) "
                          "VALUES ('c', 'a', 't', 2)") == 2
    assert await db.write("UPDATE handover SET text = 'x'") == 2
    written = await db.execute("INSERT OR IGNORE INTO kv VALUES ('k', 'v')")
    assert written.rowcount == 1
    assert (await db.execute("INSERT OR IGNORE INTO kv VALUES ('k', 'v')")).rowcount == 0


async def test_writes_outside_a_transaction_commit_on_their_own(db: Database) -> None:
    await put(db, "a")
    assert await keys_seen_by_another_connection(db) == ["a"]  # seen at once


async def test_a_transaction_is_seen_by_others_only_once_committed(db: Database) -> None:
    async with db.transaction():
        await put(db, "a")
        if isinstance(db, PostgresDatabase):  # (SQLite's other connection would wait)
            assert await keys_seen_by_another_connection(db) == []
    assert await keys_seen_by_another_connection(db) == ["a"]


async def test_executemany_writes_all_or_nothing(db: Database) -> None:
    await db.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2")])
    await db.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [])
    assert await kv(db) == {"a": "1", "b": "2"}
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await db.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [("c", "3"), ("a", "x")])
    assert await kv(db) == {"a": "1", "b": "2"}


async def test_insert_or_ignore_and_returning_ids_read_the_same(db: Database) -> None:
    first = await db.execute("INSERT OR IGNORE INTO tracked_posts (community_id, channel_id, "
                             "message_id, author_id, posted_at) VALUES (?, ?, ?, ?, ?)",
                             ("c", "ch", "m1", "u", 1.0))
    again = await db.execute("INSERT OR IGNORE INTO tracked_posts (community_id, channel_id, "
                             "message_id, author_id, posted_at) VALUES (?, ?, ?, ?, ?)",
                             ("c", "ch", "m1", "u", 2.0))
    assert (first.rowid, first.rowcount) == (1, 1)
    assert again.rowcount == 0
    row = await db.one("SELECT id, posted_at, message_id FROM tracked_posts")
    assert dict(row) == {"id": 1, "posted_at": 1.0, "message_id": "m1"}
    assert (row[0], row["message_id"]) == (1, "m1")
    assert isinstance(row["posted_at"], float) and isinstance(row["id"], int)
    # a question mark inside a string literal is text, not a placeholder
    await db.write("INSERT INTO kv (key, value) VALUES ('why?', ?)", ("because",))
    assert await kv(db) == {"why?": "because"}


# -- transactions ---------------------------------------------------------------------


async def test_transaction_commits_together(db: Database) -> None:
    async with db.transaction():
        await put(db, "a")
        await put(db, "b")
    assert await kv(db) == {"a": "v", "b": "v"}


async def test_rollback_leaves_nothing(db: Database) -> None:
    await put(db, "before")
    with pytest.raises(ZeroDivisionError):
        async with db.transaction():
            await put(db, "a")
            await db.write("UPDATE kv SET value = 'changed' WHERE key = 'before'")
            _ = 1 / 0
    assert await kv(db) == {"before": "v"}
    await put(db, "after")  # the database is usable after a rollback
    assert await kv(db) == {"before": "v", "after": "v"}


async def test_a_failing_statement_rolls_back_the_whole_transaction(db: Database) -> None:
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        async with db.transaction():
            await put(db, "a")
            await put(db, "a")  # primary key clash
    assert await kv(db) == {}


async def test_nested_transaction_is_a_savepoint(db: Database) -> None:
    async with db.transaction():
        await put(db, "outer")
        with pytest.raises(KeyError):
            async with db.transaction():
                await put(db, "inner")
                raise KeyError("x")
        async with db.transaction():
            await put(db, "inner2")
    assert await kv(db) == {"outer": "v", "inner2": "v"}


async def test_outer_rollback_undoes_a_released_savepoint(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction():
            async with db.transaction():
                await put(db, "inner")
            raise RuntimeError("late")
    assert await kv(db) == {}


async def test_a_second_tasks_write_waits_for_the_transaction(sqlite_db: Database) -> None:
    db = sqlite_db
    inside = asyncio.Event()
    release = asyncio.Event()

    async def long_transaction() -> None:
        async with db.transaction():
            await put(db, "a")
            inside.set()
            await release.wait()
            await put(db, "b")
            raise ValueError("undo")

    first = asyncio.create_task(long_transaction())
    await inside.wait()
    second = asyncio.create_task(put(db, "other"))
    reader = asyncio.create_task(kv(db))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not second.done() and not reader.done()  # waiting for the lock
    release.set()
    with pytest.raises(ValueError):
        await first
    await second
    # the reader (queued after the other write) never saw the uncommitted rows, and the
    # other write was not rolled back with the transaction
    assert await reader == {"other": "v"}
    assert await kv(db) == {"other": "v"}


async def test_a_second_tasks_write_does_not_land_in_the_transaction(db: Database) -> None:
    """On both engines: another task's write is not rolled back with our transaction and
    no reader sees our uncommitted rows (PostgreSQL runs it at once on another
    connection; SQLite makes it wait)."""
    inside = asyncio.Event()
    release = asyncio.Event()

    async def long_transaction() -> None:
        async with db.transaction():
            await put(db, "a")
            inside.set()
            await release.wait()
            raise ValueError("undo")

    first = asyncio.create_task(long_transaction())
    await inside.wait()
    second = asyncio.create_task(put(db, "other"))
    reader = asyncio.create_task(kv(db))
    if isinstance(db, PostgresDatabase):
        await asyncio.wait_for(asyncio.gather(second, reader), 10)
        assert reader.result() in ({}, {"other": "v"})
    release.set()
    with pytest.raises(ValueError):
        await first
    await second
    assert "a" not in await reader
    assert await kv(db) == {"other": "v"}


async def test_a_locked_row_is_read_modify_written_without_losing_updates(db: Database) -> None:
    await put(db, "n", "0")

    async def bump() -> None:
        async with db.transaction():
            row = await db.one_for_update("SELECT value FROM kv WHERE key = ?", ("n",))
            await asyncio.sleep(0)
            await db.write("UPDATE kv SET value = ? WHERE key = ?", (str(int(row[0]) + 1), "n"))

    await asyncio.gather(*(bump() for _ in range(6)))
    assert await kv(db) == {"n": "6"}


async def test_workers_claiming_rows_with_skip_locked_never_share_one(db: Database) -> None:
    for i in range(6):
        await put(db, f"job{i}")
    claimed: list[list[str]] = []
    both_inside = asyncio.Barrier(2) if isinstance(db, PostgresDatabase) else None

    async def worker() -> None:
        async with db.transaction():
            rows = await db.all_for_update("SELECT key FROM kv ORDER BY key LIMIT 3", (),
                                           skip_locked=True)
            mine = [r["key"] for r in rows]
            for key in mine:
                await db.write("DELETE FROM kv WHERE key = ?", (key,))
            claimed.append(mine)
            if both_inside is not None:  # PostgreSQL: the two transactions overlap
                await asyncio.wait_for(both_inside.wait(), 10)

    await asyncio.gather(worker(), worker())
    assert sorted(k for mine in claimed for k in mine) == [f"job{i}" for i in range(6)]
    assert await kv(db) == {}


async def test_two_transactions_in_two_tasks_run_one_after_the_other(sqlite_db: Database) -> None:
    db = sqlite_db
    order: list[str] = []

    async def work(name: str) -> None:
        async with db.transaction():
            order.append(f"{name}:begin")
            await put(db, name)
            await asyncio.sleep(0)
            order.append(f"{name}:end")

    await asyncio.gather(work("x"), work("y"))
    assert order in (["x:begin", "x:end", "y:begin", "y:end"],
                     ["y:begin", "y:end", "x:begin", "x:end"])
    assert await kv(db) == {"x": "v", "y": "v"}


# -- durability: commits survive a crash at once, a power cut after durable() ---------------


async def test_commits_skip_fsync_and_durable_syncs_them_once(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.storage.sqlite as database

    db = sqlite_db

    synced: list[str] = []
    monkeypatch.setattr(database, "_fsync_log", synced.append)
    assert (await db.one("PRAGMA synchronous"))[0] == 1  # NORMAL: no fsync per commit
    await db.durable()
    assert len(synced) == 1  # the migrations' commits
    await db.durable()
    assert len(synced) == 1  # nothing new: nothing to do
    await put(db, "a")
    async with db.transaction():
        await put(db, "b")
    await asyncio.gather(db.durable(), db.durable(), db.durable())
    assert synced == [db.path, db.path]  # two commits, three callers, one fsync
    assert db.fsyncs == 2


async def test_durable_really_fsyncs_the_log(sqlite_db: Database,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    db = sqlite_db

    fds: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fds.append(fd), real(fd))[1])
    await put(db, "a")
    await db.durable()
    assert len(fds) == 1


async def test_a_write_returning_rows_counts_for_durable(sqlite_db: Database,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.storage.sqlite as database

    db = sqlite_db

    synced: list[str] = []
    monkeypatch.setattr(database, "_fsync_log", synced.append)
    await db.durable()
    row = await db.one("INSERT INTO kv (key, value) VALUES ('k', 'v') RETURNING key")
    assert row["key"] == "k"
    await db.all("SELECT * FROM kv")  # a read: nothing new to sync
    await db.durable()
    assert len(synced) == 2
    with sqlite3.connect(db.path) as other:  # committed by itself
        assert other.execute("SELECT value FROM kv WHERE key = 'k'").fetchone() == ("v",)


async def test_durable_is_nothing_to_do_where_every_commit_is_durable(db: Database) -> None:
    """PostgreSQL commits are durable when they return; SQLite syncs its log once."""
    await put(db, "a")
    await db.durable()
    await db.durable()
    assert await kv(db) == {"a": "v"}


async def test_sqlite_statements_of_several_tasks_share_one_hop(sqlite_db: Database) -> None:
    """Statements queued in one turn of the event loop go to aiosqlite's thread together
    (one hop there and back), in order; each commits on its own and a failing one fails
    alone."""
    db = sqlite_db
    before = db.hops  # type: ignore[attr-defined]
    results = await asyncio.gather(
        put(db, "a"), db.one("SELECT value FROM kv WHERE key = 'a'"),
        db.one("SELECT nothing FROM no_such_table"), put(db, "b"), db.all("SELECT key FROM kv"),
        return_exceptions=True)
    assert db.hops - before == 1  # type: ignore[attr-defined]
    assert results[1]["value"] == "v"  # the write queued before it is seen
    assert isinstance(results[2], sqlite3.OperationalError)
    assert [r["key"] for r in results[4]] == ["a", "b"]
    assert await keys_seen_by_another_connection(db) == ["a", "b"]  # both committed


async def traced(db: Database, statements: list[str]) -> None:
    """Record every SQL statement SQLite runs (``BEGIN``/``COMMIT`` included) in ``statements``."""
    await db.connection.set_trace_callback(statements.append)  # type: ignore[attr-defined]


async def test_sqlite_writes_of_one_hop_share_one_commit(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group commit: the writes (and reads) of one hop outside any transaction run in one
    ``BEGIN IMMEDIATE .. COMMIT``, counted once for ``durable``; callers hear back after it."""
    import bot.storage.sqlite as database

    db = sqlite_db
    synced: list[str] = []
    monkeypatch.setattr(database, "_fsync_log", synced.append)
    await db.durable()
    statements: list[str] = []
    await traced(db, statements)
    commits, hops = db._commits, db.hops  # type: ignore[attr-defined]
    results = await asyncio.gather(put(db, "a"), db.one("SELECT value FROM kv WHERE key = 'a'"),
                                   put(db, "b"), put(db, "c"))
    assert await keys_seen_by_another_connection(db) == ["a", "b", "c"]  # committed when answered
    assert db.hops - hops == 1  # type: ignore[attr-defined]
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert results[1]["value"] == "v"  # the read saw the write before it, in the group
    assert db._commits - commits == 1  # type: ignore[attr-defined]
    for key in ("d", "e", "f"):
        await db.defer("INSERT INTO kv (key, value) VALUES (?, 'v')", (key,))
    await db.durable()
    assert statements.count("COMMIT") == 2  # the three deferred writes: one more group
    assert db._commits - commits == 2  # type: ignore[attr-defined]
    assert len(synced) == 2  # one fsync covers both groups
    await db.all("SELECT key FROM kv")
    await db.durable()
    assert len(synced) == 2  # a read committed nothing: nothing to sync


async def test_sqlite_a_write_counts_for_durable_once_it_has_committed(sqlite_db: Database) -> None:
    """``durable`` syncs up to the commits counted so far: a deferred write still queued
    must not count yet (else a ``durable`` running meanwhile would mark it synced before
    it is even written, and the next caller's ``durable`` would skip its ``fsync``)."""
    db = sqlite_db
    await db.durable()
    before = db._commits  # type: ignore[attr-defined]
    await db.defer("INSERT INTO kv (key, value) VALUES ('q', 'v')")
    assert db._commits == before  # type: ignore[attr-defined]  # queued, not committed
    await db.settle()
    assert db._commits == before + 1  # type: ignore[attr-defined]


async def test_sqlite_a_failing_write_in_a_group_fails_alone(sqlite_db: Database) -> None:
    """Three writes in one hop, the middle one breaking a constraint: the group is rolled
    back and each runs again on its own; the middle one's caller gets the error, the other
    two are committed."""
    db = sqlite_db
    await put(db, "taken")
    statements: list[str] = []
    await traced(db, statements)
    commits = db._commits  # type: ignore[attr-defined]
    results = await asyncio.gather(put(db, "a"), put(db, "taken"), put(db, "c"),
                                   return_exceptions=True)
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert await keys_seen_by_another_connection(db) == ["a", "c", "taken"]
    assert statements[0] == "BEGIN IMMEDIATE" and "ROLLBACK" in statements
    assert db._commits - commits == 2  # type: ignore[attr-defined]  # a and c, each alone
    assert db.deferred_failures == 0  # type: ignore[attr-defined]
    await db.defer("INSERT INTO kv (key, value) VALUES ('d', 'v')")
    await db.defer("INSERT INTO kv (key, value) VALUES ('taken', 'v')")
    await db.defer("INSERT INTO kv (key, value) VALUES ('e', 'v')")
    await db.settle()
    assert db.deferred_failures == 1  # type: ignore[attr-defined]
    assert await keys_seen_by_another_connection(db) == ["a", "c", "d", "e", "taken"]


async def test_sqlite_a_group_whose_commit_fails_runs_again_one_by_one(sqlite_db: Database) -> None:
    """A constraint checked only at ``COMMIT`` (a deferred foreign key) fails the whole
    group's commit: each statement runs again alone and only the offending one fails."""
    db = sqlite_db
    await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await db.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER "
                     "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    statements: list[str] = []
    await traced(db, statements)
    results = await asyncio.gather(put(db, "a"), db.write("INSERT INTO child (parent) VALUES (42)"),
                                   put(db, "b"), return_exceptions=True)
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert "COMMIT" in statements and "ROLLBACK" in statements
    assert await keys_seen_by_another_connection(db) == ["a", "b"]
    assert await db.all("SELECT id FROM child") == []


async def test_sqlite_a_transaction_in_the_hop_commits_the_group_first(sqlite_db: Database) -> None:
    """A task's own transaction queued behind grouped statements in the same hop: the group
    commits first (so it is not rolled back with the transaction), then the transaction
    begins on its own."""
    db = sqlite_db
    statements: list[str] = []
    await traced(db, statements)

    async def failing() -> None:
        async with db.transaction():
            await put(db, "t")
            raise RuntimeError("roll back")

    results = await asyncio.gather(put(db, "a"), put(db, "b"), failing(), return_exceptions=True)
    assert isinstance(results[2], RuntimeError)
    assert await keys_seen_by_another_connection(db) == ["a", "b"]
    assert statements.count("BEGIN IMMEDIATE") == 2
    assert statements.index("COMMIT") < statements.index("BEGIN IMMEDIATE", 1)
    assert statements[-1] == "ROLLBACK"


async def test_sqlite_pragmas_and_schema_changes_run_alone(sqlite_db: Database) -> None:
    """Statements that cannot (or should not) run inside a transaction are never grouped."""
    db = sqlite_db
    statements: list[str] = []
    await traced(db, statements)
    await asyncio.gather(put(db, "a"), db.execute("PRAGMA foreign_keys=OFF"), put(db, "b"),
                         db.execute("CREATE TABLE extra (x INTEGER)"), put(db, "c"))
    assert "BEGIN IMMEDIATE" not in statements  # no two writes next to each other
    assert (await db.one("PRAGMA foreign_keys"))[0] == 0  # took effect: not inside a transaction
    await db.execute("PRAGMA foreign_keys=ON")
    assert await keys_seen_by_another_connection(db) == ["a", "b", "c"]


async def test_sqlite_a_hop_needs_no_task_of_its_own(sqlite_db: Database) -> None:
    """A hop goes straight onto aiosqlite's queue: no task is made around it (each would
    cost two more turns of the event loop for every hop)."""
    db = sqlite_db
    loop = asyncio.get_running_loop()
    made: list[object] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> asyncio.Task:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        hops = db.hops  # type: ignore[attr-defined]
        for key in ("a", "b", "c"):
            await put(db, key)
            await db.defer("UPDATE kv SET value = 'w' WHERE key = ?", (key,))
        assert (await db.one("SELECT value FROM kv WHERE key = 'c'"))["value"] == "w"
        assert db.hops - hops >= 4  # type: ignore[attr-defined]
    finally:
        loop.set_task_factory(None)
    assert made == []


async def test_sqlite_statement_of_another_task_waits_for_a_transaction(sqlite_db: Database) -> None:
    db = sqlite_db
    order: list[str] = []

    async def in_transaction() -> None:
        async with db.transaction():
            await put(db, "t1")
            await asyncio.sleep(0.01)
            order.append("t")
            await put(db, "t2")
            raise RuntimeError("roll back")

    async def alone() -> None:
        await asyncio.sleep(0)
        await put(db, "alone")
        order.append("alone")

    results = await asyncio.gather(in_transaction(), alone(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert order == ["t", "alone"]
    assert sorted(await kv(db)) == ["alone"]  # not rolled back with the other task's work


async def test_a_deferred_write_is_queued_in_order_and_settled(sqlite_db: Database) -> None:
    """``defer``: nobody waits for it, yet a later read sees it, and ``settle`` and
    ``durable`` wait until it has committed."""
    db = sqlite_db
    assert db.defers
    await db.defer("INSERT INTO kv (key, value) VALUES (?, ?)", ("d1", "v"))
    assert (await kv(db))["d1"] == "v"  # queued behind the write: sees it
    await db.defer("INSERT INTO kv (key, value) VALUES (?, ?)", ("d2", "v"))
    await db.durable()  # store first, then act: the deferred write is on disk too
    assert await keys_seen_by_another_connection(db) == ["d1", "d2"]
    assert db.fsyncs >= 1  # type: ignore[attr-defined]


async def test_a_failing_deferred_write_is_logged_without_its_values(
        sqlite_db: Database, caplog: pytest.LogCaptureFixture) -> None:
    db = sqlite_db
    await put(db, "k")
    await db.defer("INSERT INTO kv (key, value) VALUES (?, ?)", ("k", "secret text"))
    await db.settle()
    assert db.deferred_failures == 1  # type: ignore[attr-defined]
    assert "deferred write (INSERT INTO kv" in caplog.text
    assert "secret" not in caplog.text


async def test_a_deferred_write_inside_a_transaction_is_part_of_it(sqlite_db: Database) -> None:
    db = sqlite_db
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.defer("INSERT INTO kv (key, value) VALUES (?, ?)", ("t", "v"))
            raise RuntimeError("roll back")
    await db.settle()
    assert await kv(db) == {}


async def test_a_sqlite_transaction_begins_in_its_first_statements_hop(sqlite_db: Database) -> None:
    db = sqlite_db
    before = db.hops  # type: ignore[attr-defined]
    async with db.transaction():
        await put(db, "a")  # BEGIN IMMEDIATE goes with it
        await put(db, "b")
    assert db.hops - before == 3  # type: ignore[attr-defined]  # (BEGIN, a), b, COMMIT
    assert await keys_seen_by_another_connection(db) == ["a", "b"]
    before = db.hops  # type: ignore[attr-defined]
    async with db.transaction():
        pass  # nothing ran inside: no BEGIN, no COMMIT
    assert db.hops == before  # type: ignore[attr-defined]


async def test_a_sqlite_savepoint_rides_with_the_statements_around_it(sqlite_db: Database) -> None:
    db = sqlite_db
    before = db.hops  # type: ignore[attr-defined]
    async with db.transaction():
        async with db.transaction():
            await put(db, "a")  # BEGIN IMMEDIATE and SAVEPOINT go with it
            async with db.transaction():
                pass  # ran nothing: no SAVEPOINT, no RELEASE
        await put(db, "b")  # the RELEASE goes with it
        async with db.transaction():
            await put(db, "c")
        # the last RELEASE is left to the COMMIT
    assert db.hops - before == 4  # type: ignore[attr-defined]  # (a), (b), (c), COMMIT
    assert await keys_seen_by_another_connection(db) == ["a", "b", "c"]
    before = db.hops  # type: ignore[attr-defined]
    async with db.transaction():
        await put(db, "d")
        with pytest.raises(KeyError):
            async with db.transaction():
                await put(db, "e")
                async with db.transaction():
                    await put(db, "f")
                raise KeyError("undo e and f")
        with pytest.raises(KeyError):
            async with db.transaction():
                raise KeyError("ran nothing: nothing to roll back")
        await put(db, "g")
    # (d), (e), (f), ROLLBACK TO, (g), COMMIT
    assert db.hops - before == 6  # type: ignore[attr-defined]
    assert await keys_seen_by_another_connection(db) == ["a", "b", "c", "d", "g"]


async def test_when_begin_fails_nothing_in_the_transaction_commits_alone(
        sqlite_db: Database) -> None:
    db = sqlite_db
    await db.execute("PRAGMA busy_timeout=0")
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        async with db.transaction():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await put(db, "a")  # its BEGIN failed
            with pytest.raises(sqlite3.OperationalError, match="not open"):
                await put(db, "b")  # a caller carrying on cannot commit it on its own
    finally:
        other.rollback()
        other.close()
    assert await kv(db) == {}

"""bot.storage.inline: SQLite run on the loop's thread behind aiosqlite's interface."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage import inline


async def test_statements_cursors_and_transactions(tmp_path: Path) -> None:
    conn = await inline.connect(str(tmp_path / "x.db"))
    conn.row_factory = sqlite3.Row
    await conn.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);")
    cur = await conn.execute("INSERT INTO t (v) VALUES (?)", ("a",))
    assert cur.lastrowid == 1 and cur.rowcount == 1
    assert not conn.in_transaction  # autocommit: a statement on its own commits by itself
    async with conn.execute("SELECT v FROM t WHERE id = ?", (1,)) as cur:
        row = await cur.fetchone()
    assert row["v"] == "a"
    await conn.execute("BEGIN IMMEDIATE")
    await conn.execute("INSERT INTO t (v) VALUES ('b')")
    assert conn.in_transaction
    await conn.rollback()
    async with conn.execute("SELECT COUNT(*) FROM t") as cur:
        assert (await cur.fetchall())[0][0] == 1
    statements: list[str] = []
    await conn.set_trace_callback(statements.append)
    await conn.execute("SELECT 1")
    assert statements == ["SELECT 1"]
    await conn.close()


def test_a_statement_finishes_without_suspending() -> None:
    """No thread hop: the coroutine completes on its first step."""

    async def run() -> int:
        conn = await inline.connect(":memory:")
        async with conn.execute("SELECT 41 + 1") as cur:
            row = await cur.fetchone()
        await conn.close()
        return int(row[0])

    coro = run()
    try:
        coro.send(None)
    except StopIteration as done:
        assert done.value == 42
    else:  # pragma: no cover - it suspended
        coro.close()
        raise AssertionError("the statement waited for another thread")

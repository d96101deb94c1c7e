"""bot.storage.copy and ``haven db copy``: a Haven's SQLite rows moved into PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.app import feature_migrations
from bot.storage.copy import BOOKKEEPING, CopyRefused, copy_database
from bot.storage.database import Database, PostgresDatabase
from bot.storage.store import Store, member_data_migrations
from tests.conftest import BASE_CONFIG, TEST_RULES, Harness, make_config
from tests.fakes import member, post

MIGRATIONS = (*member_data_migrations(), *feature_migrations())


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every Haven table's rows, in a stable order."""
    return {t: sorted((tuple(r) for r in await db.all(f"SELECT * FROM {t}")), key=repr)
            for t in await db.tables() if t not in BOOKKEEPING}


async def a_used_sqlite_haven(tmp_path: Path) -> str:
    """A SQLite database after a real Haven handled a crisis, a support post and a case."""
    harness = Harness(make_config(tmp_path))
    core = await harness.start()
    now = harness.clock.now()
    await core.handle(post("i want to kill myself", now, author=member("cas", "Casey"),
                           where="vent"))
    await core.handle(post("anyone around? rough day", now, author=member("ann", "Ann"),
                           where="support"))
    await core.store.cases.add_case("c1", "warn", "r1", "rude", "mod", "Mo", "u2", "Bob", now)
    await core.advance(3 * 3600)
    await harness.stop()
    return harness.config.database


async def test_every_row_is_copied_with_its_ids_and_new_ids_follow(tmp_path: Path,
                                                                   pg_url: str) -> None:
    source = await a_used_sqlite_haven(tmp_path)
    copied = await copy_database(source, pg_url, MIGRATIONS)
    assert copied["alerts"] == 1 and copied["jobs"] >= 1 and copied["members"] >= 2
    lite = await Database.open(source, MIGRATIONS)
    pg = await Database.open(pg_url, MIGRATIONS)
    try:
        assert await dump(pg) == await dump(lite)
    finally:
        await lite.close()
        await pg.close()
    store = await Store.open(pg_url, MIGRATIONS)
    try:
        assert (await store.alerts.get_alert(1)).member_id == "cas"
        new = await store.alerts.create_alert("c1", "crisis", "u9", "X", "ch", "vent", "m9", "",
                                              None, "r", "high", 1.0)
        assert new == 2  # numbers go on after the copied ones
    finally:
        await store.close()


async def test_a_target_with_data_is_refused_and_left_alone(tmp_path: Path, pg_url: str) -> None:
    source = await a_used_sqlite_haven(tmp_path)
    store = await Store.open(pg_url, MIGRATIONS)
    await store.kv.set("mine", "1")
    await store.close()
    with pytest.raises(CopyRefused, match="already holds data"):
        await copy_database(source, pg_url, MIGRATIONS)
    store = await Store.open(pg_url, MIGRATIONS)
    try:
        assert await store.alerts.get_alert(1) is None and await store.kv.get("mine") == "1"
    finally:
        await store.close()


async def test_a_copy_failing_half_way_leaves_the_target_empty(tmp_path: Path, pg_url: str,
                                                               monkeypatch) -> None:
    source = await a_used_sqlite_haven(tmp_path)

    async def broken(self: PostgresDatabase) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(PostgresDatabase, "after_copy", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await copy_database(source, pg_url, MIGRATIONS)
    pg = await Database.open(pg_url, MIGRATIONS)
    try:
        assert all(rows == [] for rows in (await dump(pg)).values())
    finally:
        await pg.close()


async def test_haven_db_copy_from_the_command_line(tmp_path: Path, pg_url: str, capsys) -> None:
    source = await a_used_sqlite_haven(tmp_path / "old")
    config = tmp_path / "haven.yaml"
    config.write_text(BASE_CONFIG.format(db=pg_url, rules=TEST_RULES))
    code = await asyncio.to_thread(cli.main, ["db", "copy", "--config", str(config),
                                              "--from", source])
    assert code == 0
    assert "copied " in capsys.readouterr().out
    again = await asyncio.to_thread(cli.main, ["db", "copy", "--config", str(config),
                                               "--from", source])
    assert again == 1
    assert "nothing copied: the target already holds data" in capsys.readouterr().err
    missing = await asyncio.to_thread(cli.main, ["db", "copy", "--config", str(config),
                                                 "--from", str(tmp_path / "nope.db")])
    assert missing == 1

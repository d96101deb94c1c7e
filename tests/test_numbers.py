"""Numbers readable per community (issue 11): each community's alerts, cases and digests
count 1, 2, 3 ... on their own, on both engines, also with two connections (two
processes) writing at once, and an older database is numbered when it migrates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import postgres, sqlite
from bot.storage.database import Database
from bot.storage.repositories import AlertsRepository, CasesRepository, DigestRepository
from bot.storage.repositories.counters import last_number, next_number
from bot.storage.repositories.digest import MIGRATIONS as DIGEST_MIGRATIONS
from bot.storage.schema import BASE_MIGRATIONS
from bot.storage.store import Store, member_data_migrations
from tests.pg import PgServer

T0 = 1_000_000.0


@pytest.fixture
async def db(db_target: str) -> AsyncIterator[Database]:
    d = await Database.open(db_target, member_data_migrations())  # the digest's tables too
    yield d
    await d.close()


async def _alert(alerts: AlertsRepository, community: str, member: str = "u1") -> tuple[int, int]:
    a = await alerts.open_alert(community, "crisis", member, "Ann", "ch", "support", "m1", "l",
                                "x", "r", "high", T0)
    return a.id, a.number


async def _case(cases: CasesRepository, community: str) -> tuple[int, int]:
    c = await cases.record_case(community, "warn", "r", "why", "mod", "Mo", "u1", "Ann", T0)
    return c.id, c.number


async def test_each_community_counts_its_alerts_cases_and_digests_from_one(db: Database) -> None:
    alerts, cases, digests = AlertsRepository(db), CasesRepository(db), DigestRepository(db)
    seen: dict[str, list[tuple[int, int, int]]] = {"a": [], "b": []}
    for community in ("a", "b", "a", "a", "b", "a"):  # interleaved
        _, alert = await _alert(alerts, community)
        _, case = await _case(cases, community)
        digest = await digests.create_digest(community, T0, [])
        seen[community].append((alert, case, digest.number))
    assert seen["a"] == [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4)]
    assert seen["b"] == [(1, 1, 1), (2, 2, 2)]
    # lookups by number stay inside their community
    b2 = await alerts.alert_by_number("b", 2)
    assert b2 is not None and b2.community_id == "b" and b2.number == 2
    assert await alerts.alert_by_number("b", 3) is None
    assert (await cases.case_by_number("a", 4)).community_id == "a"
    assert await cases.case_by_number("b", 4) is None
    # the ids (the store's keys) are unique across communities, the numbers are not
    assert (await alerts.alert_by_number("a", 2)).id != b2.id
    assert await last_number(db, "a", "alert") == 4 and await last_number(db, "c", "case") == 0
    # the old entry points keep answering the id
    aid = await alerts.create_alert("b", "crisis", "u", "U", "", "", "", "", None, "r", "high", T0)
    assert (await alerts.get_alert(aid)).number == 3
    cid = await cases.add_case("b", "note", None, "n", "mod", "Mo", "u", "U", T0)
    assert (await cases.get_case("b", cid)).number == 3


async def test_a_rolled_back_insert_gives_its_number_back(db: Database) -> None:
    alerts, cases = AlertsRepository(db), CasesRepository(db)
    await _alert(alerts, "a")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await _alert(alerts, "a")
            await _case(cases, "a")
            raise RuntimeError("the event's handling failed")
    assert (await _alert(alerts, "a"))[1] == 2
    assert (await _case(cases, "a"))[1] == 1
    assert [a.number for a in await alerts.alerts_by_state("a", ("open",))] == [1, 2]


async def test_two_connections_writing_at_once_never_share_a_number(db_target: str,
                                                                     db: Database) -> None:
    # two Database objects on one database: what two Haven processes have
    first = await Database.open(db_target, member_data_migrations())
    second = await Database.open(db_target, member_data_migrations())
    try:
        async def burst(d: Database, n: int) -> list[tuple[str, int]]:
            alerts, cases = AlertsRepository(d), CasesRepository(d)
            digests = DigestRepository(d)
            out = []
            for i in range(n):
                out.append(("alert", (await _alert(alerts, "shared", f"u{i}"))[1]))
                out.append(("case", (await _case(cases, "shared"))[1]))
                out.append(("digest", (await digests.create_digest("shared", T0, [])).number))
            return out

        got = await asyncio.gather(burst(first, 15), burst(second, 15), burst(first, 5))
    finally:
        await first.close()
        await second.close()
    for kind in ("alert", "case", "digest"):
        numbers = sorted(n for run in got for k, n in run if k == kind)
        assert numbers == list(range(1, 36)), kind  # distinct and consecutive
    for run in got:  # each writer sees its own numbers rise
        mine = [n for k, n in run if k == "alert"]
        assert mine == sorted(mine)


async def test_next_number_counts_per_kind(db: Database) -> None:
    async with db.transaction():
        assert [await next_number(db, "x", "alert") for _ in range(3)] == [1, 2, 3]
        assert await next_number(db, "x", "case") == 1
        assert await next_number(db, "y", "alert") == 1


# -- an older database ---------------------------------------------------------------------


async def _open_at_schema_5(target: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    """``target`` opened as Haven did before numbers per community (schema 5, digest 1)."""
    with monkeypatch.context() as patch:
        patch.setattr(sqlite, "BASE_MIGRATIONS", BASE_MIGRATIONS[:5])
        patch.setattr(postgres, "BASE_MIGRATIONS", BASE_MIGRATIONS[:5])
        old = [m for m in member_data_migrations() if m.owner != "digest"]
        return await Database.open(target, [*old, DIGEST_MIGRATIONS[0]])


@pytest.fixture
async def old_target(engine: str, tmp_path: Path,
                     request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty database of ``engine``."""
    if engine == "sqlite":
        yield str(tmp_path / "old.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = await server.create_database()
    yield server.url(name)
    await server.drop_database(name)


async def test_an_older_database_gets_numbers_per_community_in_order(
        old_target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old = await _open_at_schema_5(old_target, monkeypatch)
    try:
        assert "counters" not in await old.tables()
        for i, community in enumerate(("a", "b", "a", "b", "b", "a", "a")):  # ids 1..7
            await old.execute(
                "INSERT INTO alerts (community_id, kind, member_id, created_at, updated_at) "
                "VALUES (?, 'crisis', ?, ?, ?)", (community, f"u{i}", T0 + i, T0 + i))
            await old.execute(
                "INSERT INTO cases (community_id, action, actor_id, target_id, created_at) "
                "VALUES (?, 'warn', 'mod', ?, ?)", (community, f"u{i}", T0 + i))
        await old.execute("DELETE FROM cases WHERE id = 3")  # a gap: a case rolled back
        for community, number in (("a", 1), ("a", 2), ("b", 1)):
            await old.execute("INSERT INTO digests (community_id, number, due_at) "
                              "VALUES (?, ?, ?)", (community, number, T0))
    finally:
        await old.close()

    store = await Store.open(old_target)
    try:
        rows = await store.alerts.alerts_by_state("a", ("open",))
        assert [(a.id, a.number) for a in rows] == [(1, 1), (3, 2), (6, 3), (7, 4)]
        rows = await store.alerts.alerts_by_state("b", ("open",))
        assert [(a.id, a.number) for a in rows] == [(2, 1), (4, 2), (5, 3)]
        cases = await store.cases.cases_since("a", 0)
        assert [(c.id, c.number) for c in cases] == [(1, 1), (6, 2), (7, 3)]
        # the counters start after the rows already there
        new = await store.alerts.open_alert("a", "crisis", "u", "U", "", "", "", "", None,
                                            "r", "high", T0)
        assert new.number == 5 and new.id == 8
        assert (await store.cases.record_case("b", "note", None, "", "m", "M", "u", "U",
                                              T0)).number == 4
        digests = DigestRepository(store.database)
        assert (await digests.create_digest("a", T0, [])).number == 3
        assert (await digests.create_digest("b", T0, [])).number == 2
        assert (await digests.create_digest("c", T0, [])).number == 1
        # a number is given once per community: the unique index guards it
        with pytest.raises(Exception):  # noqa: B017 - each engine raises its own error
            await store.database.execute(
                "INSERT INTO alerts (community_id, kind, member_id, created_at, updated_at, "
                "number) VALUES ('a', 'crisis', 'u', 0, 0, 5)")
    finally:
        await store.close()

"""Numbers readable per community (issue 11): each community's alerts, cases and digests
count 1, 2, 3 ... on their own, on both engines, also with two connections (two
processes) writing at once, and an older database is numbered when it migrates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.events import ButtonPressed, CommandInvoked
from bot.storage import postgres, sqlite
from bot.storage.database import Database
from bot.storage.repositories import AlertsRepository, CasesRepository, DigestRepository
from bot.storage.repositories.counters import last_number, next_number
from bot.storage.repositories.digest import MIGRATIONS as DIGEST_MIGRATIONS
from bot.storage.schema import BASE_MIGRATIONS
from bot.storage.store import Store, member_data_migrations
from tests.conftest import Harness, make_config
from tests.dashboard_helpers import Dash, dash, flashes
from tests.fakes import MOD, channel, command, member, post
from tests.pg import PgServer

T0 = 1_000_000.0
__all__ = ["dash"]  # the fixture


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
    for odd in (0, -1, 2**63, 10**30):  # typed by someone: nothing found, nothing fails
        assert await alerts.alert_by_number("a", odd) is None
        assert await cases.case_by_number("a", odd) is None
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
        await old.execute("UPDATE alerts SET messages = '[{\"message_id\": \"x\"}]' "
                          "WHERE id IN (1, 3, 4)")
        await old.execute("UPDATE alerts SET state = 'resolved' WHERE id = 4")
        for community, number in (("a", 1), ("a", 2), ("b", 1)):
            await old.execute("INSERT INTO digests (community_id, number, due_at) "
                              "VALUES (?, ?, ?)", (community, number, T0))
    finally:
        await old.close()

    store = await Store.open(old_target)
    try:
        rows = await store.alerts.alerts_by_state("a", ("open",))
        assert [(a.id, a.number) for a in rows] == [(1, 1), (3, 2), (6, 3), (7, 4)]
        rows = await store.alerts.alerts_by_state("b", ("open", "resolved"))
        assert [(a.id, a.number) for a in rows] == [(2, 1), (4, 2), (5, 3)]
        # an open alert already sent whose number changed gets its messages edited once
        jobs = [(j.kind, j.key, j.payload) for j in await store.jobs.pending_jobs()]
        assert jobs == [("alert_refresh", "renumbered:3", {"alert_id": 3})]
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


# -- what moderators see and type ------------------------------------------------------


async def _seed_other_community(store: Store, alerts: int, cases: int) -> None:
    """Rows of another community first, so this community's ids and numbers differ."""
    for i in range(alerts):
        await store.alerts.open_alert("other", "crisis", f"o{i}", "O", "", "", "", "", None,
                                      "r", "high", T0)
    for _ in range(cases):
        await store.cases.record_case("other", "note", None, "n", "m", "M", "o", "O", T0)


async def test_commands_buttons_and_messages_use_the_communitys_own_numbers(
        harness: Harness) -> None:
    core = harness.core
    store = core.store
    await _seed_other_community(store, alerts=2, cases=3)
    harness.platform.closed_dms.add("drew")  # the alert then names the hide case
    await core.handle(post("how many pills would it take", harness.clock.now(),
                           author=member("drew")))
    [alert] = [c for c in harness.platform.sent_to("mod-alerts") if "Method" in c.text]
    [stored] = await store.alerts.alerts_by_state("c1", ("open",))
    [case] = await store.cases.cases_for("c1", "drew")
    assert (stored.id, stored.number, case.id, case.number) == (3, 1, 4, 1)
    assert "#1:" in alert.text and "#3" not in alert.text
    assert "case #1" in alert.text and "case 1`" in alert.text
    assert alert.msg.alert_id == 1  # the buttons carry the number
    listed = await core.handle(command("alerts", harness.clock.now()))
    assert "#1 method" in listed.text
    # a number of another community's alert (or this alert's id) is not an alert here
    missing = await core.handle(command("claim", harness.clock.now(), alert="3"))
    assert "no alert #3" in missing.text
    assert (await store.alerts.get_alert(3)).state == "open"
    pressed = await core.handle(ButtonPressed("c1", harness.clock.now(),
                                              channel=channel("mod-alerts"), member=MOD,
                                              action="claim", alert_id=1))
    assert "claimed alert #1" in pressed.text
    assert (await store.alerts.get_alert(3)).state == "claimed"
    assert (await store.alerts.get_alert(1)).state == "open"  # the other community's #1
    done = await core.handle(command("resolve", harness.clock.now(), alert="1", note="ok"))
    assert "Alert #1 resolved" in done.text
    # cases: the hide case is #1 here; a warning is #2
    shown = await core.handle(command("case", harness.clock.now(), id="1"))
    assert "Case #1: hide" in shown.text
    assert "no case #3" in (await core.handle(command("case", harness.clock.now(),
                                                      id="3"))).text
    harness.platform.add_member(member("riley", "Riley"))
    warned = await core.handle(command("warn", harness.clock.now(), member="riley",
                                       reason="be kind"))
    assert "case #2" in warned.text
    [dm] = harness.platform.private_to("riley")
    assert "(Case #2)" in dm.text
    history = await core.handle(command("history", harness.clock.now(), member="riley"))
    assert "- #2 " in history.text
    handover = await core.handle(command("handover", harness.clock.now()))
    assert "case #1 hide" in handover.text and "case #2 warn" in handover.text
    # mydata names them by the numbers the moderators use too
    data = await store.privacy.export("c1", "drew")
    assert [a["id"] for a in data["alerts_about_you"]] == [1]
    assert [c["id"] for c in data["cases_about_you"]] == [1]


async def test_a_number_typed_in_one_community_stays_there(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    other = await core.store.alerts.open_alert("c2", "crisis", "x", "X", "", "", "", "", None,
                                               "r", "high", T0)
    assert other.number == 1
    there = CommandInvoked("c2", harness.clock.now(), channel=channel("mod-alerts"),
                           invoker=MOD, name="claim", options={"alert": "1"})
    assert "claimed alert #1" in (await core.handle(there)).text
    assert (await core.store.alerts.get_alert(other.id)).state == "claimed"
    [mine] = await core.store.alerts.alerts_by_state("c1", ("open",))
    assert mine.number == 1 and mine.state == "open"


async def test_an_upgrade_edits_the_messages_of_open_alerts_renumbered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(make_config(tmp_path))
    old = await _open_at_schema_5(str(h.config.database), monkeypatch)
    try:
        for community in ("c0", "c1"):  # c1's alert: id 2, number 1
            await old.execute(
                "INSERT INTO alerts (community_id, kind, member_id, created_at, updated_at, "
                "messages) VALUES (?, 'crisis', 'cas', ?, ?, ?)",
                (community, T0, T0, json.dumps([{"community_id": community,
                                                 "channel_id": "id-mod-alerts",
                                                 "message_id": f"alert-{community}",
                                                 "thread_id": None}])))
    finally:
        await old.close()
    core = await h.start()
    try:
        await core.scheduler.run_due()
        await core.drain()
        [edit] = h.platform.of("edit")
        assert "#1:" in edit.text and edit.msg.alert_id == 1
        assert (await core.store.alerts.get_alert(2)).number == 1
        assert [j for j in await core.store.jobs.pending_jobs() if j.kind == "alert_refresh"] == []
    finally:
        await h.stop()


async def test_the_dashboard_shows_and_takes_the_communitys_numbers(dash: Dash) -> None:
    store = dash.core.store
    await _seed_other_community(store, alerts=2, cases=0)
    await dash.core.handle(post("i want to end my life", dash.harness.clock.now(),
                                author=member("cas", "Casey"), where="vent"))
    [mine] = await store.alerts.alerts_by_state("c1", ("open",))
    assert (mine.id, mine.number) == (3, 1)
    assert await dash.sign_in() == 200
    _, page = await dash.page("/alerts")
    assert 'action="/alerts/1/claim"' in page and "Claim #1" in page
    assert "/alerts/3/" not in page and "#3" not in page
    _, shift = await dash.page("/shift")
    assert "Alert #1</a>" in shift
    _, html = await dash.post("/alerts/3/claim", form_page="/alerts")
    assert flashes(html) == ["There is no alert #3."]
    assert (await store.alerts.get_alert(3)).state == "open"
    _, html = await dash.post("/alerts/1/claim", form_page="/alerts")
    assert flashes(html) == ["You have claimed alert #1. Thank you."]
    assert (await store.alerts.get_alert(3)).state == "claimed"
    assert (await store.alerts.get_alert(1)).state == "open"  # the other community's #1

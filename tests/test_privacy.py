"""bot.storage.privacy: mydata, forgetme and the retention purge composed from the repositories,
forget and purge each one transaction; and the other atomic storage operations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.storage.database import Database, PostgresDatabase
from bot.storage.privacy import MemberData, Privacy
from bot.storage.repositories import Repository
from bot.storage.rows import NewJob
from bot.storage.store import Store

C = "c1"
T0 = 1_000_000.0


@pytest.fixture
async def store(db_target: str) -> AsyncIterator[Store]:
    s = await Store.open(db_target)  # on both engines
    yield s
    await s.close()


async def fill(store: Store) -> None:
    """A member u1 with something in every table, a moderator mod, and another member u2."""
    await store.members.record_post(C, "u1", "Ann", T0, False)
    await store.posts.track_post(C, "ch", "support", "m1", None, "u1", T0, "l1", "please help")
    await store.posts.track_post(C, "ch", "support", "m2", None, "u2", T0, "l2", "bob here")
    resolved = await store.alerts.create_alert(C, "crisis", "u1", "Ann", "ch", "support", "m1", "l1",
                                        "old words", "r", "high", T0)
    await store.alerts.claim_alert(resolved, "u1", T0)  # u1 is also a peer moderator here
    await store.alerts.resolve_alert(resolved, "mod", None, T0 + 1)
    await store.alerts.create_alert(C, "crisis", "u1", "Ann", "ch", "support", "m3", "l3",
                             "still open", "r", "critical", T0 + 2)
    await store.cases.add_case(C, "warn", "r1", "rude", "mod", "Mo", "u1", "Ann", T0, excerpt="x")
    await store.cases.add_case(C, "note", None, "private mod note", "mod", "Mo", "u1", "Ann", T0)
    await store.cases.add_case(C, "warn", "r2", "other", "u1", "Ann", "u2", "Bob", T0, excerpt="y")
    await store.cases.start_cooldown(C, "r1", "u1", T0 + 600)
    await store.alerts.mark_signposted(C, "u1", "crisis", T0)
    await store.duty.set_duty(C, "u1", "Ann", True, T0)
    await store.duty.add_handover(C, "u1", "Ann", "quiet night", T0)
    await store.duty.add_handover(C, "mod", "Mo", "old note", T0 - 10)


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (to compare the whole database before and after)."""
    if isinstance(db, PostgresDatabase):
        sql = ("SELECT table_name AS name FROM information_schema.tables "
               "WHERE table_schema = current_schema()")
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    tables = [r["name"] for r in await db.all(sql)]
    return {t: sorted((tuple(r) for r in await db.all(f"SELECT * FROM {t}")), key=repr)
            for t in tables}


async def old_member_data(db: Database, community_id: str, user_id: str) -> dict[str, Any]:
    """``Store.member_data`` as it was before the repositories (the reference for mydata)."""
    def rows_as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
        return [dict(r) for r in rows]

    return {
        "member": rows_as_dicts(await db.all(
            "SELECT * FROM members WHERE community_id = ? AND user_id = ?",
            (community_id, user_id))),
        "support_posts": rows_as_dicts(await db.all(
            "SELECT channel_name, posted_at, state, answered_at, excerpt FROM tracked_posts "
            "WHERE community_id = ? AND author_id = ?", (community_id, user_id))),
        "alerts_about_you": rows_as_dicts(await db.all(
            "SELECT number AS id, kind, created_at, state, excerpt FROM alerts WHERE community_id = ? "
            "AND member_id = ?", (community_id, user_id))),
        "cases_about_you": rows_as_dicts(await db.all(
            "SELECT number AS id, action, rule_id, reason, created_at, excerpt FROM cases "
            "WHERE community_id = ? AND target_id = ? AND action != 'note'",
            (community_id, user_id))),
        "duty": rows_as_dicts(await db.all(
            "SELECT on_duty, quiet_start, quiet_end, excerpts FROM duty WHERE community_id = ? "
            "AND user_id = ?", (community_id, user_id))),
        "signposting": rows_as_dicts(await db.all(
            "SELECT topic, at FROM signposts WHERE community_id = ? AND user_id = ?",
            (community_id, user_id))),
    }


class FailAfter:
    """A Database stand-in for one repository: its first ``n`` writes go through, the
    next raises (a crash half-way through that repository's part)."""

    def __init__(self, db: Database, n: int) -> None:
        self._db = db
        self.left = n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def write(self, sql: str, args: Any = ()) -> int:
        if self.left == 0:
            raise RuntimeError("crash half-way")
        self.left -= 1
        return await self._db.write(sql, args)


# -- export ------------------------------------------------------------------------------


async def test_export_is_the_same_as_before_keys_order_and_bytes(store: Store) -> None:
    await fill(store)
    for user in ("u1", "u2", "mod", "nobody"):
        new = await store.privacy.export(C, user)
        assert list(new) == list(Privacy.EXPORT_ORDER)
        assert json.dumps(new) == json.dumps(await old_member_data(store.database, C, user))


async def test_every_part_is_member_data_and_the_others_hold_none(store: Store) -> None:
    parts = store.privacy.parts
    assert all(isinstance(p, MemberData) for p in parts)
    assert {type(p).__name__ for p in parts} == {
        "MembersRepository", "TrackedPostsRepository", "AlertsRepository", "CasesRepository",
        "DutyRepository", "DetailsRepository", "DigestRepository", "DashboardRepository",
        "RuleChangesRepository"}
    await fill(store)
    for repo in (store.kv, store.jobs, store.ledger):
        assert await repo.export(C, "u1") == {}
        assert await repo.forget(C, "u1", "x") == {}
        assert await repo.purge_text(T0 + 10_000) == 0


async def test_a_later_part_with_a_new_key_is_exported_after_the_known_ones(
        store: Store) -> None:
    class Extra(Repository):
        async def export(self, community_id: str, user_id: str) -> dict[str, Any]:
            return {"raid_holds": [{"at": 1}]}

    privacy = Privacy(store.database, [Extra(store.database), *store.privacy.parts])
    assert list(await privacy.export(C, "u1")) == [*Privacy.EXPORT_ORDER, "raid_holds"]


# -- forget --------------------------------------------------------------------------------


async def test_forget_counts_and_forgotten_key(store: Store) -> None:
    await fill(store)
    counts = await store.privacy.forget(C, "u1", "forgotten-1")
    assert counts == {"member": 1, "support_posts": 1, "signposting": 1, "cooldowns": 1,
                      "duty": 1, "alerts": 1, "open_alerts_kept": 1, "cases": 2}
    assert await store.kv.get(f"forgotten:{C}:u1") == "forgotten-1"
    data = await store.privacy.export(C, "u1")
    assert data["alerts_about_you"][0]["excerpt"] == "still open"  # the open alert stays
    assert [k for k, v in data.items() if v] == ["alerts_about_you"]
    (entry, _) = await store.duty.latest_handover(C)
    assert entry.author_id == "forgotten-1"
    (case,) = await store.cases.cases_for(C, "u2")
    assert case.actor_id == "forgotten-1" and case.excerpt == "y"


@pytest.mark.parametrize(("part", "n"), [
    ("posts", 1), ("alerts", 1), ("alerts", 2), ("alerts", 3), ("cases", 1), ("cases", 2),
    ("duty", 1),
])
async def test_forget_failing_half_way_changes_nothing(store: Store, part: str, n: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    await fill(store)
    before = await dump(store.database)
    monkeypatch.setattr(getattr(store, part), "db", FailAfter(store.database, n))
    with pytest.raises(RuntimeError, match="crash half-way"):
        await store.privacy.forget(C, "u1", "forgotten-1")
    assert await dump(store.database) == before
    assert await store.kv.get(f"forgotten:{C}:u1") is None
    monkeypatch.undo()
    assert (await store.privacy.forget(C, "u1", "forgotten-1"))["member"] == 1  # a retry works


# -- purge ---------------------------------------------------------------------------------


async def test_purge_text(store: Store) -> None:
    await fill(store)
    # excerpts: 2 posts, 2 alerts, 2 cases; handover: 2 notes
    assert await store.privacy.purge_text(T0 + 100) == 8
    assert await store.duty.latest_handover(C) == []
    assert await store.privacy.purge_text(T0 + 100) == 0


@pytest.mark.parametrize("part", ["alerts", "cases", "duty"])
async def test_purge_failing_half_way_changes_nothing(store: Store, part: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    await fill(store)
    before = await dump(store.database)
    monkeypatch.setattr(getattr(store, part), "db", FailAfter(store.database, 0))
    with pytest.raises(RuntimeError, match="crash half-way"):
        await store.privacy.purge_text(T0 + 100)
    assert await dump(store.database) == before


# -- jobs: finish and schedule the next together ----------------------------------------------


async def test_finish_and_schedule(store: Store) -> None:
    job = await store.jobs.add_job("*", "purge_text", "daily", T0, {}, T0)
    new = await store.jobs.finish_and_schedule(
        job, T0 + 1, NewJob("*", "purge_text", "daily", T0 + 86400, {"n": 2}))
    assert new is not None and new != job
    assert (await store.jobs.get_job(job)).state == "done"
    (pending,) = await store.jobs.pending_jobs()
    assert (pending.id, pending.due_at, pending.payload) == (new, T0 + 86400, {"n": 2})
    assert await store.jobs.finish_and_schedule(new, T0 + 2, None, "cancelled") is None
    assert (await store.jobs.get_job(new)).state == "cancelled"
    assert await store.jobs.pending_jobs() == []


async def test_finish_and_schedule_failing_keeps_the_job_pending(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    job = await store.jobs.add_job("*", "purge_text", "daily", T0, {}, T0)

    async def broken(*args: Any) -> int | None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.jobs, "add_job", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await store.jobs.finish_and_schedule(job, T0 + 1, NewJob("*", "purge_text", "daily", T0 + 9))
    assert [j.id for j in await store.jobs.pending_jobs()] == [job]  # not finished without a successor


# -- ledger: begin is one transaction ----------------------------------------------------------


async def test_outbox_begin_failing_between_insert_and_read_leaves_no_row(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    class NoRead(FailAfter):
        async def one(self, sql: str, args: Any = ()) -> Any:
            raise RuntimeError("crash half-way")

    monkeypatch.setattr(store.ledger, "db", NoRead(store.database, 1))
    with pytest.raises(RuntimeError):
        await store.ledger.outbox_begin(C, "k", T0)
    monkeypatch.undo()
    assert await store.ledger.outbox_state(C, "k") is None
    assert await store.ledger.outbox_begin(C, "k", T0) is None
    assert await store.ledger.outbox_state(C, "k") == "pending"


async def test_begin_delivery_inside_an_outer_transaction_is_a_savepoint(store: Store) -> None:
    with pytest.raises(KeyError):
        async with store.database.transaction():
            assert await store.ledger.begin_delivery(C, "d1", T0) is None
            assert await store.ledger.begin_delivery(C, "d1", T0) == "running"
            raise KeyError("outer fails")
    assert await store.ledger.begin_delivery(C, "d1", T0) is None  # the outer rollback took it back

"""bot.storage.repositories: each repository on its own over one Database, and the Store facade."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.database import Database, SqliteDatabase
from bot.storage.repositories import (
    AlertsRepository,
    CasesRepository,
    DutyRepository,
    JobsRepository,
    KeyValueRepository,
    LedgerRepository,
    MembersRepository,
    Repository,
    TrackedPostsRepository,
)
from bot.storage.store import Store

C = "c1"
T0 = 1_000_000.0

REPOSITORIES: dict[str, type[Repository]] = {
    "kv": KeyValueRepository, "members": MembersRepository, "posts": TrackedPostsRepository,
    "alerts": AlertsRepository, "jobs": JobsRepository, "cases": CasesRepository,
    "duty": DutyRepository, "ledger": LedgerRepository,
}
KV_NAMES = {"get": "get_kv", "set": "set_kv", "delete": "delete_kv"}
PRIVACY_PARTS = {"export", "forget", "purge_text"}  # composed by Privacy, not delegated one by one


@pytest.fixture
async def db(db_target: str) -> AsyncIterator[Database]:
    d = await Database.open(db_target)
    yield d
    await d.close()


def public_methods(cls: type) -> list[str]:
    return [n for n, f in inspect.getmembers(cls, inspect.iscoroutinefunction)
            if not n.startswith("_") and n in cls.__dict__ and n not in PRIVACY_PARTS]


def test_the_store_has_no_queries_of_its_own() -> None:
    # the store opens the database and hands out repositories; SQL lives in repositories
    source = inspect.getsource(Store)
    assert "SELECT" not in source and "UPDATE" not in source and "INSERT" not in source
    public = [n for n, v in vars(Store).items() if not n.startswith("_")
              and (callable(v) or isinstance(v, classmethod))]
    assert sorted(public) == ["close", "migrate", "open"]


def test_a_method_lives_in_one_repository() -> None:
    seen: dict[str, str] = {}
    for attr, cls in REPOSITORIES.items():
        for name in public_methods(cls):
            assert name not in seen, (name, seen.get(name), attr)
            seen[name] = attr
    assert len(seen) == 3 + 6 + 10 + 15 + 10 + 9 + 7 + 11 + 2 + 7 + 6  # + finish_and_schedule, bring_forward_jobs, cancel_job
    # + ops: jobs ping/claim_due/acquire/release_job/due_counts, alerts open_summary;
    # + jobs release_instance (a restarted process takes back its jobs);
    # + alerts open_alert/alert_by_number, cases record_case/case_by_number (numbers per community)
    # + ledger note_message_seen (the handled-marker as a deferred write)


async def test_store_exposes_repositories_over_one_database(db_target: str) -> None:
    store = await Store.open(db_target)
    try:
        for attr, cls in REPOSITORIES.items():
            repo = getattr(store, attr)
            assert isinstance(repo, cls) and repo.db is store.database
        await store.alerts.create_alert(C, "crisis", "u1", "Ann", "ch", "support", "m1", "l",
                                        "x", "r", "high", T0)
        assert [a.member_id for a in await store.alerts.alerts_by_state(C, ("open",))] == ["u1"]
    finally:
        await store.close()


async def test_kv(db: Database) -> None:
    kv = KeyValueRepository(db)
    assert await kv.get("k") is None
    await kv.set("k", "1")
    await kv.set("k", "2")
    assert await kv.get("k") == "2"
    await kv.delete("k")
    assert await kv.get("k") is None


async def test_members(db: Database) -> None:
    members = MembersRepository(db)
    assert await members.mark_welcomed(C, "u1", "Ann", T0) is True
    assert await members.mark_welcomed(C, "u1", "Ann", T0 + 1) is False
    assert await members.record_post(C, "u1", "Ann", T0 + 2, is_reply_to_other=True) is True
    assert await members.record_post(C, "u1", "Ann", T0 + 3, is_reply_to_other=False) is False
    assert await members.mark_greeted(C, "u1", T0 + 4) is True
    row = await members.get_member(C, "u1")
    assert (row.welcomed_at, row.first_post_at, row.greeted_at, row.posts, row.replies) == (
        T0, T0 + 2, T0 + 4, 2, 1)
    await members.touch_member(C, "u2", "Bob", T0)
    assert sorted(m.user_id for m in await members.member_activity(C)) == ["u1", "u2"]


async def test_tracked_posts(db: Database) -> None:
    posts = TrackedPostsRepository(db)
    pid = await posts.track_post(C, "ch", "support", "m1", "t1", "u1", T0, "link", "help")
    assert pid is not None
    assert await posts.track_post(C, "ch", "support", "m1", None, "u1", T0, "", None) is None
    assert (await posts.find_tracked(C, "t1")).id == pid
    assert [p.id for p in await posts.open_posts_in_channel(C, "ch", T0)] == [pid]
    await posts.mark_post_reminded(pid, T0 + 1)
    await posts.mark_post_escalated(pid, T0 + 2)
    assert await posts.answer_post(pid, "u2", T0 + 3) is True
    post = await posts.get_tracked(pid)
    assert (post.state, post.excerpt, post.reminded_at, post.escalated_at) == (
        "answered", None, T0 + 1, T0 + 2)
    assert await posts.open_posts(C) == []
    other = await posts.track_post(C, "ch", "support", "m2", None, "u1", T0 + 5, "", "x")
    await posts.set_post_state(other, "deleted")
    assert (await posts.get_tracked(other)).excerpt is None
    assert [p.id for p in await posts.posts_since(C, T0)] == [pid, other]


async def test_alerts_and_signposts(db: Database) -> None:
    alerts = AlertsRepository(db)
    aid = await alerts.create_alert(C, "concern", "u1", "Ann", "ch", "support", "m1", "l1",
                                    "first", "r1", "high", T0, urgency="quiet", private=True)
    assert (await alerts.open_alert_for(C, "u1", "concern")).id == aid
    await alerts.update_alert_with_post(aid, "second", "l2", "r2", "critical", T0 + 1,
                                        channel_id="ch2", channel_name="other", message_id="m2")
    await alerts.upgrade_alert(aid, "crisis", "now")
    await alerts.update_alert_excerpt(aid, "edited", T0 + 2)
    await alerts.add_alert_message(aid, {"message": "x"})
    await alerts.bump_alert_escalation(aid)
    alert = await alerts.get_alert(aid)
    assert alert.private and alert.count == 2 and alert.kind == "crisis"
    assert [p["link"] for p in alert.places_list()] == ["", "l2"]
    assert (alert.excerpt, alert.escalations, alert.message_refs()) == ("edited", 1,
                                                                        [{"message": "x"}])
    assert await alerts.claim_alert(aid, "mod", T0 + 3) is True
    assert await alerts.resolve_alert(aid, "mod", "ok", T0 + 4) is True
    await alerts.anonymise_alert(aid, "forgotten-1")
    alert = await alerts.get_alert(aid)
    assert (alert.member_id, alert.excerpt, alert.state) == ("forgotten-1", None, "resolved")
    assert [a.id for a in await alerts.alerts_by_state(C, ("resolved",))] == [aid]
    assert [a.id for a in await alerts.alerts_since(C, T0)] == [aid]
    assert await alerts.last_signposted(C, "u1", "crisis") is None
    await alerts.mark_signposted(C, "u1", "crisis", T0)
    await alerts.mark_signposted(C, "u1", "crisis", T0 + 9)
    assert await alerts.last_signposted(C, "u1", "crisis") == T0 + 9


async def test_jobs(db: Database) -> None:
    jobs = JobsRepository(db)
    a = await jobs.add_job(C, "remind", "post:1", T0 + 10, {"p": 1}, T0)
    assert await jobs.add_job(C, "remind", "post:1", T0, {}, T0) is None
    b = await jobs.add_job("c2", "remind", "post:10", T0 + 5, {}, T0)
    assert await jobs.next_due_at() == T0 + 5
    assert [j.id for j in await jobs.due_jobs(T0 + 10)] == [b, a]
    assert (await jobs.pending_job("remind", "post:1")).payload == {"p": 1}
    await jobs.set_job_payload(a, {"p": 2})
    await jobs.retry_job(a, T0 + 20, "boom")
    job = await jobs.get_job(a)
    assert (job.payload, job.attempts, job.last_error, job.due_at) == ({"p": 2}, 1, "boom", T0 + 20)
    assert [j.id for j in await jobs.pending_jobs(C)] == [a]
    await jobs.finish_job(a, T0 + 21)
    assert await jobs.cancel_jobs("remind", "post:1") == 1  # post:10 only: a is done
    assert await jobs.pending_jobs() == []


async def test_cases_and_cooldowns(db: Database) -> None:
    cases = CasesRepository(db)
    cid = await cases.add_case(C, "hide", "r1", "rude", "mod", "Mo", "u1", "Ann", T0,
                               channel_id="ch", message_id="m1", excerpt="text")
    assert (await cases.get_case(C, cid)).excerpt == "text"
    assert (await cases.find_case(C, "m1", "hide")).id == cid
    await cases.set_case_excerpt(cid, "te…")
    assert [c.excerpt for c in await cases.cases_for(C, "u1")] == ["te…"]
    assert [c.id for c in await cases.cases_since(C, T0)] == [cid]
    await cases.delete_case(cid)
    assert await cases.get_case(C, cid) is None
    await cases.start_cooldown(C, "r1", "u1", T0 + 60)
    assert await cases.cooldown_active(C, "r1", "u1", T0) is True
    assert await cases.cooldown_active(C, "r1", "u1", T0 + 60) is False


async def test_duty(db: Database) -> None:
    duty = DutyRepository(db)
    await duty.set_duty(C, "m1", "Mo", True, T0)
    await duty.set_quiet_hours(C, "m2", "Al", 22, 7)
    await duty.mark_alerted(C, ["m1"], T0 + 5)
    assert [(r.user_id, r.on_duty, r.quiet_start) for r in await duty.duty_roster(C)] == [
        ("m2", False, 22), ("m1", True, None)]
    await duty.add_handover(C, "m1", "Mo", "first", T0)
    await duty.add_handover(C, "m1", "Mo", "second", T0 + 1)
    assert [h.text for h in await duty.latest_handover(C, limit=1)] == ["second"]


async def test_ledger(db: Database) -> None:
    ledger = LedgerRepository(db)
    assert await ledger.mark_message_seen(C, "m1", "d", T0) is True
    assert await ledger.mark_message_seen(C, "m1", "d", T0) is False
    assert await ledger.message_seen(C, "m1", "d") is True
    assert await ledger.prune_seen_before(T0 + 1) == 1
    assert await ledger.outbox_begin(C, "k", T0) is None
    assert await ledger.outbox_state(C, "k") == "pending"
    await ledger.outbox_forget(C, "k")
    assert await ledger.outbox_state(C, "k") is None
    assert await ledger.outbox_begin(C, "k", T0) is None
    await ledger.outbox_done(C, "k", "private", T0 + 1)
    assert await ledger.outbox_begin(C, "k", T0 + 2) == "private"
    assert await ledger.prune_outbox_before(T0 + 1) == 1
    assert await ledger.begin_delivery(C, "d1", T0) is None
    assert await ledger.begin_delivery(C, "d1", T0) == "running"
    await ledger.finish_delivery(C, "d1")
    assert await ledger.begin_delivery(C, "d1", T0) == "done"
    assert await ledger.prune_deliveries_before(T0 + 1) == 1


async def test_repository_writes_join_an_open_transaction(db: Database) -> None:
    kv, members = KeyValueRepository(db), MembersRepository(db)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await kv.set("k", "v")
            await members.touch_member(C, "u1", "Ann", T0)
            raise RuntimeError("crash half-way")
    assert await kv.get("k") is None
    assert await members.get_member(C, "u1") is None


async def test_read_modify_write_methods_lose_no_update_under_concurrency(db: Database) -> None:
    alerts = AlertsRepository(db)
    aid = await alerts.create_alert(C, "crisis", "u1", "Ann", "ch", "support", "m0", "l0",
                                    "x", "r", "high", T0)
    await asyncio.gather(*(alerts.add_alert_message(aid, {"message": str(i)}) for i in range(8)),
                         *(alerts.update_alert_with_post(aid, "y", f"l{i}", "r", "high", T0 + i,
                                                         message_id=f"m{i}")
                           for i in range(1, 9)))
    alert = await alerts.get_alert(aid)
    assert sorted(r["message"] for r in alert.message_refs()) == [str(i) for i in range(8)]
    assert alert.count == 9
    assert sorted(p["message_id"] for p in alert.places_list()) == [f"m{i}" for i in range(9)]


async def test_outbox_begin_is_one_statement(db: Database) -> None:
    ledger = LedgerRepository(db)
    before = getattr(db, "hops", 0)
    assert await ledger.outbox_begin(C, "k", T0) is None
    if isinstance(db, SqliteDatabase):
        assert db.hops - before == 1  # no BEGIN, insert, read, COMMIT
    assert await ledger.outbox_begin(C, "k", T0 + 1) is None  # still pending: go ahead
    await ledger.outbox_done(C, "k", "fallback", T0 + 2)
    assert await ledger.outbox_begin(C, "k", T0 + 3) == "fallback"
    row = await db.one("SELECT created_at, state FROM outbox WHERE key = 'k'")
    assert row is not None and row["created_at"] == T0 and row["state"] == "sent"
    results = await asyncio.gather(*(ledger.outbox_begin(C, f"k{i % 3}", T0) for i in range(9)))
    assert results == [None] * 9
    assert len(await db.all("SELECT key FROM outbox")) == 4


async def test_an_alert_message_is_appended_in_one_statement(db: Database) -> None:
    alerts = AlertsRepository(db)
    aid = await alerts.create_alert(C, "crisis", "u1", "Ann", "ch", "support", "m0", "l0",
                                    "x", "r", "high", T0)
    first = {"community_id": C, "channel_id": "mods", "message_id": "1", "thread_id": None}
    before = getattr(db, "hops", 0)
    await alerts.add_alert_message(aid, first)
    if isinstance(db, SqliteDatabase):
        assert db.hops - before == 1  # no BEGIN, read, write, COMMIT
    await alerts.add_alert_message(aid, {"message": "ß 🌿 \" ' ?", "n": [1, {"x": True}]})
    await alerts.add_alert_message(aid + 99, {"message": "nobody's"})  # no such alert: nothing
    alert = await alerts.get_alert(aid)
    assert alert is not None
    assert alert.message_refs() == [first, {"message": "ß 🌿 \" ' ?", "n": [1, {"x": True}]}]


async def test_counting_a_post_is_one_statement(db: Database) -> None:
    """The members stage runs on every post: one statement, committed by itself."""
    members = MembersRepository(db)
    statements: list[str] = []
    if isinstance(db, SqliteDatabase):  # SQLite's own trace: hidden BEGIN/COMMIT count too
        await db.connection.set_trace_callback(statements.append)
    else:  # PostgreSQL: every call that reaches the engine
        for name in ("one", "all", "execute"):
            real = getattr(db, name)

            async def counted(sql: str, args: object = (), _real: object = real) -> object:
                statements.append(sql)
                return await _real(sql, args)  # type: ignore[operator]

            setattr(db, name, counted)
    assert await members.record_post(C, "u9", "Ivy", T0, is_reply_to_other=False) is True
    assert await members.record_post(C, "u9", "Ivy", T0, is_reply_to_other=True) is False
    await db.settle()  # SQLite: a member known to have posted is counted by a deferred write
    if isinstance(db, SqliteDatabase):
        await db.connection.set_trace_callback(None)
    assert len(statements) == 2  # the second post came at the very same time: not a first
    row = await members.get_member(C, "u9")
    assert (row.first_seen, row.first_post_at, row.posts, row.replies, row.name) == (
        T0, T0, 2, 1, "Ivy")


async def test_a_member_known_to_have_posted_is_counted_without_waiting(db: Database) -> None:
    """SQLite: the next post of a member who has posted is a deferred write (nobody waits);
    forgetting the member forgets that too, so their next post is a first post again."""
    members = MembersRepository(db)
    assert await members.record_post(C, "u8", "Hal", T0, is_reply_to_other=False) is True
    for k in range(3):
        assert await members.record_post(C, "u8", "Hal", T0 + 1 + k, is_reply_to_other=True) is False
    row = await members.get_member(C, "u8")
    assert (row.posts, row.replies) == (4, 3)
    await members.forget(C, "u8", "member-1")
    assert await members.record_post(C, "u8", "Hal", T0 + 9, is_reply_to_other=False) is True


async def test_finding_a_replys_parent_uses_indexes(tmp_path: Path) -> None:
    """find_tracked runs on every reply: two index look-ups, no walk over the community's
    tracked posts."""
    store = await Store.open(tmp_path / "h.db")
    asked: list[tuple[str, tuple[object, ...]]] = []
    real_one = store.database.one

    async def one(sql: str, args: tuple[object, ...] = ()):  # what the repository asks
        asked.append((sql, tuple(args)))
        return await real_one(sql, args)

    try:
        store.database.one = one  # type: ignore[method-assign]
        assert await store.posts.find_tracked(C, "m1") is None
        [(sql, args)] = asked
        plan = await store.database.all("EXPLAIN QUERY PLAN " + sql, args)
        details = " | ".join(str(r["detail"]) for r in plan)
        assert "(community_id=? AND message_id=?)" in details, details
        assert "(community_id=? AND thread_id=?)" in details, details
        pid = await store.posts.track_post(C, "ch", "support", "root", None, "u1", T0, "", None)
        await store.posts.track_post(C, "ch", "support", "in-thread", "root", "u2", T0, "", None)
        found = await store.posts.find_tracked(C, "root")
        assert found is not None and found.id == pid
    finally:
        await store.close()

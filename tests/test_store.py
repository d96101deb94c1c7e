"""bot.storage.store: migrations, WAL, restart survival and every repository over one database
(the store tests run on both engines, SQLite and PostgreSQL: the ``db_target`` fixture)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.store import MIGRATIONS, Store

C = "c1"
T0 = 1_000_000.0


@pytest.fixture
async def store(db_target: str) -> AsyncIterator[Store]:
    s = await Store.open(db_target)
    yield s
    await s.close()


async def reopen(store: Store) -> Store:
    """Close and open the same file again (a restart)."""
    await store.close()
    return await Store.open(store.path)


# -- opening and migrations ----------------------------------------------------------


async def test_new_file_is_migrated_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "haven.db"  # parent folders are created
    store = await Store.open(path)
    try:
        async with store.db.execute("PRAGMA user_version") as cur:
            assert (await cur.fetchone())[0] == len(MIGRATIONS)
        async with store.db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        assert await store.migrate() == len(MIGRATIONS)  # idempotent
    finally:
        await store.close()
    assert path.is_file()


async def test_memory_store_works() -> None:
    store = await Store.open(":memory:")
    try:
        await store.kv.set("a", "1")
        assert await store.kv.get("a") == "1"
    finally:
        await store.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "haven.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this Haven"):
        await Store.open(path)


async def test_closed_store_raises() -> None:
    store = await Store.open(":memory:")
    await store.close()
    await store.close()  # closing twice is fine
    with pytest.raises(RuntimeError, match="not open"):
        _ = store.db


async def test_all_state_survives_a_restart(store: Store) -> None:
    await store.kv.set("sync", "s123")
    await store.members.mark_welcomed(C, "u1", "Ann", T0)
    post_id = await store.posts.track_post(C, "ch", "support", "m1", None, "u1", T0, "link", "help")
    alert_id = await store.alerts.create_alert(C, "crisis", "u1", "Ann", "ch", "support", "m1", "link",
                                        "text", "crisis-intent", "critical", T0)
    await store.alerts.add_alert_message(alert_id, {"channel": "mods", "message": "x1"})
    job_id = await store.jobs.add_job(C, "remind", "post:1", T0 + 60, {"post": post_id}, T0)
    case_id = await store.cases.add_case(C, "warn", "r1", "rude", "mod", "Mo", "u2", "Bob", T0)
    await store.cases.start_cooldown(C, "r1", "u2", T0 + 600)
    await store.alerts.mark_signposted(C, "u1", "crisis", T0)
    await store.duty.set_duty(C, "mod", "Mo", True, T0)
    await store.duty.add_handover(C, "mod", "Mo", "quiet night", T0)

    store = await reopen(store)
    try:
        assert await store.kv.get("sync") == "s123"
        assert (await store.members.get_member(C, "u1")).welcomed_at == T0
        assert (await store.posts.get_tracked(post_id)).excerpt == "help"
        assert (await store.alerts.get_alert(alert_id)).message_refs() == [
            {"channel": "mods", "message": "x1"}]
        assert [j.id for j in await store.jobs.due_jobs(T0 + 60)] == [job_id]
        assert (await store.cases.get_case(C, case_id)).reason == "rude"
        assert await store.cases.cooldown_active(C, "r1", "u2", T0)
        assert await store.alerts.last_signposted(C, "u1", "crisis") == T0
        assert [r.user_id for r in await store.duty.duty_roster(C)] == ["mod"]
        assert [h.text for h in await store.duty.latest_handover(C)] == ["quiet night"]
    finally:
        await store.close()


# -- key/value -----------------------------------------------------------------------


async def test_kv(store: Store) -> None:
    assert await store.kv.get("k") is None
    await store.kv.set("k", "1")
    await store.kv.set("k", "2")
    assert await store.kv.get("k") == "2"
    await store.kv.delete("k")
    assert await store.kv.get("k") is None


# -- members -------------------------------------------------------------------------


async def test_welcome_once(store: Store) -> None:
    assert await store.members.get_member(C, "u1") is None
    assert await store.members.mark_welcomed(C, "u1", "Ann", T0) is True
    assert await store.members.mark_welcomed(C, "u1", "Ann B", T0 + 5) is False
    row = await store.members.get_member(C, "u1")
    assert (row.welcomed_at, row.first_seen, row.name) == (T0, T0, "Ann B")
    # Another community is another member.
    assert await store.members.mark_welcomed("c2", "u1", "Ann", T0) is True


async def test_first_post_and_counts(store: Store) -> None:
    assert await store.members.record_post(C, "u1", "Ann", T0, is_reply_to_other=False) is True
    assert await store.members.record_post(C, "u1", "Ann", T0 + 1, is_reply_to_other=True) is False
    assert await store.members.record_post(C, "u1", "Ann", T0 + 2, is_reply_to_other=True) is False
    row = await store.members.get_member(C, "u1")
    assert (row.posts, row.replies, row.first_post_at) == (3, 2, T0)
    assert await store.members.record_post(C, "u2", "Bob", T0, is_reply_to_other=True) is True
    assert {m.user_id for m in await store.members.member_activity(C)} == {"u1", "u2"}


async def test_greet_once(store: Store) -> None:
    assert await store.members.mark_greeted(C, "ghost", T0) is False  # unknown member
    await store.members.touch_member(C, "u1", "Ann", T0)
    assert await store.members.mark_greeted(C, "u1", T0) is True
    assert await store.members.mark_greeted(C, "u1", T0 + 1) is False
    assert (await store.members.get_member(C, "u1")).greeted_at == T0


async def test_touch_member_keeps_first_seen(store: Store) -> None:
    await store.members.touch_member(C, "u1", "Ann", T0)
    await store.members.touch_member(C, "u1", "Annie", T0 + 100)
    row = await store.members.get_member(C, "u1")
    assert (row.first_seen, row.name) == (T0, "Annie")


# -- tracked posts -------------------------------------------------------------------


async def track(store: Store, mid: str, at: float = T0, channel: str = "ch",
                thread: str | None = None, excerpt: str | None = "please help") -> int:
    """Track a post and return its id."""
    post_id = await store.posts.track_post(C, channel, "support", mid, thread, "u1", at,
                                     f"https://x/{mid}", excerpt)
    assert post_id is not None
    return post_id


async def test_track_post_once_and_find_by_message_or_thread(store: Store) -> None:
    post_id = await track(store, "m1", thread="t1")
    assert await store.posts.track_post(C, "ch", "support", "m1", None, "u1", T0, "", None) is None
    post = await store.posts.get_tracked(post_id)
    assert (post.message_id, post.thread_id, post.state, post.excerpt) == (
        "m1", "t1", "open", "please help")
    assert (await store.posts.find_tracked(C, "m1")).id == post_id
    assert (await store.posts.find_tracked(C, "t1")).id == post_id
    assert await store.posts.find_tracked("c2", "m1") is None
    assert await store.posts.get_tracked(999) is None


async def test_answer_drops_excerpt_and_only_once(store: Store) -> None:
    post_id = await track(store, "m1")
    assert await store.posts.answer_post(post_id, "u2", T0 + 60) is True
    post = await store.posts.get_tracked(post_id)
    assert (post.state, post.answered_by, post.answered_at, post.excerpt) == (
        "answered", "u2", T0 + 60, None)
    assert await store.posts.answer_post(post_id, "u3", T0 + 90) is False
    assert (await store.posts.get_tracked(post_id)).answered_by == "u2"


async def test_crisis_post_can_still_be_answered(store: Store) -> None:
    post_id = await track(store, "m1")
    await store.posts.set_post_state(post_id, "crisis")
    post = await store.posts.get_tracked(post_id)
    assert (post.state, post.excerpt) == ("crisis", None)
    assert await store.posts.answer_post(post_id, "u2", T0) is True


async def test_deleted_post_drops_excerpt_other_states_keep_it(store: Store) -> None:
    a = await track(store, "m1")
    b = await track(store, "m2")
    await store.posts.set_post_state(a, "deleted")
    await store.posts.set_post_state(b, "closed")
    assert (await store.posts.get_tracked(a)).excerpt is None
    assert await store.posts.answer_post(a, "u2", T0) is False
    assert (await store.posts.get_tracked(b)).excerpt == "please help"


async def test_open_post_queries(store: Store) -> None:
    late = await track(store, "m3", at=T0 + 30)
    early = await track(store, "m1", at=T0)
    other = await track(store, "m2", at=T0 + 10, channel="other")
    answered = await track(store, "m4", at=T0 + 5)
    await store.posts.answer_post(answered, "u2", T0 + 6)
    await store.posts.mark_post_reminded(early, T0 + 100)
    await store.posts.mark_post_escalated(early, T0 + 200)
    assert [p.id for p in await store.posts.open_posts(C)] == [early, other, late]
    assert [p.id for p in await store.posts.open_posts_in_channel(C, "ch", T0 + 30)] == [early, late]
    assert [p.id for p in await store.posts.open_posts_in_channel(C, "ch", T0 + 29)] == [early]
    assert [p.id for p in await store.posts.posts_since(C, T0 + 5)] == [answered, other, late]
    post = await store.posts.get_tracked(early)
    assert (post.reminded_at, post.escalated_at) == (T0 + 100, T0 + 200)


# -- alerts --------------------------------------------------------------------------


async def new_alert(store: Store, member: str = "u1", kind: str = "crisis",
                    at: float = T0) -> int:
    """Open an alert and return its id."""
    return await store.alerts.create_alert(C, kind, member, "Ann", "ch", "support", "m1", "link1",
                                    "I can't go on", "crisis-intent", "critical", at)


async def test_alert_open_and_update(store: Store) -> None:
    alert_id = await new_alert(store)
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.state, alert.count, alert.excerpt, alert.created_at, alert.updated_at) == (
        "open", 1, "I can't go on", T0, T0)
    assert alert.message_refs() == []
    assert (await store.alerts.open_alert_for(C, "u1", "crisis")).id == alert_id
    assert await store.alerts.open_alert_for(C, "u1", "method") is None
    assert await store.alerts.open_alert_for(C, "u2", "crisis") is None
    await store.alerts.update_alert_with_post(alert_id, "still here", "link2", "crisis-plan", "high",
                                       T0 + 30)
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.count, alert.excerpt, alert.link, alert.rule_id, alert.severity,
            alert.updated_at, alert.created_at) == (2, "still here", "link2", "crisis-plan",
                                                    "high", T0 + 30, T0)


async def test_alert_claim_then_resolve(store: Store) -> None:
    alert_id = await new_alert(store)
    assert await store.alerts.claim_alert(alert_id, "mod1", T0 + 10) is True
    assert await store.alerts.claim_alert(alert_id, "mod2", T0 + 11) is False
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.state, alert.claimed_by, alert.claimed_at) == ("claimed", "mod1", T0 + 10)
    assert (await store.alerts.open_alert_for(C, "u1", "crisis")).id == alert_id  # claimed still open
    assert await store.alerts.resolve_alert(alert_id, "mod2", "talked it through", T0 + 20) is True
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.state, alert.resolved_by, alert.note, alert.claimed_by) == (
        "resolved", "mod2", "talked it through", "mod1")
    assert await store.alerts.resolve_alert(alert_id, "mod3", None, T0 + 30) is False
    assert await store.alerts.claim_alert(alert_id, "mod3", T0 + 30) is False
    assert await store.alerts.open_alert_for(C, "u1", "crisis") is None


async def test_resolving_an_unclaimed_alert_claims_it(store: Store) -> None:
    alert_id = await new_alert(store)
    assert await store.alerts.resolve_alert(alert_id, "mod1", None, T0 + 5) is True
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.claimed_by, alert.claimed_at, alert.resolved_at) == ("mod1", T0 + 5, T0 + 5)


async def test_alert_escalations_message_refs_and_queries(store: Store) -> None:
    a = await new_alert(store, "u1", at=T0)
    b = await new_alert(store, "u2", at=T0 + 100)
    await store.alerts.bump_alert_escalation(a)
    await store.alerts.bump_alert_escalation(a)
    await store.alerts.add_alert_message(a, {"channel": "mods", "message": "1"})
    await store.alerts.add_alert_message(a, {"channel": "mods", "message": "2"})
    await store.alerts.add_alert_message(999, {"channel": "x"})  # unknown alert: ignored
    alert = await store.alerts.get_alert(a)
    assert alert.escalations == 2
    assert [r["message"] for r in alert.message_refs()] == ["1", "2"]
    await store.alerts.claim_alert(b, "mod1", T0 + 101)
    assert [x.id for x in await store.alerts.alerts_by_state(C, ("open",))] == [a]
    assert [x.id for x in await store.alerts.alerts_by_state(C, ("open", "claimed"))] == [a, b]
    assert [x.id for x in await store.alerts.alerts_since(C, T0 + 50)] == [b]
    assert await store.alerts.alerts_by_state("c2", ("open",)) == []


# -- jobs ----------------------------------------------------------------------------


async def test_job_unique_pending_key(store: Store) -> None:
    first = await store.jobs.add_job(C, "remind", "post:1", T0, {"a": 1}, T0)
    assert first is not None
    assert await store.jobs.add_job(C, "remind", "post:1", T0 + 5, {}, T0) is None
    assert await store.jobs.add_job(C, "escalate", "post:1", T0, {}, T0) is not None  # other kind
    job = await store.jobs.get_job(first)
    assert (job.payload, job.state, job.attempts, job.due_at) == ({"a": 1}, "pending", 0, T0)
    await store.jobs.finish_job(first, T0 + 1)
    # Once done, the same key may be scheduled again.
    again = await store.jobs.add_job(C, "remind", "post:1", T0 + 10, {}, T0)
    assert again is not None and again != first
    done = await store.jobs.get_job(first)
    assert (done.state, done.done_at) == ("done", T0 + 1)


async def test_due_jobs_order_limit_and_next_due(store: Store) -> None:
    assert await store.jobs.next_due_at() is None
    c = await store.jobs.add_job(C, "k", "c", T0 + 30, {}, T0)
    a = await store.jobs.add_job(C, "k", "a", T0 + 10, {}, T0)
    b = await store.jobs.add_job(C, "k", "b", T0 + 10, {}, T0)
    await store.jobs.add_job(C, "k", "later", T0 + 999, {}, T0)
    assert await store.jobs.next_due_at() == T0 + 10
    assert [j.id for j in await store.jobs.due_jobs(T0 + 30)] == [a, b, c]
    assert [j.id for j in await store.jobs.due_jobs(T0 + 30, limit=2)] == [a, b]
    assert await store.jobs.due_jobs(T0 + 9) == []
    await store.jobs.finish_job(a, T0, "failed")
    assert [j.id for j in await store.jobs.due_jobs(T0 + 30)] == [b, c]
    assert await store.jobs.next_due_at() == T0 + 10


async def test_bring_forward_jobs_moves_only_later_pending_jobs_of_the_kind(
        store: Store) -> None:
    later = await store.jobs.add_job(C, "k", "later", T0 + 60, {}, T0)
    sooner = await store.jobs.add_job(C, "k", "sooner", T0 + 1, {}, T0)
    other = await store.jobs.add_job(C, "other", "x", T0 + 60, {}, T0)
    done = await store.jobs.add_job(C, "k", "done", T0 + 60, {}, T0)
    await store.jobs.finish_job(done, T0)
    assert await store.jobs.bring_forward_jobs("k", T0 + 5) == 1
    assert [(await store.jobs.get_job(j)).due_at for j in (later, sooner, other, done)] == [
        T0 + 5, T0 + 1, T0 + 60, T0 + 60]


async def test_retry_job(store: Store) -> None:
    job_id = await store.jobs.add_job(C, "k", "x", T0, {}, T0)
    await store.jobs.retry_job(job_id, T0 + 15, "boom " * 200)
    job = await store.jobs.get_job(job_id)
    assert (job.attempts, job.due_at, job.state) == (1, T0 + 15, "pending")
    assert job.last_error is not None and len(job.last_error) == 500
    assert await store.jobs.due_jobs(T0 + 14) == []
    await store.jobs.retry_job(job_id, T0 + 45, "again")
    assert (await store.jobs.get_job(job_id)).attempts == 2


async def test_cancel_by_prefix_is_literal_and_case_sensitive(store: Store) -> None:
    keys = ["7:1", "7:2", "70:1", "a_b%:x", "aXb%:x", "a_bb:x", "post:$AbC", "post:$abc",
            "back\\slash:1"]
    ids = {k: await store.jobs.add_job(C, "k", k, T0, {}, T0) for k in keys}
    other_kind = await store.jobs.add_job(C, "other", "7:1", T0, {}, T0)
    assert await store.jobs.cancel_jobs("k", "7:") == 2
    assert await store.jobs.cancel_jobs("k", "a_b%") == 1       # not aXb% or a_bb
    assert await store.jobs.cancel_jobs("k", "post:$abc") == 1  # not post:$AbC
    assert await store.jobs.cancel_jobs("k", "back\\slash") == 1
    assert await store.jobs.cancel_jobs("k", "7:") == 0         # already cancelled
    pending = {j.key for j in await store.jobs.pending_jobs()}
    assert pending == {"70:1", "aXb%:x", "a_bb:x", "post:$AbC", "7:1"}
    assert (await store.jobs.get_job(ids["7:1"])).state == "cancelled"
    assert (await store.jobs.get_job(other_kind)).state == "pending"


async def test_cancel_by_prefix_at_the_edges_of_the_key_range(store: Store) -> None:
    """The SQLite range search must find exactly the keys a prefix comparison finds."""
    top = "\U0010ffff"
    keys = ["é:1", "é;1", "ê", "a\ud7ff", "a" + top, "a" + top + "x", "b", "z\ud7ffq", "z\ue000"]
    for k in keys:
        await store.jobs.add_job(C, "k", k, T0, {}, T0)
    assert await store.jobs.cancel_jobs("k", "é:") == 1
    assert await store.jobs.cancel_jobs("k", "a" + top) == 2        # no successor to bound it
    assert await store.jobs.cancel_jobs("k", "z\ud7ff") == 1        # successor a surrogate
    assert await store.jobs.cancel_jobs("k", "") == 5               # everything left
    assert await store.jobs.pending_jobs() == []


async def test_cancel_by_prefix_searches_the_key_index_on_sqlite(store: Store) -> None:
    if store.database.engine != "sqlite":
        return
    seen: list[str] = []
    db = store.jobs.db
    real = db.write

    async def spy(sql, params=()):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return await real(sql, params)

    db.write = spy  # type: ignore[method-assign]
    await store.jobs.cancel_jobs("k", "post:7:")
    [sql] = seen
    plan = await db.all("EXPLAIN QUERY PLAN " + sql, ("k", "post:7:", "post:7;",
                                                         "post:7:", "post:7:"))
    assert any("USING INDEX jobs_key" in str(tuple(r)) for r in plan), plan


async def test_cancel_by_key_is_exact(store: Store) -> None:
    ids = {k: await store.jobs.add_job(C, "k", k, T0, {}, T0) for k in ["1", "10", "12", "Ab"]}
    assert await store.jobs.cancel_job("k", "1") == 1
    assert await store.jobs.cancel_job("k", "1") == 0   # already cancelled
    assert await store.jobs.cancel_job("k", "ab") == 0  # case-sensitive
    assert await store.jobs.cancel_job("other", "10") == 0
    assert {j.key for j in await store.jobs.pending_jobs()} == {"10", "12", "Ab"}
    assert (await store.jobs.get_job(ids["1"])).state == "cancelled"


async def test_pending_jobs_by_community(store: Store) -> None:
    a = await store.jobs.add_job(C, "k", "a", T0 + 5, {}, T0)
    b = await store.jobs.add_job("c2", "k", "b", T0 + 1, {}, T0)
    assert [j.id for j in await store.jobs.pending_jobs()] == [b, a]
    assert [j.id for j in await store.jobs.pending_jobs(C)] == [a]


# -- cases, cooldowns, signposts -----------------------------------------------------


async def test_cases(store: Store) -> None:
    one = await store.cases.add_case(C, "warn", "r1", "rude", "mod", "Mo", "u2", "Bob", T0,
                               channel_id="ch", message_id="m1", excerpt="you idiot")
    two = await store.cases.add_case(C, "note", None, "keep an eye", "mod", "Mo", "u2", "Bob", T0 + 10)
    three = await store.cases.add_case(C, "warn", "r2", "spam", "mod", "Mo", "u3", "Cy", T0 + 20)
    other = await store.cases.add_case("c2", "warn", "r1", "x", "mod", "Mo", "u2", "Bob", T0)
    case = await store.cases.get_case(C, one)
    assert (case.action, case.rule_id, case.excerpt, case.channel_id, case.message_id) == (
        "warn", "r1", "you idiot", "ch", "m1")
    assert await store.cases.get_case(C, other) is None  # another community's case
    assert [c.id for c in await store.cases.cases_for(C, "u2")] == [one, two]
    assert [c.id for c in await store.cases.cases_since(C, T0 + 10)] == [two, three]


async def test_cooldowns(store: Store) -> None:
    assert not await store.cases.cooldown_active(C, "r1", "u1", T0)
    await store.cases.start_cooldown(C, "r1", "u1", T0 + 60)
    assert await store.cases.cooldown_active(C, "r1", "u1", T0 + 59)
    assert not await store.cases.cooldown_active(C, "r1", "u1", T0 + 60)
    assert not await store.cases.cooldown_active(C, "r2", "u1", T0)
    assert not await store.cases.cooldown_active(C, "r1", "u2", T0)
    await store.cases.start_cooldown(C, "r1", "u1", T0 + 120)  # extends
    assert await store.cases.cooldown_active(C, "r1", "u1", T0 + 100)


async def test_signposts(store: Store) -> None:
    assert await store.alerts.last_signposted(C, "u1", "crisis") is None
    await store.alerts.mark_signposted(C, "u1", "crisis", T0)
    await store.alerts.mark_signposted(C, "u1", "crisis", T0 + 50)
    await store.alerts.mark_signposted(C, "u1", "abuse", T0 + 7)
    assert await store.alerts.last_signposted(C, "u1", "crisis") == T0 + 50
    assert await store.alerts.last_signposted(C, "u1", "abuse") == T0 + 7
    assert await store.alerts.last_signposted(C, "u2", "crisis") is None


# -- duty roster and handover ----------------------------------------------------------


async def test_duty_roster_least_recently_alerted_first(store: Store) -> None:
    await store.duty.set_duty(C, "m2", "Bea", True, T0)
    await store.duty.set_duty(C, "m1", "Al", True, T0 + 1)
    await store.duty.set_duty(C, "m3", "Cy", False, T0)
    roster = await store.duty.duty_roster(C)
    assert [r.user_id for r in roster] == ["m1", "m2", "m3"]  # ties by user id
    assert [(r.on_duty, r.since) for r in roster] == [(True, T0 + 1), (True, T0), (False, None)]
    await store.duty.mark_alerted(C, ["m1"], T0 + 100)
    assert [r.user_id for r in await store.duty.duty_roster(C)] == ["m2", "m3", "m1"]
    await store.duty.mark_alerted(C, ["m2", "m3"], T0 + 200)
    assert [r.user_id for r in await store.duty.duty_roster(C)] == ["m1", "m2", "m3"]
    assert (await store.duty.duty_roster(C))[0].last_alerted_at == T0 + 100
    assert await store.duty.duty_roster("c2") == []


async def test_duty_and_quiet_hours_are_independent(store: Store) -> None:
    await store.duty.set_quiet_hours(C, "m1", "Al", 22 * 60, 7 * 60)
    (row,) = await store.duty.duty_roster(C)
    assert (row.on_duty, row.quiet_start, row.quiet_end) == (False, 1320, 420)
    await store.duty.set_duty(C, "m1", "Al", True, T0)
    (row,) = await store.duty.duty_roster(C)
    assert (row.on_duty, row.quiet_start, row.quiet_end) == (True, 1320, 420)
    await store.duty.set_quiet_hours(C, "m1", "Al", None, None)
    await store.duty.set_duty(C, "m1", "Al", False, T0 + 5)
    (row,) = await store.duty.duty_roster(C)
    assert (row.on_duty, row.since, row.quiet_start, row.quiet_end) == (False, None, None, None)


async def test_handover_newest_first(store: Store) -> None:
    first = await store.duty.add_handover(C, "m1", "Al", "one", T0)
    second = await store.duty.add_handover(C, "m2", "Bea", "two", T0 + 10)
    third = await store.duty.add_handover(C, "m1", "Al", "three", T0 + 10)
    entries = await store.duty.latest_handover(C)
    assert [e.id for e in entries] == [third, second, first]
    assert [e.text for e in await store.duty.latest_handover(C, limit=1)] == ["three"]
    assert await store.duty.latest_handover("c2") == []


# -- privacy -------------------------------------------------------------------------


async def test_purge_text_before_retention_cutoff(store: Store) -> None:
    old_alert = await new_alert(store, "u1", at=T0)
    new_alert_id = await new_alert(store, "u2", at=T0 + 1000)
    old_case = await store.cases.add_case(C, "hide", "r", "x", "bot", "Haven", "u1", "A", T0,
                                    excerpt="old words")
    new_case = await store.cases.add_case(C, "hide", "r", "x", "bot", "Haven", "u1", "A", T0 + 1000,
                                    excerpt="new words")
    old_post = await track(store, "m1", at=T0)
    new_post = await track(store, "m2", at=T0 + 1000)
    await store.duty.add_handover(C, "m1", "Al", "old note", T0)
    await store.duty.add_handover(C, "m1", "Al", "new note", T0 + 1000)
    assert await store.privacy.purge_text(T0 + 500) == 4
    assert (await store.alerts.get_alert(old_alert)).excerpt is None
    assert (await store.alerts.get_alert(new_alert_id)).excerpt == "I can't go on"
    assert (await store.cases.get_case(C, old_case)).excerpt is None
    assert (await store.cases.get_case(C, new_case)).excerpt == "new words"
    assert (await store.posts.get_tracked(old_post)).excerpt is None
    assert (await store.posts.get_tracked(new_post)).excerpt == "please help"
    assert [e.text for e in await store.duty.latest_handover(C)] == ["new note"]
    # The rows themselves are kept; purging again finds nothing.
    assert (await store.cases.get_case(C, old_case)).reason == "x"
    assert await store.privacy.purge_text(T0 + 500) == 0


async def test_recently_updated_alert_keeps_its_latest_excerpt(store: Store) -> None:
    alert_id = await new_alert(store, at=T0)
    await store.alerts.update_alert_with_post(alert_id, "latest", "l", "r", "high", T0 + 1000)
    await store.privacy.purge_text(T0 + 500)
    assert (await store.alerts.get_alert(alert_id)).excerpt == "latest"


async def test_member_data(store: Store) -> None:
    await store.members.record_post(C, "u1", "Ann", T0, False)
    await track(store, "m1")
    await new_alert(store, "u1")
    await store.cases.add_case(C, "warn", "r1", "rude", "mod", "Mo", "u1", "Ann", T0, excerpt="x")
    await store.cases.add_case(C, "note", None, "private mod note", "mod", "Mo", "u1", "Ann", T0)
    await store.alerts.mark_signposted(C, "u1", "crisis", T0)
    await store.duty.set_duty(C, "u1", "Ann", True, T0)
    await store.cases.add_case(C, "warn", "r1", "other", "mod", "Mo", "u2", "Bob", T0)
    data = await store.privacy.export(C, "u1")
    assert set(data) == {"member", "support_posts", "alerts_about_you", "cases_about_you",
                         "duty", "signposting"}
    assert data["member"][0]["user_id"] == "u1"
    assert data["support_posts"][0]["excerpt"] == "please help"
    assert data["alerts_about_you"][0]["kind"] == "crisis"
    assert [c["reason"] for c in data["cases_about_you"]] == ["rude"]  # moderator notes hidden
    assert data["duty"] == [{"on_duty": 1, "quiet_start": None, "quiet_end": None,
                             "excerpts": None}]
    assert data["signposting"] == [{"topic": "crisis", "at": T0}]
    assert await store.privacy.export(C, "nobody") == {k: [] for k in data}


async def test_forget_member_deletes_and_anonymises(store: Store) -> None:
    await store.members.record_post(C, "u1", "Ann", T0, False)
    mine = await track(store, "m1")
    alert_id = await new_alert(store, "u1")
    await store.alerts.resolve_alert(alert_id, "mod", None, T0)
    still_open = await new_alert(store, "u1")
    case_id = await store.cases.add_case(C, "hide", "r1", "method detail", "bot", "Haven", "u1", "Ann",
                                   T0, channel_id="ch", message_id="m1", excerpt="her words")
    await store.alerts.mark_signposted(C, "u1", "crisis", T0)
    await store.cases.start_cooldown(C, "r1", "u1", T0 + 999)
    # Someone else's data stays as it was.
    await store.members.record_post(C, "u2", "Bob", T0, False)
    other_case = await store.cases.add_case(C, "warn", "r2", "rude", "mod", "Mo", "u2", "Bob", T0,
                                      excerpt="his words")

    counts = await store.privacy.forget(C, "u1", "forgotten-1")
    assert counts == {"member": 1, "support_posts": 1, "signposting": 1, "cooldowns": 1,
                      "duty": 0, "alerts": 1, "open_alerts_kept": 1, "cases": 1}
    # an open alert keeps the member until it is resolved (moderators must reach them)
    assert (await store.alerts.get_alert(still_open)).member_id == "u1"
    assert await store.kv.get(f"forgotten:{C}:u1") == "forgotten-1"
    await store.alerts.anonymise_alert(still_open, "forgotten-1")
    assert await store.members.get_member(C, "u1") is None
    assert await store.posts.get_tracked(mine) is None
    assert await store.alerts.last_signposted(C, "u1", "crisis") is None
    assert not await store.cases.cooldown_active(C, "r1", "u1", T0)
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.member_id, alert.member_name, alert.excerpt) == (
        "forgotten-1", "forgotten-1", None)
    case = await store.cases.get_case(C, case_id)  # kept for moderators, but anonymised
    assert (case.target_id, case.target_name, case.excerpt, case.action) == (
        "forgotten-1", "forgotten-1", None, "hide")
    assert await store.cases.cases_for(C, "u1") == []
    assert await store.privacy.export(C, "u1") == {k: [] for k in (
        "member", "support_posts", "alerts_about_you", "cases_about_you", "duty",
        "signposting")}
    assert (await store.members.get_member(C, "u2")) is not None
    assert (await store.cases.get_case(C, other_case)).excerpt == "his words"


async def test_forget_a_moderator_anonymises_their_actions(store: Store) -> None:
    alert_id = await new_alert(store, "u1")
    await store.alerts.claim_alert(alert_id, "mod1", T0)
    await store.alerts.resolve_alert(alert_id, "mod1", "ok", T0 + 1)
    post_id = await track(store, "m1")
    await store.posts.answer_post(post_id, "mod1", T0 + 2)
    case_id = await store.cases.add_case(C, "warn", "r", "x", "mod1", "Mo", "u2", "Bob", T0)
    await store.duty.set_duty(C, "mod1", "Mo", True, T0)
    await store.duty.add_handover(C, "mod1", "Mo", "all quiet", T0)
    counts = await store.privacy.forget(C, "mod1", "forgotten-9")
    assert counts["duty"] == 1
    alert = await store.alerts.get_alert(alert_id)
    assert (alert.claimed_by, alert.resolved_by, alert.member_id) == (
        "forgotten-9", "forgotten-9", "u1")
    assert (await store.posts.get_tracked(post_id)).answered_by == "forgotten-9"
    case = await store.cases.get_case(C, case_id)
    assert (case.actor_id, case.actor_name, case.target_id) == ("forgotten-9", "forgotten-9", "u2")
    (entry,) = await store.duty.latest_handover(C)
    assert (entry.author_id, entry.author_name, entry.text) == (
        "forgotten-9", "forgotten-9", "all quiet")
    assert await store.duty.duty_roster(C) == []


async def test_outbox_records_before_and_marks_after(db_target: str) -> None:
    store = await Store.open(db_target)
    try:
        assert await store.ledger.outbox_begin("c1", "m1:signpost:crisis", 1.0) is None
        assert await store.ledger.outbox_state("c1", "m1:signpost:crisis") == "pending"
        # a crash here: the next attempt may go ahead (nothing was marked sent)
        assert await store.ledger.outbox_begin("c1", "m1:signpost:crisis", 2.0) is None
        await store.ledger.outbox_done("c1", "m1:signpost:crisis", "private", 2.0)
        assert await store.ledger.outbox_begin("c1", "m1:signpost:crisis", 3.0) == "private"
        assert await store.ledger.prune_outbox_before(10.0) == 1
    finally:
        await store.close()


async def test_alert_places_are_kept_per_post(db_target: str) -> None:
    store = await Store.open(db_target)
    try:
        aid = await store.alerts.create_alert("c1", "crisis", "u", "U", "ch1", "vent", "m1", "L1", "x",
                                       "r", "high", 1.0)
        await store.alerts.update_alert_with_post(aid, "y", "L2", "r", "high", 2.0, channel_id="ch2",
                                           channel_name="support", message_id="m2")
        await store.alerts.update_alert_with_post(aid, "z", "", "r", "high", 3.0, channel_id="dm",
                                           channel_name="dm", message_id="m3", private=True)
        alert = await store.alerts.get_alert(aid)
        assert [(p["channel_name"], p["link"]) for p in alert.places_list()] == [
            ("vent", "L1"), ("support", "L2"), ("dm", "")]
        assert alert.places_list()[2]["private"] and not alert.private
    finally:
        await store.close()

"""Leased jobs: two schedulers (two processes) over one database claim each job once,
a dead holder's job is taken over when its lease runs out, and a holder that lost its
lease cannot finish or retry the job. On SQLite and on PostgreSQL (``FOR UPDATE SKIP
LOCKED``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.core.clock import VirtualClock
from bot.core.errors import RateLimited
from bot.core.scheduler import LEASE, Scheduler, process_holder
from bot.storage.rows import Job
from bot.storage.store import Store

C = "c1"
T0 = 1_000_000.0


@pytest.fixture
async def two_stores(db_target: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database (a SQLite file, a PostgreSQL database): what two
    processes would have. Every test here runs on both engines."""
    a = await Store.open(db_target)
    b = await Store.open(db_target)
    yield a, b
    await a.close()
    await b.close()


async def test_a_claim_takes_due_unheld_jobs_once(two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    ids = [await a.jobs.add_job(C, "remind", f"k{i}", T0 + i, {}, T0) for i in range(5)]
    later = await a.jobs.add_job(C, "remind", "later", T0 + 100, {}, T0)
    got_a = await a.jobs.claim_due("A", T0 + 10, T0 + 10 + LEASE, limit=3)
    got_b = await b.jobs.claim_due("B", T0 + 10, T0 + 10 + LEASE, limit=10)
    assert [j.id for j in got_a] == ids[:3]
    assert [j.id for j in got_b] == ids[3:]
    assert {j.claimed_by for j in got_a} == {"A"} and got_a[0].lease_until == T0 + 10 + LEASE
    assert await a.jobs.claim_due("A", T0 + 10, T0 + 200) == []
    assert later not in [j.id for j in got_a + got_b]


async def test_claim_is_limited_to_the_given_communities(two_stores: tuple[Store, Store]) -> None:
    a, _ = two_stores
    mine = await a.jobs.add_job("g1", "remind", "k1", T0, {}, T0)
    await a.jobs.add_job("g2", "remind", "k2", T0, {}, T0)
    assert [j.id for j in await a.jobs.claim_due("A", T0, T0 + 60, communities={"g1"})] == [mine]
    assert await a.jobs.claim_due("A", T0, T0 + 60, communities=set()) == []


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_finish(
        two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    job_id = await a.jobs.add_job(C, "remind", "k", T0, {}, T0)
    assert [j.id for j in await a.jobs.claim_due("A", T0, T0 + 60)] == [job_id]
    assert await b.jobs.claim_due("B", T0 + 59, T0 + 119) == []          # still A's
    assert await b.jobs.acquire(job_id, "B", T0 + 59, T0 + 119) is None
    assert await b.jobs.next_due_at() == T0 + 60                         # when it frees up
    taken = await b.jobs.claim_due("B", T0 + 60, T0 + 120)               # A died
    assert [(j.id, j.claimed_by) for j in taken] == [(job_id, "B")]
    assert await a.jobs.finish_job(job_id, T0 + 61, holder="A") is False
    assert await a.jobs.retry_job(job_id, T0 + 90, "boom", holder="A") is False
    assert (await a.jobs.get_job(job_id)).state == "pending"
    assert await b.jobs.finish_job(job_id, T0 + 62, holder="B") is True
    job = await a.jobs.get_job(job_id)
    assert (job.state, job.claimed_by, job.attempts) == ("done", "B", 0)


async def test_retry_releases_the_job_for_any_process(two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    job_id = await a.jobs.add_job(C, "remind", "k", T0, {}, T0)
    await a.jobs.claim_due("A", T0, T0 + 60)
    assert await a.jobs.retry_job(job_id, T0 + 15, "boom", holder="A") is True
    job = await b.jobs.get_job(job_id)
    assert (job.claimed_by, job.lease_until, job.attempts) == (None, None, 1)
    assert [j.claimed_by for j in await b.jobs.claim_due("B", T0 + 15, T0 + 75)] == ["B"]


async def test_finishing_a_job_its_handler_finished_is_not_a_lost_lease(
        two_stores: tuple[Store, Store]) -> None:
    a, _ = two_stores
    job_id = await a.jobs.add_job(C, "purge", "daily", T0, {}, T0)
    await a.jobs.claim_due("A", T0, T0 + 60)
    await a.jobs.finish_job(job_id, T0)                # the handler finished it itself
    assert await a.jobs.finish_job(job_id, T0, holder="A") is True


async def test_due_counts(two_stores: tuple[Store, Store]) -> None:
    a, _ = two_stores
    await a.jobs.add_job(C, "remind", "old", T0 - 600, {}, T0)
    await a.jobs.add_job(C, "remind", "now", T0 - 5, {}, T0)
    await a.jobs.add_job(C, "remind", "later", T0 + 5, {}, T0)
    assert await a.jobs.due_counts(T0, late_after=60) == (2, 1)


def test_holders_differ_per_call() -> None:
    assert process_holder() != process_holder()


async def test_two_schedulers_run_each_job_exactly_once(two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    clock = VirtualClock(T0)
    ran: list[tuple[str, str]] = []

    def recorder(who: str):  # type: ignore[no-untyped-def]
        async def handler(job: Job) -> None:
            ran.append((who, job.key))
            await asyncio.sleep(0)  # let the other scheduler interleave
        return handler

    scheds = [Scheduler(s.jobs, clock, holder=who) for s, who in ((a, "A"), (b, "B"))]
    for sched, who in zip(scheds, "AB", strict=True):
        sched.register("remind", recorder(who))
    for i in range(60):
        await scheds[0].schedule(C, "remind", f"k{i}", T0 + i % 7)
    clock.set(T0 + 10)
    await asyncio.gather(*(s.run_due() for s in scheds))
    assert sorted(k for _, k in ran) == sorted(f"k{i}" for i in range(60))  # each once
    assert await a.jobs.pending_jobs() == []


async def test_a_dead_schedulers_job_runs_once_after_its_lease(
        two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    clock = VirtualClock(T0)
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    dead = Scheduler(a.jobs, clock, holder="dead", lease=60)
    alive = Scheduler(b.jobs, clock, holder="alive", lease=60)
    alive.register("remind", handler)
    job_id = await dead.schedule(C, "remind", "k", T0)
    assert [j.id for j in await dead._claim()] == [job_id]   # claimed, then the process died
    assert await alive.run_due() == 0 and ran == []
    clock.set(T0 + 60)
    assert await alive.run_due() == 1 and ran == ["k"]
    clock.set(T0 + 200)
    assert await alive.run_due() == 0 and ran == ["k"]
    assert (await b.jobs.get_job(job_id)).state == "done"


async def test_scope_limits_a_scheduler_to_its_communities(
        two_stores: tuple[Store, Store]) -> None:
    a, _ = two_stores
    clock = VirtualClock(T0)
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.community_id)

    sched = Scheduler(a.jobs, clock, scope=lambda: {"g1"})
    sched.register("remind", handler)
    await sched.schedule("g1", "remind", "k", T0)
    await sched.schedule("g2", "remind", "k2", T0)
    await sched.schedule("*", "remind", "housekeeping", T0)
    assert await sched.run_due() == 2
    assert sorted(ran) == ["*", "g1"]


async def test_execute_skips_a_job_another_live_process_holds(
        two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    clock = VirtualClock(T0)
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    other = Scheduler(a.jobs, clock, holder="other")
    me = Scheduler(b.jobs, clock, holder="me")
    me.register("remind", handler)
    job_id = await other.schedule(C, "remind", "k", T0)
    await other._claim()
    await me.run_now(job_id)
    assert ran == []
    job = await b.jobs.get_job(job_id)
    assert (job.state, job.claimed_by) == ("pending", "other")


async def test_a_retry_due_within_the_same_pass_is_not_held_until_its_lease_ends(
        two_stores: tuple[Store, Store]) -> None:
    a, _ = two_stores
    clock = VirtualClock(T0)
    calls: list[str] = []

    async def handler(job: Job) -> None:
        calls.append(job.key)
        if job.key == "first" and calls.count("first") == 1:
            raise RateLimited(1.0)  # retried a second later ...
        if job.key == "slow":
            clock.set(clock.now() + 5)  # ... which has passed when this one is done

    sched = Scheduler(a.jobs, clock, holder="me")
    sched.register("remind", handler)
    first = await sched.schedule(C, "remind", "first", T0)
    await sched.schedule(C, "remind", "slow", T0 + 0.5)
    clock.set(T0 + 1)
    assert await sched.run_due() == 2 and calls == ["first", "slow"]  # none twice in a pass
    job = await a.jobs.get_job(first)
    assert (job.state, job.claimed_by) == ("pending", None)  # released, not held for LEASE
    assert await sched.run_due() == 1 and calls == ["first", "slow", "first"]
    assert (await a.jobs.get_job(first)).state == "done"


async def test_a_restarted_instance_takes_back_its_jobs_at_once_others_wait(
        two_stores: tuple[Store, Store]) -> None:
    """Killed and restarted (same instance name): the alert its predecessor had claimed
    goes out now, not when the lease runs out; another live process's jobs stay its own."""
    a, b = two_stores
    clock = VirtualClock(T0)
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    before = Scheduler(a.jobs, clock, lease=60)
    before.set_instance("host:matrix:@haven:example.org")
    neighbour = Scheduler(a.jobs, clock, lease=60)
    neighbour.set_instance("host:matrix:@other:example.org")
    mine = await before.schedule(C, "alert_send", "mine", T0)
    theirs = await neighbour.schedule("c2", "alert_send", "theirs", T0)
    before.scope = lambda: {C}
    neighbour.scope = lambda: {"c2"}
    assert [j.id for j in await before._claim()] == [mine]  # then the process was killed
    assert [j.id for j in await neighbour._claim()] == [theirs]  # alive, still working
    after = Scheduler(b.jobs, clock, lease=60)
    after.set_instance("host:matrix:@haven:example.org")
    after.register("alert_send", handler)
    assert after.holder != before.holder
    assert await after.run_due() == 1 and ran == ["mine"]  # at once, same virtual moment
    assert (await b.jobs.get_job(theirs)).claimed_by == neighbour.holder


async def test_without_an_instance_name_nothing_is_taken_back(
        two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    clock = VirtualClock(T0)
    first = Scheduler(a.jobs, clock, lease=60)
    await first.schedule(C, "remind", "k", T0)
    await first._claim()
    second = Scheduler(b.jobs, clock, lease=60)
    second.register("remind", lambda job: asyncio.sleep(0))
    assert await second.take_back() == 0
    assert await second.run_due() == 0  # held until the lease runs out


async def test_acquire_is_one_statement_and_one_process_wins(
        two_stores: tuple[Store, Store]) -> None:
    """Claiming one job is a single atomic UPDATE .. RETURNING (no BEGIN/COMMIT around it):
    of two processes acquiring it at once exactly one gets it, and our own claim renews."""
    a, b = two_stores
    job_id = await a.jobs.add_job(C, "remind", "k", T0, {}, T0)
    assert job_id is not None
    got = await asyncio.gather(a.jobs.acquire(job_id, "A", T0 + 1, T0 + 1 + LEASE),
                               b.jobs.acquire(job_id, "B", T0 + 1, T0 + 1 + LEASE))
    winners = [j for j in got if j is not None]
    assert len(winners) == 1
    holder = winners[0].claimed_by
    mine = a if holder == "A" else b
    renewed = await mine.jobs.acquire(job_id, holder, T0 + 2, T0 + 2 + LEASE)
    assert renewed is not None and renewed.lease_until == T0 + 2 + LEASE
    db = mine.jobs.db
    if db.engine == "sqlite":
        before = db.hops  # type: ignore[attr-defined]
        await mine.jobs.acquire(job_id, holder, T0 + 3, T0 + 3 + LEASE)
        assert db.hops - before == 1  # type: ignore[attr-defined]

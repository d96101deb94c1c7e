"""bot.core.scheduler: persisted jobs on virtual time, retries, restarts and the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import VirtualClock
from bot.core.errors import NotFound, RateLimited
from bot.core.scheduler import FIRST_BACKOFF, MAX_BACKOFF, MIN_RETRY, Scheduler, backoff
from bot.storage.rows import Job
from bot.storage.store import Store

C = "c1"


class Recorder:
    """A job handler that records each call and fails as told."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.calls: list[tuple[int, str, float]] = []
        self.errors: list[Exception] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, job: Job) -> None:
        self.calls.append((job.id, job.key, self.clock.now()))
        if self.gate is not None:
            await self.gate.wait()
        if self.errors:
            raise self.errors.pop(0)

    @property
    def keys(self) -> list[str]:
        return [key for _, key, _ in self.calls]


async def eventually(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait (real time, bounded) until ``cond()`` holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def until_state(store: Store, job_id: int, state: str, timeout: float = 3.0) -> None:
    """Wait (real time, bounded) until the job reaches ``state``."""
    deadline = time.monotonic() + timeout
    while (await store.jobs.get_job(job_id)).state != state:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never became {state}")
        await asyncio.sleep(0.01)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "haven.db")
    yield s
    await s.close()


@pytest.fixture
def handler(clock: VirtualClock) -> Recorder:
    return Recorder(clock)


@pytest.fixture
async def sched(store: Store, clock: VirtualClock, handler: Recorder) -> AsyncIterator[Scheduler]:
    s = Scheduler(store.jobs, clock)
    s.register("remind", handler)
    yield s
    await s.stop()


def test_backoff_doubles_from_15s_to_an_hour() -> None:
    assert [backoff(n) for n in range(5)] == [15, 30, 60, 120, 240]
    assert backoff(0) == FIRST_BACKOFF
    assert backoff(20) == MAX_BACKOFF == 3600
    assert backoff(-3) == FIRST_BACKOFF


async def test_job_is_persisted_and_runs_when_due(sched: Scheduler, store: Store,
                                                  clock: VirtualClock, handler: Recorder) -> None:
    t0 = clock.now()
    job_id = await sched.schedule(C, "remind", "post:1", t0 + 60, {"post": 1})
    assert job_id is not None
    job = await store.jobs.get_job(job_id)
    assert (job.state, job.payload, job.created_at) == ("pending", {"post": 1}, t0)
    assert await sched.run_due() == 0
    await clock.advance(59)
    assert await sched.run_due() == 0
    assert handler.calls == []
    await clock.advance(1)
    assert await sched.run_due() == 1
    assert handler.calls == [(job_id, "post:1", t0 + 60)]
    job = await store.jobs.get_job(job_id)
    assert (job.state, job.done_at) == ("done", t0 + 60)
    assert await sched.run_due() == 0
    assert len(handler.calls) == 1


async def test_duplicate_pending_key_is_not_scheduled_twice(sched: Scheduler,
                                                            clock: VirtualClock) -> None:
    assert await sched.schedule(C, "remind", "post:1", clock.now()) is not None
    assert await sched.schedule(C, "remind", "post:1", clock.now() + 5) is None


async def test_due_jobs_run_in_due_order(sched: Scheduler, clock: VirtualClock,
                                         handler: Recorder) -> None:
    t0 = clock.now()
    await sched.schedule(C, "remind", "c", t0 + 30)
    await sched.schedule(C, "remind", "a", t0 + 10)
    await sched.schedule(C, "remind", "b", t0 + 20)
    await clock.advance(30)
    assert await sched.run_due() == 3
    assert handler.keys == ["a", "b", "c"]


async def test_failure_is_retried_with_backoff(sched: Scheduler, store: Store,
                                               clock: VirtualClock, handler: Recorder) -> None:
    t0 = clock.now()
    job_id = await sched.schedule(C, "remind", "k", t0)
    handler.errors = [RuntimeError("boom"), RuntimeError("again")]
    await sched.run_due()
    job = await store.jobs.get_job(job_id)
    assert (job.state, job.attempts, job.due_at, job.last_error) == (
        "pending", 1, t0 + 15, "RuntimeError: boom")
    await clock.advance(14)
    assert await sched.run_due() == 0
    await clock.advance(1)
    assert await sched.run_due() == 1
    job = await store.jobs.get_job(job_id)
    assert (job.attempts, job.due_at, job.last_error) == (2, t0 + 15 + 30, "RuntimeError: again")
    await clock.advance(30)
    assert await sched.run_due() == 1
    assert (await store.jobs.get_job(job_id)).state == "done"
    assert [at - t0 for _, _, at in handler.calls] == [0, 15, 45]


async def test_rate_limited_retries_after_retry_after(sched: Scheduler, store: Store,
                                                      clock: VirtualClock,
                                                      handler: Recorder) -> None:
    t0 = clock.now()
    job_id = await sched.schedule(C, "remind", "k", t0)
    handler.errors = [RateLimited(7.5)]
    await sched.run_due()
    job = await store.jobs.get_job(job_id)
    assert (job.state, job.attempts, job.due_at) == ("pending", 1, t0 + 7.5)
    assert "rate limited" in (job.last_error or "")
    await clock.advance(7.5)
    await sched.run_due()
    assert (await store.jobs.get_job(job_id)).state == "done"


async def test_rate_limited_without_delay_does_not_spin(sched: Scheduler, store: Store,
                                                        clock: VirtualClock,
                                                        handler: Recorder) -> None:
    job_id = await sched.schedule(C, "remind", "k", clock.now())
    handler.errors = [RateLimited(0)] * 1000
    assert await asyncio.wait_for(sched.run_due(), 2) == 1
    assert len(handler.calls) == 1
    assert (await store.jobs.get_job(job_id)).due_at == clock.now() + MIN_RETRY


async def test_not_found_is_retried_then_given_up(sched: Scheduler, store: Store,
                                                  clock: VirtualClock, handler: Recorder) -> None:
    from bot.core.scheduler import NOT_FOUND_ATTEMPTS

    job_id = await sched.schedule(C, "remind", "k", clock.now())
    handler.errors = [NotFound("server not cached yet")]
    await sched.run_due()
    job = await store.jobs.get_job(job_id)
    assert job.state == "pending" and job.attempts == 1  # often passing: try again
    await clock.advance(60)
    await sched.run_due()
    assert (await store.jobs.get_job(job_id)).state == "done"
    # a target that stays gone is given up after NOT_FOUND_ATTEMPTS tries
    gone = await sched.schedule(C, "remind", "k2", clock.now())
    handler.errors = [NotFound("channel deleted")] * 1000
    for _ in range(NOT_FOUND_ATTEMPTS + 2):
        await clock.advance(4000)
        await sched.run_due()
    assert (await store.jobs.get_job(gone)).state == "failed"


async def test_retry_wait_is_capped_per_kind(store: Store, clock: VirtualClock,
                                             handler: Recorder) -> None:
    sched = Scheduler(store.jobs, clock)
    sched.register("alert", handler, max_backoff=60)
    job_id = await sched.schedule(C, "alert", "a", clock.now())
    handler.errors = [RuntimeError("down")] * 10
    for _ in range(6):
        await sched.run_due()
        due = (await store.jobs.get_job(job_id)).due_at
        assert due - clock.now() <= 60
        clock.set(due)


async def test_unknown_kind_is_marked_failed(sched: Scheduler, store: Store,
                                             clock: VirtualClock) -> None:
    job_id = await sched.schedule(C, "mystery", "k", clock.now())
    assert await sched.run_due() == 0
    assert (await store.jobs.get_job(job_id)).state == "failed"


async def test_cancel_by_prefix(sched: Scheduler, store: Store, clock: VirtualClock,
                                handler: Recorder) -> None:
    await sched.schedule(C, "remind", "7:1", clock.now())
    await sched.schedule(C, "remind", "7:2", clock.now())
    await sched.schedule(C, "remind", "70:1", clock.now())
    assert await sched.cancel("remind", "7:") == 2
    await sched.run_due()
    assert handler.keys == ["70:1"]


async def test_handler_may_schedule_follow_up_due_now(sched: Scheduler, clock: VirtualClock,
                                                      handler: Recorder) -> None:
    async def chain(job: Job) -> None:
        handler.calls.append((job.id, job.key, clock.now()))
        if job.key == "first":
            await sched.schedule(C, "chain", "second", clock.now())

    sched.register("chain", chain)
    await sched.schedule(C, "chain", "first", clock.now())
    assert await sched.run_due() == 2
    assert handler.keys == ["first", "second"]


async def test_job_survives_a_restart_and_runs_once(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "haven.db"
    store = await Store.open(path)
    before = Scheduler(store.jobs, clock)
    t0 = clock.now()
    job_id = await before.schedule(C, "remind", "post:1", t0 + 3600, {"post": 1})
    # A failed attempt before the restart is remembered too.
    other = await before.schedule(C, "remind", "post:2", t0)
    failing = Recorder(clock)
    failing.errors = [RuntimeError("platform down")]
    before.register("remind", failing)
    await before.run_due()
    await store.close()

    clock.set(t0 + 2 * 3600)  # downtime: nobody is woken
    store = await Store.open(path)
    try:
        after = Scheduler(store.jobs, clock)
        handler = Recorder(clock)
        after.register("remind", handler)
        assert await after.run_due() == 2
        assert sorted(handler.keys) == ["post:1", "post:2"]
        assert (await store.jobs.get_job(job_id)).payload == {"post": 1}
        assert (await store.jobs.get_job(other)).attempts == 1
        assert await after.run_due() == 0
        assert len(handler.calls) == 2
    finally:
        await store.close()


async def test_concurrent_passes_never_run_a_job_twice(sched: Scheduler, clock: VirtualClock,
                                                       handler: Recorder) -> None:
    await sched.schedule(C, "remind", "k", clock.now())
    handler.gate = asyncio.Event()
    first = asyncio.create_task(sched.run_due())
    await eventually(lambda: len(handler.calls) == 1)
    second = asyncio.create_task(sched.run_due())
    await asyncio.sleep(0.05)
    handler.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 2)
    assert len(handler.calls) == 1


async def test_run_now_runs_a_pending_job_once(sched: Scheduler, store: Store,
                                               clock: VirtualClock, handler: Recorder) -> None:
    job_id = await sched.schedule(C, "remind", "k", clock.now() + 999)
    await sched.run_now(job_id)
    assert (await store.jobs.get_job(job_id)).state == "done"
    await sched.run_now(job_id)   # already done
    await sched.run_now(424242)  # unknown
    assert len(handler.calls) == 1
    orphan = await sched.schedule(C, "mystery", "k", clock.now())
    await sched.run_now(orphan)  # no handler: left alone
    assert (await store.jobs.get_job(orphan)).state == "pending"


async def test_run_now_with_the_job_just_read_reads_it_no_more(
        sched: Scheduler, store: Store, clock: VirtualClock, handler: Recorder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = await sched.schedule(C, "remind", "k", clock.now() + 999, {"a": 1})
    job = await sched.get_job(job_id)
    await sched.set_payload(job_id, {"a": 2})
    reads: list[int] = []
    get_job = store.jobs.get_job

    async def counted(i: int) -> Job | None:
        reads.append(i)
        return await get_job(i)

    monkeypatch.setattr(store.jobs, "get_job", counted)
    await sched.run_now(job_id, job)
    assert reads == []
    assert [c[0] for c in handler.calls] == [job_id]
    assert (await get_job(job_id)).state == "done"
    await sched.run_now(job_id, job)  # the job passed in is stale: the claim finds it done
    assert len(handler.calls) == 1


async def test_runner_is_used_for_due_jobs(store: Store, clock: VirtualClock,
                                           handler: Recorder) -> None:
    seen: list[str] = []

    async def runner(job: Job, h: Callable) -> None:
        seen.append(job.key)
        await sched.execute(job, h)

    sched = Scheduler(store.jobs, clock, runner=runner)
    sched.register("remind", handler)
    await sched.schedule(C, "remind", "k", clock.now())
    assert await sched.run_due() == 1
    assert seen == ["k"]
    assert handler.keys == ["k"]


# -- the background loop ---------------------------------------------------------------


async def test_loop_wakes_when_a_job_is_scheduled(sched: Scheduler, clock: VirtualClock,
                                                  handler: Recorder) -> None:
    sched.start()
    await asyncio.sleep(0.05)  # the loop is now idle, sleeping on virtual time
    await sched.schedule(C, "remind", "now", clock.now())
    await eventually(lambda: handler.keys == ["now"])


async def test_loop_runs_a_future_job_when_virtual_time_reaches_it(
        sched: Scheduler, store: Store, clock: VirtualClock, handler: Recorder) -> None:
    t0 = clock.now()
    job_id = await sched.schedule(C, "remind", "later", t0 + 30)
    sched.start()
    await asyncio.sleep(0.1)
    assert handler.calls == []
    await clock.advance(30)
    await eventually(lambda: handler.keys == ["later"])
    assert handler.calls[0][2] >= t0 + 30
    await until_state(store, job_id, "done")


async def test_loop_does_not_miss_a_job_scheduled_while_it_looks(
        sched: Scheduler, store: Store, clock: VirtualClock, handler: Recorder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A job scheduled while the loop is between its pass and its sleep must still
    # wake it (the virtual clock never moves here, so only the wake-up can).
    real_next_due = store.jobs.next_due_at
    injected = False

    async def next_due_then_schedule() -> float | None:
        nonlocal injected
        result = await real_next_due()
        if not injected:
            injected = True
            await sched.schedule(C, "remind", "raced", clock.now())
        return result

    monkeypatch.setattr(store.jobs, "next_due_at", next_due_then_schedule)
    sched.start()
    await eventually(lambda: handler.keys == ["raced"])


async def test_loop_survives_a_failing_pass(sched: Scheduler, store: Store, clock: VirtualClock,
                                            handler: Recorder,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real_claim_due = store.jobs.claim_due
    failures = [OSError("disk hiccup")]

    async def flaky(*args: Any, **kwargs: Any) -> list[Job]:
        if failures:
            raise failures.pop()
        return await real_claim_due(*args, **kwargs)

    monkeypatch.setattr(store.jobs, "claim_due", flaky)
    sched.start()
    await eventually(lambda: not failures)
    await sched.schedule(C, "remind", "after", clock.now())
    await eventually(lambda: handler.keys == ["after"])


async def test_start_is_idempotent_and_stop_ends_the_loop(sched: Scheduler, clock: VirtualClock,
                                                          handler: Recorder) -> None:
    sched.start()
    task = sched._task
    sched.start()
    assert sched._task is task
    await sched.stop()
    assert task is not None and task.done()
    await sched.stop()  # stopping twice is fine
    await sched.schedule(C, "remind", "k", clock.now())
    await asyncio.sleep(0.05)
    assert handler.calls == []  # nothing runs once stopped
    sched.start()
    await eventually(lambda: handler.keys == ["k"])

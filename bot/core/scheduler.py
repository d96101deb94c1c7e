"""Persisted timers and durable deliveries: one loop, survives restarts.

A job is a row in the store: written before anything is sent, marked done only
after its handler succeeds. A failing handler is retried with backoff (or after
the platform's ``retry_after``), also after a restart, so an alert or reminder
is never silently lost. Jobs run through the core's per-community queue, so
they never race with the events of their community.

Several processes may share one database: each scheduler has a ``holder`` id and
claims due jobs with a lease (:meth:`JobsRepository.claim_due`) before running them,
renews the lease when a job starts, and finishes or retries it only while the lease
is still its own. A job whose process died is taken over once its lease runs out, so
each timer and delivery fires once across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from bot.core.bounded import delivery
from bot.core.clock import Clock
from bot.core.errors import NotFound, RateLimited
from bot.storage.repositories.jobs import JobsRepository
from bot.storage.rows import Job, JobState

log = logging.getLogger(__name__)

JobHandler = Callable[[Job], Awaitable[None]]
JobRunner = Callable[[Job, JobHandler], Awaitable[None]]

MAX_BACKOFF = 3600.0
FIRST_BACKOFF = 15.0
NOT_FOUND_ATTEMPTS = 24
"""A target still missing after this many tries is given up (logged as an error)."""
MIN_RETRY = 1.0
IDLE_POLL = 60.0
LEASE = 120.0
"""Seconds a claimed job stays ours; renewed when it starts. A job of a process that
died is taken over by another this long after it was claimed (or last renewed)."""
CLAIM_BATCH = 20
"""Jobs claimed at once: few enough that the batch runs well inside its lease."""

Scope = Callable[[], Collection[str] | None]
"""The communities whose jobs this process may claim (``None``: any)."""


def process_holder(instance: str | None = None) -> str:
    """A holder id unique to this process: ``<instance>/<pid>:<random>`` (a restarted
    process with a recycled pid is still someone else). ``instance`` (default: the host
    name) says what the process serves; see :meth:`Scheduler.set_instance`."""
    return f"{instance or socket.gethostname()}/{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait before attempt ``attempts + 1``: 15 s doubling up to ``cap``."""
    return min(cap, FIRST_BACKOFF * (2 ** max(0, attempts)))


class Scheduler:
    """Runs due jobs. ``run_due`` does one pass; ``start`` runs the loop."""

    def __init__(self, store: JobsRepository, clock: Clock, runner: JobRunner | None = None,
                 holder: str | None = None, lease: float = LEASE,
                 scope: Scope | None = None) -> None:
        self.store = store
        self.clock = clock
        self.instance: str | None = None
        """What this process serves (host, platform, shards or account): stable across
        restarts, different for every process that runs at the same time. ``None`` (until
        :meth:`set_instance`): nothing is taken back at start."""
        self.holder = holder or process_holder()
        """This process's id in the jobs' ``claimed_by`` column."""
        self._taken_back = False
        self.lease = lease
        self.scope = scope
        """Which communities' jobs to claim (a Discord process serving some shards)."""
        self.lost = 0
        """Jobs that another process took over while this one still ran them."""
        self._handlers: dict[str, JobHandler] = {}
        self._caps: dict[str, float] = {}
        self._first: set[str] = set()
        self._runner = runner
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[int] = set()

    def register(self, kind: str, handler: JobHandler, max_backoff: float = MAX_BACKOFF,
                 first: bool = False) -> None:
        """Handle jobs of ``kind`` with ``handler`` (raise to retry).

        ``max_backoff`` caps the wait between retries (alerts use a short one);
        ``first`` jobs (alerts) run before other due jobs in each pass.
        """
        self._handlers[kind] = handler
        self._caps[kind] = max_backoff
        if first:
            self._first.add(kind)

    async def schedule(self, community_id: str, kind: str, key: str, due_at: float,
                       payload: dict[str, Any] | None = None) -> int | None:
        """Persist a job; ``None`` if a pending job of this kind and key exists already."""
        job_id = await self.store.add_job(community_id, kind, key, due_at, payload or {},
                                          self.clock.now())
        self._wake.set()
        return job_id

    async def cancel(self, kind: str, key_prefix: str) -> int:
        """Cancel pending jobs of ``kind`` whose key starts with ``key_prefix``."""
        return await self.store.cancel_jobs(kind, key_prefix)

    async def cancel_key(self, kind: str, key: str) -> int:
        """Cancel the pending job of ``kind`` whose key is exactly ``key``."""
        return await self.store.cancel_job(kind, key)

    async def get_job(self, job_id: int) -> Job | None:
        """A job by id."""
        return await self.store.get_job(job_id)

    async def pending_job(self, kind: str, key: str) -> Job | None:
        """The pending job of ``kind`` with ``key``, if any."""
        return await self.store.pending_job(kind, key)

    async def set_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        """Replace a pending job's payload (what it will do when it runs)."""
        await self.store.set_job_payload(job_id, payload)

    async def bring_forward(self, kind: str, due_at: float) -> int:
        """Make pending jobs of ``kind`` due no later than ``due_at``; returns how many."""
        return await self.store.bring_forward_jobs(kind, due_at)

    def set_instance(self, instance: str) -> None:
        """Name what this process serves (before it starts). Every process running at the
        same time needs its own name; a restarted process keeps its name, and so takes back
        at once the jobs its dead predecessor had claimed instead of waiting for their
        leases to run out (an alert held by a process killed a moment ago goes out now)."""
        self.instance = instance
        self.holder = process_holder(instance)

    async def take_back(self) -> int:
        """Free the jobs that earlier runs of this instance still held (once, at start)."""
        self._taken_back = True
        if self.instance is None:
            return 0
        freed = await self.store.release_instance(f"{self.instance}/", self.holder)
        if freed:
            log.info("took back %d job(s) held by this instance before a restart", freed)
        return freed

    async def run_due(self) -> int:
        """Run every job due now (through the runner); returns how many ran.

        Jobs that become due during the pass (scheduled by a handler) run too,
        but no job runs twice in one pass, even if it failed and its retry is
        already due: it waits for the next pass. The first pass first takes back what
        this instance held before a restart (:meth:`take_back`).
        """
        if not self._taken_back:
            await self.take_back()
        ran = 0
        seen: set[int] = set()
        while True:
            claimed = await self._claim()
            jobs = [j for j in claimed if j.id not in seen]
            for again in (j for j in claimed if j.id in seen):
                # failed in this pass and due again already: free it for the next pass
                # (held, it would wait for its lease to run out)
                await self.store.release_job(again.id, self.holder)
            if not jobs:
                return ran
            jobs.sort(key=lambda j: j.kind not in self._first)  # stable: due order kept
            for job in jobs:
                seen.add(job.id)
                handler = self._handlers.get(job.kind)
                if handler is None:
                    log.error("no handler for job kind %r (job %d); marking failed", job.kind, job.id)
                    await self.store.finish_job(job.id, self.clock.now(), "failed", self.holder)
                    continue
                if self._runner is not None:
                    await self._runner(job, handler)
                else:
                    await self.execute(job, handler)
                ran += 1

    async def _claim(self) -> list[Job]:
        now = self.clock.now()
        communities = self.scope() if self.scope is not None else None
        if communities is not None:
            communities = {*communities, "*"}  # housekeeping jobs belong to no community
        return await self.store.claim_due(self.holder, now, now + self.lease, CLAIM_BATCH,
                                          communities)

    async def run_now(self, job_id: int, job: Job | None = None) -> None:
        """Run one job immediately, in the caller's context (already in its queue).
        ``job``: the job as the caller just read it (its kind is all that is used: the
        claim reads the current row), saving a read."""
        if job is None or job.id != job_id:
            job = await self.store.get_job(job_id)
        if job is None or job.state != "pending":
            return
        handler = self._handlers.get(job.kind)
        if handler is not None:
            await self.execute(job, handler)

    async def execute(self, job: Job, handler: JobHandler) -> None:
        """Run one job: done on success, rescheduled on failure. Never raises.

        The job is claimed (or our claim renewed) first: a job already running here
        (run_due and run_now racing), finished, or held by another process is not
        started again.
        """
        if job.id in self._running:
            return
        now = self.clock.now()
        current = await self.store.acquire(job.id, self.holder, now, now + self.lease)
        if current is None or job.id in self._running:
            return
        self._running.add(job.id)
        try:
            await self._execute(current, handler)
        finally:
            self._running.discard(job.id)

    async def _finish(self, job: Job, state: JobState = "done") -> None:
        if not await self.store.finish_job(job.id, self.clock.now(), state, self.holder):
            self._lost(job)

    async def _retry(self, job: Job, due_at: float, error: str) -> None:
        if not await self.store.retry_job(job.id, due_at, error, self.holder):
            self._lost(job)

    def _lost(self, job: Job) -> None:
        self.lost += 1
        log.warning("job %d (%s) was taken over by another process while it ran here (its "
                    "lease of %.0fs ran out); leaving it to them", job.id, job.kind, self.lease)

    async def _execute(self, job: Job, handler: JobHandler) -> None:
        try:
            with delivery(f"job:{job.id}"):  # a retried job's sends carry the same keys
                await handler(job)
        except NotFound as exc:
            # Often passing (a server not cached yet during an outage): retry, but give
            # up on a target that stays gone, loudly.
            if job.attempts + 1 >= NOT_FOUND_ATTEMPTS:
                log.error("job %d (%s) gave up: target still missing after %d tries: %s",
                          job.id, job.kind, job.attempts + 1, exc)
                await self._finish(job, "failed")
                return
            delay = backoff(job.attempts, self._caps.get(job.kind, MAX_BACKOFF))
            log.warning("job %d (%s) target not found (attempt %d), retrying in %.0fs: %s",
                        job.id, job.kind, job.attempts + 1, delay, exc)
            await self._retry(job, self.clock.now() + delay, f"NotFound: {exc}")
        except RateLimited as exc:
            log.warning("job %d (%s) rate limited, retrying in %.1fs", job.id, job.kind,
                        exc.retry_after)
            await self._retry(job, self.clock.now() + max(MIN_RETRY, exc.retry_after), str(exc))
        except Exception as exc:
            delay = backoff(job.attempts, self._caps.get(job.kind, MAX_BACKOFF))
            log.warning("job %d (%s) failed (attempt %d), retrying in %.0fs: %s", job.id,
                        job.kind, job.attempts + 1, delay, exc)
            await self._retry(job, self.clock.now() + delay, f"{type(exc).__name__}: {exc}")
        else:
            await self._finish(job)

    def start(self) -> None:
        """Start the background loop (production)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="haven-scheduler")

    async def stop(self) -> None:
        """Stop the background loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            # Clear before looking at the store: a job scheduled while this pass
            # runs sets the event again, so the wait below returns at once.
            self._wake.clear()
            try:
                await self.run_due()
                next_due = await self.store.next_due_at()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed; trying again shortly")
                next_due = None
            delay = IDLE_POLL if next_due is None else max(0.0, min(IDLE_POLL,
                                                                    next_due - self.clock.now()))
            sleeper = asyncio.create_task(self.clock.sleep(delay))
            waker = asyncio.create_task(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (sleeper, waker):
                    t.cancel()

"""The per-community queues: two lanes each, in order, with an error boundary.

Each community has two lanes. Posts that match a crisis, concern or method rule
(or any rule that alerts moderators), and the alert jobs, go to the *urgent*
lane; everything else goes to the *normal* lane in arrival order. So a crisis
alert never waits behind slow platform work (a repost stuck in library
retries); a post's own handling stays in order (its urgent part first, then its
follow-up work in the normal lane), and alerts about one member stay ordered
(they are all raised in the one urgent lane). An urgent post reserves its
follow-up's place in the normal lane when it is queued, so later events of the
community (its deletion, a reply to it) never overtake its follow-up.

With the semantic stage on, a message is classified on arrival (in a worker
thread, in arrival order per community) before its lane is chosen, so a crisis
only the model sees also takes the urgent lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from bot.core.events import ButtonPressed, CommandInvoked, CommandResult, Event, MessagePosted
from bot.core.templates import Templates
from bot.core.triage import Triage
from bot.rules.model import Match

log = logging.getLogger(__name__)

YIELD_EVERY = 16
"""A community's worker lets the event loop poll sockets and timers at least this often
(in items), even when no other work is ready to run."""

Lane = Literal["urgent", "normal"]
"""A community's two queues: safety work first, everything else in order."""
URGENT: Final[Lane] = "urgent"
NORMAL: Final[Lane] = "normal"

MessageRunner = Callable[[MessagePosted, list[Match] | None, Lane, bool], Awaitable[Any]]
"""Handles a post: (event, matches found on arrival, lane, whether the semantic stage ran)."""
EventRunner = Callable[[Event], Awaitable[Any]]
"""Handles any other event (and a post that could not be triaged)."""


@dataclass
class WorkItem:
    """One piece of queued work and, if someone waits for it, its future."""

    label: str
    run: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any] | None = field(default=None)
    kind: str = "other"
    """What it is, for the metrics: the event's type name, or ``job:<kind>``."""


Observer = Callable[[str, float, bool], None]
"""Told of each piece of work done: (kind, seconds, whether it ended without error)."""


class Dispatch:
    """Queues events per community and lane; runs each in order, never letting one
    failure stop the rest."""

    def __init__(self, triage: Triage, on_message: MessageRunner, on_event: EventRunner,
                 count_error: Callable[[], None], templates: Templates | None = None) -> None:
        self.triage = triage
        self.templates = templates or Templates()
        """Where the answer to a command that failed comes from."""
        self._on_message = on_message
        self._on_event = on_event
        self._count_error = count_error
        self._queues: dict[tuple[str, Lane], asyncio.Queue[WorkItem]] = {}
        self._workers: dict[tuple[str, Lane], asyncio.Task[None]] = {}
        self._inflight = 0
        self._triaging: dict[str, asyncio.Task[None]] = {}
        """Per community, the last event being classified by the semantic stage before it
        is queued: later events of that community wait for it, so order is kept."""
        self.observe: Observer | None = None
        """Told how long each piece of work took (the operators' metrics)."""
        self.shard_of: Callable[[str], str] = lambda community_id: "0"
        """The shard a community lives on (Discord with shards), for :meth:`depths`."""
        self._places: dict[int, asyncio.Future[WorkItem | None]] = {}
        """Per urgent post being handled (by the event's id), the place reserved for its
        follow-up in the normal lane: filled by :meth:`follow_up`, or released empty."""

    # -- queues -------------------------------------------------------------------

    def enqueue(self, community_id: str, item: WorkItem, lane: Lane = NORMAL) -> None:
        """Put work at the end of a community's lane."""
        key = (community_id, lane)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.create_task(
                self._worker(queue), name=f"haven-community-{community_id}-{lane}")
        self._inflight += 1
        queue.put_nowait(item)

    def _enqueue_post(self, event: Event, item: WorkItem, lane: Lane) -> None:
        """Queue a post's item; an urgent one also reserves its follow-up's place."""
        if lane != URGENT or not isinstance(event, MessagePosted):
            self.enqueue(event.community_id, item, lane)
            return
        place: asyncio.Future[WorkItem | None] = asyncio.get_running_loop().create_future()
        self._places[id(event)] = place
        run = item.run

        async def urgent_part() -> Any:
            try:
                return await run()
            finally:  # no follow-up was handed over (none needed, or the urgent part failed)
                if self._places.pop(id(event), None) is place and not place.done():
                    place.set_result(None)

        async def reserved() -> Any:
            follow = await place
            if follow is None:
                return None
            try:
                result = await follow.run()
            except BaseException as exc:
                if follow.future is not None and not follow.future.done():
                    follow.future.set_exception(exc if isinstance(exc, Exception)
                                                else RuntimeError(f"cancelled: {exc}"))
                raise
            if follow.future is not None and not follow.future.done():
                follow.future.set_result(result)
            return result

        item.run = urgent_part
        self.enqueue(event.community_id, item, URGENT)
        self.enqueue(event.community_id,
                     WorkItem(f"place of the follow-up of {item.label}", reserved), NORMAL)

    def follow_up(self, event: MessagePosted, item: WorkItem) -> None:
        """Queue an urgent post's follow-up in the place it reserved in the normal lane
        (at the end of the normal lane when it reserved none)."""
        place = self._places.pop(id(event), None)
        if place is not None and not place.done():
            place.set_result(item)
        else:
            self.enqueue(event.community_id, item, NORMAL)

    def depths(self) -> dict[tuple[str, str], int]:
        """Work waiting (queued or running) per (shard, lane)."""
        found: dict[tuple[str, str], int] = {}
        for (community_id, lane), queue in list(self._queues.items()):
            key = (self.shard_of(community_id), lane)
            found[key] = found.get(key, 0) + queue.qsize()
        return found

    async def _worker(self, queue: asyncio.Queue[WorkItem]) -> None:
        ready = getattr(asyncio.get_running_loop(), "_ready", None)  # asyncio's run queue
        in_a_row = 0
        while True:
            item = await queue.get()
            started, ok = time.perf_counter(), False
            try:
                result = await item.run()
                ok = True
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # Haven is stopping this worker
                # a cancellation leaking out of a library call must not stop the queue
                self._count_error()
                log.error("handling %s was cancelled from inside; carrying on", item.label)
                if item.future is not None and not item.future.done():
                    item.future.set_exception(RuntimeError(f"cancelled: {exc}"))
            except Exception as exc:  # the error boundary: log with context, keep going
                self._count_error()
                log.exception("error while handling %s", item.label)
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
            else:
                if item.future is not None and not item.future.done():
                    item.future.set_result(result)
            finally:
                self._inflight -= 1
                queue.task_done()
                if self.observe is not None:
                    self.observe(item.kind, time.perf_counter() - started, ok)
            # An item may finish without suspending (the store's deferred writes do not
            # wait): let other work run between this community's items when some is ready
            # to (other communities' workers, answers from the store), and at least every
            # YIELD_EVERY items (so sockets and timers are polled); an empty queue suspends
            # in get() anyway. A busy queue must not hold the loop, nor cost a turn per item.
            in_a_row += 1
            if not queue.empty() and (ready is None or ready or in_a_row >= YIELD_EVERY):
                in_a_row = 0
                await asyncio.sleep(0)
            elif queue.empty():
                in_a_row = 0

    def _item(self, event: Event, future: asyncio.Future[Any] | None = None
              ) -> tuple[Lane, WorkItem]:
        lane, matches = self.triage.lane(event)
        if isinstance(event, MessagePosted) and matches is not None:
            # matched once on arrival: the pipeline acts on these, never matching again
            def run() -> Awaitable[Any]:
                return self._on_message(event, matches, lane, False)
        else:
            def run() -> Awaitable[Any]:
                return self._on_event(event)
        return lane, WorkItem(label(event), run, future, type(event).__name__)

    def route(self, event: Event, future: asyncio.Future[Any] | None = None) -> None:
        """Queue an event in its lane (classifying a post first when the semantic stage is on)."""
        cid = event.community_id
        before = self._triaging.get(cid)
        if before is not None and before.done():
            before = None
        if before is None and not (self.triage.semantic is not None
                                   and isinstance(event, MessagePosted)):
            lane, item = self._item(event, future)
            self._enqueue_post(event, item, lane)
            return
        self._inflight += 1
        self._triaging[cid] = asyncio.create_task(self._classify_then_queue(before, event, future),
                                                  name=f"haven-triage-{cid}")

    async def _classify_then_queue(self, before: asyncio.Task[None] | None, event: Event,
                                   future: asyncio.Future[Any] | None) -> None:
        try:
            if before is not None:
                await asyncio.wait({before})
            lane, matches = self.triage.lane(event)
            if not isinstance(event, MessagePosted) or matches is None:
                _, item = self._item(event, future)
            else:
                found = await self.triage.detect(event, matches)
                if any(self.triage.needs_urgency(m) for m in found):
                    lane = URGENT
                chosen = lane

                def run() -> Awaitable[Any]:
                    return self._on_message(event, found, chosen, True)

                item = WorkItem(label(event), run, future, type(event).__name__)
            self._enqueue_post(event, item, lane)
        finally:
            self._inflight -= 1

    async def handle(self, event: Event) -> CommandResult | None:
        """Queue an event and wait until it has been handled; returns a command's answer."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.route(event, future)
        try:
            result = await future
            if isinstance(result, asyncio.Future):  # an urgent post: wait for its follow-up
                await result
                return None
            return result if isinstance(result, CommandResult) else None
        except Exception:
            if isinstance(event, CommandInvoked | ButtonPressed):
                return CommandResult(self.templates.render("command_error"), ok=False)
            return None

    async def run_in_lane(self, community_id: str, lane: Lane, what: str,
                          work: Callable[[], Awaitable[Any]], kind: str = "other") -> None:
        """Run ``work`` in a community's lane and wait for it (errors are logged there)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.enqueue(community_id, WorkItem(what, work, future, kind), lane)
        with contextlib.suppress(Exception):
            await future

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every community queue is empty (tests and shutdown).

        With ``timeout``, give up after that many seconds; returns whether all work finished.
        """
        async def empty() -> None:
            while self._inflight:
                await asyncio.gather(*(q.join() for q in list(self._queues.values())),
                                     *(t for t in self._triaging.values() if not t.done()))

        if timeout is None:
            await empty()
            return True
        try:
            await asyncio.wait_for(empty(), timeout)
        except TimeoutError:
            log.error("%d piece(s) of work still unfinished after %.0fs", self._inflight, timeout)
            return False
        return True

    async def stop(self) -> None:
        """Cancel the workers (after :meth:`drain`)."""
        for task in self._workers.values():
            task.cancel()
        for task in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._queues.clear()


def label(event: Event) -> str:
    """A log label with ids only: message text never goes into logs."""
    parts = [type(event).__name__, f"community={event.community_id}"]
    channel = getattr(event, "channel", None)
    if channel is not None:
        parts.append(f"channel={channel.id}")
    message = getattr(event, "message", None)
    if message is not None:
        parts.append(f"message={message.message_id}")
    if isinstance(event, CommandInvoked):
        parts.append(f"command={event.name}")
    return " ".join(parts)

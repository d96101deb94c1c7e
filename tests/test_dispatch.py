"""bot.core.dispatch: per-community lanes, in order, with an error boundary."""

from __future__ import annotations

import asyncio
import logging

from bot.core.dispatch import URGENT, YIELD_EVERY, WorkItem, label
from tests.conftest import Harness
from tests.fakes import command, member, post


async def test_the_urgent_lane_does_not_wait_behind_the_normal_lane(harness: Harness) -> None:
    dispatch = harness.core.dispatch
    gate = asyncio.Event()
    order: list[str] = []

    async def slow() -> None:
        await gate.wait()
        order.append("normal")

    async def urgent() -> None:
        order.append("urgent")
        gate.set()

    dispatch.enqueue("c1", WorkItem("slow", slow))
    dispatch.enqueue("c1", WorkItem("urgent", urgent), URGENT)
    assert await dispatch.drain(timeout=5)
    assert order == ["urgent", "normal"]


async def test_a_cancellation_leaking_from_a_library_does_not_stop_the_lane(
        harness: Harness, caplog) -> None:
    dispatch = harness.core.dispatch
    done: list[str] = []

    async def leaks() -> None:
        raise asyncio.CancelledError("from inside a library")

    async def after() -> None:
        done.append("after")

    with caplog.at_level(logging.ERROR):
        dispatch.enqueue("c1", WorkItem("leaky", leaks))
        dispatch.enqueue("c1", WorkItem("after", after))
        assert await dispatch.drain(timeout=5)
    assert done == ["after"] and harness.core.errors == 1
    assert "cancelled from inside" in caplog.text


async def test_drain_gives_up_after_its_timeout(harness: Harness) -> None:
    dispatch = harness.core.dispatch
    gate = asyncio.Event()

    async def stuck() -> None:
        await gate.wait()

    dispatch.enqueue("c1", WorkItem("stuck", stuck))
    assert not await dispatch.drain(timeout=0.05)
    gate.set()
    assert await dispatch.drain(timeout=5)


def test_labels_name_ids_never_text() -> None:
    ev = post("my secret words", 0.0, author=member("a"), msg_id="m7")
    text = label(ev)
    assert "m7" in text and "community=c1" in text and "secret" not in text
    assert "command=help" in label(command("help", 0.0))


async def test_a_post_is_matched_against_the_rules_once(harness: Harness) -> None:
    core = harness.core
    calls: list[str] = []
    evaluate = core.triage.evaluate

    def counted(ev):
        calls.append(ev.message.message_id)
        return evaluate(ev)

    core.triage.evaluate = counted
    await core.handle(post("a quiet evening, thanks all", harness.clock.now(), author=member("a")))
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("b")))
    assert len(calls) == 2  # on arrival, for the lane; the pipeline acts on those matches
    assert await core.store.alerts.get_alert(1) is not None


async def test_a_busy_community_alone_does_not_cost_a_turn_per_item(harness: Harness) -> None:
    """With nothing else ready to run, a worker goes on to its next item without a turn
    of the event loop in between; it still lets the loop poll sockets and timers at
    least every YIELD_EVERY items."""
    dispatch = harness.core.dispatch
    loop = asyncio.get_running_loop()
    order: list[str] = []

    def item(name: str) -> WorkItem:
        async def run() -> None:
            order.append(name)
        return WorkItem(name, run)

    turns = 0
    real = loop._run_once  # type: ignore[attr-defined]

    def counted() -> None:
        nonlocal turns
        turns += 1
        real()

    loop._run_once = counted  # type: ignore[attr-defined]
    try:
        items = 5 * YIELD_EVERY
        for i in range(items):
            dispatch.enqueue("c1", item(f"a{i}"))
        loop.call_later(0, order.append, "timer")
        await dispatch.drain()
    finally:
        loop._run_once = real  # type: ignore[attr-defined]
    assert turns < items // 2
    assert order.index("timer") <= YIELD_EVERY + 1  # polled within YIELD_EVERY items


async def test_busy_communities_take_turns(harness: Harness) -> None:
    """The store answers without suspending, so a worker yields between items."""
    dispatch = harness.core.dispatch
    order: list[str] = []

    def item(name: str) -> WorkItem:
        async def run() -> None:
            order.append(name)
        return WorkItem(name, run)

    for i in range(3):
        dispatch.enqueue("c1", item(f"a{i}"))
        dispatch.enqueue("c2", item(f"b{i}"))
    await dispatch.drain()
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


async def test_the_normal_lane_goes_on_when_an_urgent_post_has_no_follow_up(
        harness: Harness) -> None:
    """A reserved place whose urgent part fails (or needs no follow-up) is released."""
    core = harness.core
    calls: list[str] = []

    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("urgent part failed")

    original = core.pipeline.run
    core.pipeline.run = boom  # type: ignore[method-assign]
    core.submit(post("i want to kill myself", harness.clock.now(), author=member("cas"),
                     where="support", msg_id="u2"))
    core.pipeline.run = original  # type: ignore[method-assign]
    done = asyncio.get_running_loop().create_future()

    async def later() -> None:
        calls.append("later")

    core.dispatch.enqueue("c1", WorkItem("later", later, done))
    assert await core.dispatch.drain(timeout=5)
    assert calls == ["later"]

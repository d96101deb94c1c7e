"""bot.core.clock: the virtual clock wakes sleepers in order at their deadlines; formatting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from bot.core.clock import RealClock, VirtualClock, fmt_duration, fmt_time

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()


def test_virtual_clock_starts_at_a_fixed_time() -> None:
    assert VirtualClock().now() == START
    assert VirtualClock(123.0).now() == 123.0
    assert VirtualClock(0).now() == 0.0


async def test_advance_moves_time_without_sleepers() -> None:
    clock = VirtualClock(1000.0)
    await clock.advance(60)
    assert clock.now() == 1060.0
    await clock.advance(0)
    assert clock.now() == 1060.0


async def test_sleepers_wake_in_order_at_their_deadlines() -> None:
    clock = VirtualClock(0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s))
             for n, s in [("c", 30), ("a", 10), ("b", 20), ("a2", 10), ("late", 100)]]
    await asyncio.sleep(0)
    assert woke == []
    await clock.advance(50)
    assert woke == [("a", 10.0), ("a2", 10.0), ("b", 20.0), ("c", 30.0)]
    assert clock.now() == 50.0
    await clock.advance(49)
    assert len(woke) == 4
    await clock.advance(1)
    assert woke[-1] == ("late", 100.0)
    await asyncio.gather(*tasks)


async def test_a_sleeper_that_sleeps_again_wakes_within_the_same_advance() -> None:
    clock = VirtualClock(0.0)
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(10)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.advance(25)
    assert ticks == [10.0, 20.0]
    await clock.advance(5)
    assert ticks == [10.0, 20.0, 30.0]
    await task


async def test_zero_or_negative_sleep_returns_at_once() -> None:
    clock = VirtualClock(0.0)
    await asyncio.wait_for(clock.sleep(0), 1)
    await asyncio.wait_for(clock.sleep(-5), 1)
    assert clock.now() == 0.0


async def test_cancelled_sleeper_is_forgotten() -> None:
    clock = VirtualClock(0.0)
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.advance(20)  # nothing left to wake, no error
    assert clock.now() == 20.0
    assert clock._sleepers == []


async def test_set_jumps_without_waking() -> None:
    clock = VirtualClock(0.0)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(10)
        woke.append(clock.now())

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    clock.set(500.0)
    await asyncio.sleep(0)
    assert woke == []
    assert clock.now() == 500.0
    await clock.advance(0)  # overdue sleepers wake on the next advance
    assert woke == [500.0]
    await task


async def test_advance_backwards_is_refused() -> None:
    clock = VirtualClock(100.0)
    with pytest.raises(ValueError, match="backwards"):
        await clock.advance(-1)
    assert clock.now() == 100.0


async def test_real_clock() -> None:
    clock = RealClock()
    assert abs(clock.now() - time.time()) < 5
    started = time.monotonic()
    await clock.sleep(0.02)
    await clock.sleep(-1)  # negative is no wait
    assert time.monotonic() - started >= 0.015


def test_fmt_time() -> None:
    assert fmt_time(START) == "2026-01-05 09:00 UTC"
    assert fmt_time(0) == "1970-01-01 00:00 UTC"
    assert fmt_time(START + 59) == "2026-01-05 09:00 UTC"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (40, "40s"), (59.4, "59s"), (59.6, "1m"), (60, "1m"), (90, "1m"),
    (600, "10m"), (3600, "1h"), (2 * 3600 + 5 * 60, "2h 5m"), (86400, "1d"),
    (86400 + 3600 + 60, "1d 1h"), (3 * 86400 + 60, "3d"), (-30, "0s"),
])
def test_fmt_duration(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text

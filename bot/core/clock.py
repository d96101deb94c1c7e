"""Injectable clocks: real time for production, virtual time for tests and the demo.

Every timestamp in Haven is a float of seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the core needs to know about time."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (virtual clocks wait until advanced)."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that only moves when told to; sleepers wake as time passes them.

    ``advance`` moves time forward in steps so that every sleeper whose deadline
    falls inside the jump wakes at its own deadline, in order.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(start if start is not None else datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp())
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        self._sleepers.append((self._now + seconds, self._seq, fut))
        self._sleepers.sort(key=lambda s: (s[0], s[1]))
        try:
            await fut
        finally:
            self._sleepers = [s for s in self._sleepers if s[2] is not fut]

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers at their deadlines."""
        if seconds < 0:
            raise ValueError("a clock cannot be advanced backwards; use set() to jump")
        target = self._now + seconds
        while True:
            await _settle()
            due = [s for s in self._sleepers if s[0] <= target and not s[2].done()]
            if not due:
                break
            deadline = due[0][0]
            self._now = max(self._now, deadline)
            for when, _, fut in due:
                if when <= self._now and not fut.done():
                    fut.set_result(None)
        self._now = target
        await _settle()

    def set(self, when: float) -> None:
        """Jump to an absolute time without waking anyone (simulates downtime)."""
        self._now = when


async def _settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def fmt_time(ts: float) -> str:
    """Format a timestamp for people: ``2026-01-05 09:00 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(seconds: float) -> str:
    """Format a duration for people: ``2h 5m``, ``40s`` (negative counts as zero)."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return " ".join(parts) or "0m"

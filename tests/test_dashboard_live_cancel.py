"""The live feed's wait, cancelled when a page goes away, leaves no task behind
(found by the browser test: "Task was destroyed but it is pending")."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bot.dashboard.live import Feed


async def test_a_cancelled_wait_leaves_no_pending_task() -> None:
    none: Any = None
    feed = Feed(none, none, none, poll=30)
    before = asyncio.all_tasks()
    waiting = asyncio.create_task(feed._next(asyncio.Queue()))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if t is not waiting and not t.done()]
    assert left == []

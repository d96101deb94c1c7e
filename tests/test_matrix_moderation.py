"""bot.adapters.matrix.moderation: timeouts as mutes, lifted by the core; older mutes still end."""

from __future__ import annotations

from bot.adapters.matrix.adapter import MatrixAdapter
from tests.matrix_fakes import ALICE, MOD, ROOM, FakeCore, adapter_for


async def test_mutes_of_an_older_haven_are_still_lifted_when_due() -> None:
    """Mutes stored before timeouts were lifted by durable jobs carry ``until`` and no job."""
    import json
    import time

    adapter = adapter_for()
    core = FakeCore()
    adapter.attach(core)
    now = time.time()
    await core.services.kv.set("matrix:mutes", json.dumps({
        f"{ROOM}|{ALICE}": {"old": None, "until": now - 5, "reason": "r"},
        f"!other:example.org|{ALICE}": {"old": 10, "until": now - 60, "reason": "r"},
        f"{ROOM}|{MOD}": {"old": None, "until": now + 3600, "reason": "r"},
        f"{ROOM}|@new:example.org": {"old": None, "reason": "lifted by the core's job"},
    }))
    await adapter.moderation.load()
    lifted: list[str] = []

    async def unmute(user_id: str) -> int:
        lifted.append(user_id)
        return 1

    adapter.moderation.unmute = unmute  # type: ignore[method-assign]
    assert adapter.moderation.resume_legacy() == 2  # alice (over) and the moderator (later)
    await _settle_some(adapter)
    assert lifted == [ALICE]
    await adapter.ctx.background.cancel_all()
    assert lifted == [ALICE]


async def _settle_some(adapter: MatrixAdapter) -> None:
    import asyncio

    for _ in range(10):
        await asyncio.sleep(0)

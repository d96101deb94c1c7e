"""The review digest end to end on Matrix (a real Synapse): a flagged post, the digest in
the moderators' room, ``!haven reviewed 1``."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.runtime import Haven
from tests.synapse_harness import homeserver  # noqa: F401
from tests.test_matrix_synapse import WAIT, World, world  # noqa: F401

pytestmark = [pytest.mark.synapse, pytest.mark.timeout(120)]


async def test_a_flagged_post_reaches_the_digest_and_is_marked_reviewed(
        world: World) -> None:  # noqa: F811
    bot = await world.haven()
    core: Haven = bot.core
    repo = core.features["digest"].ctx.repo.digest
    community = bot.adapter.community_id
    # Start just after a digest time (09:00 or 21:00 UTC; nothing to send yet), so the next
    # one is 12 hours away whatever the time of day: Alice's first post is then long past
    # ``first_posts_after`` (2 hours) when it is collected.
    day = core.clock.now() % 86400
    await core.advance(min((slot - day) % 86400 for slot in (9 * 3600, 21 * 3600)) + 60)
    await world.alice.send(world.support, "text me on 555-1234 any time")  # a pii nudge
    deadline = time.monotonic() + WAIT
    while not await repo.unreviewed(community):
        assert time.monotonic() < deadline, "the flag was not stored"
        await asyncio.sleep(0.05)
    await core.advance(13 * 3600)  # past the next 09:00 or 21:00 (UTC)
    digest = await world.bot_says(world.mod, world.mods_room, "Review digest 1", "the digest")
    body = digest["content"]["body"]
    assert "Personal details" in body and "555" not in body
    assert "First post waiting" in body  # and nobody answered Alice's first post
    assert "!haven reviewed" in body
    cmd = await world.mod.send(world.mods_room, "!haven reviewed 1")
    answer = await world.mod.wait_for(
        lambda e: e.get("sender") == world.bot_id
        and e["content"].get("m.relates_to", {}).get("event_id") == cmd, what="reviewed answer")
    assert "Marked 1 as reviewed" in answer["content"]["body"]
    assert [i.kind for i in await repo.unreviewed(community)] == ["first_post"]

"""bot.features.members: post counts, first posts, and who counts as new here."""

from __future__ import annotations

from tests.conftest import Harness
from tests.fakes import MOD, member, post

DAY = 86400.0


async def test_newcomers(harness: Harness) -> None:
    members = harness.core.features["members"]
    now = harness.clock.now()
    assert await members.is_newcomer(post("hi", now, author=member("a", joined_at=now - DAY)))
    assert not await members.is_newcomer(post("hi", now,
                                              author=member("b", joined_at=now - 30 * DAY)))
    assert not await members.is_newcomer(post("hi", now, author=MOD))
    # no join date (Matrix history): new until their first post was counted earlier
    assert await members.is_newcomer(post("hi", now, author=member("c")))


async def test_first_posts_are_counted_once(harness: Harness) -> None:
    core = harness.core
    now = harness.clock.now()
    await core.handle(post("hello all", now, author=member("d", joined_at=now - 60)))
    await core.handle(post("me again", now + 5, author=member("d", joined_at=now - 60)))
    row = await core.store.members.get_member("c1", "d")
    assert row is not None and row.posts == 2 and row.first_post_at == now
    # a greeting went to the first post only
    assert len(harness.platform.of("reply")) == 1

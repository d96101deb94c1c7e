"""Access: a moderator of that community now, through the platform and the core's
permission check; an answer trusted for a minute at most; failures refuse."""

from __future__ import annotations

from types import SimpleNamespace

from bot.core.clock import VirtualClock
from bot.core.errors import PlatformError
from bot.core.events import Member
from bot.core.permissions import Permissions
from bot.dashboard.access import RECHECK_SECONDS, Access, Verdict
from tests.fakes import FakePlatform, member

MOD = member("mod1", "Mo", roles=("Moderators",))


def setup() -> tuple[Access, FakePlatform, VirtualClock]:
    platform = FakePlatform()
    clock = VirtualClock(1000.0)
    roles = SimpleNamespace(moderators=("Moderators",), peer_supporters=(), greeters=())
    perms = Permissions(SimpleNamespace(roles=roles))  # type: ignore[arg-type]
    return Access(platform, perms, clock), platform, clock


async def test_a_moderator_is_let_in_and_a_member_is_not() -> None:
    access, platform, _ = setup()
    platform.add_member(MOD, member("mem1", "Mel"), member("bot1", "Bot", bot=True,
                                                         roles=("Moderators",)))
    assert (await access.check("c1", "mod1")).verdict is Verdict.MODERATOR
    assert (await access.check("c1", "mem1")).verdict is Verdict.REFUSED
    assert (await access.check("c1", "bot1")).verdict is Verdict.REFUSED
    assert (await access.check("c1", "nobody")).verdict is Verdict.REFUSED


async def test_an_answer_is_trusted_for_a_minute_at_most() -> None:
    access, platform, clock = setup()
    platform.add_member(MOD)
    assert (await access.check("c1", "mod1")).verdict is Verdict.MODERATOR
    platform.members["mod1"] = Member("mod1", "Mo")  # demoted
    clock.set(clock.now() + RECHECK_SECONDS - 1)
    assert (await access.check("c1", "mod1")).verdict is Verdict.MODERATOR
    clock.set(clock.now() + 1)
    assert (await access.check("c1", "mod1")).verdict is Verdict.REFUSED
    assert Access(platform, access.perms, clock, recheck=3600).recheck == RECHECK_SECONDS


async def test_the_answer_is_per_community() -> None:
    access, platform, _ = setup()
    platform.add_member(MOD)
    await access.check("c1", "mod1")
    platform.members["mod1"] = Member("mod1", "Mo")
    assert (await access.check("c2", "mod1")).verdict is Verdict.REFUSED


async def test_a_platform_failure_is_unknown_and_not_remembered() -> None:
    access, platform, _ = setup()
    platform.add_member(MOD)
    platform.fail("resolve_member", PlatformError("down"))
    assert (await access.check("c1", "mod1")).verdict is Verdict.UNKNOWN
    assert (await access.check("c1", "mod1")).verdict is Verdict.MODERATOR
    access.forget("c1", "mod1")
    platform.members["mod1"] = Member("mod1", "Mo")
    assert (await access.check("c1", "mod1")).verdict is Verdict.REFUSED


async def test_a_name_that_resolves_to_someone_else_is_refused() -> None:
    access, platform, _ = setup()
    platform.add_member(member("Mo", "x"), MOD)  # a member whose *id* is another's name
    platform.members["mo-name"] = MOD
    assert (await access.check("c1", "mo-name")).verdict is Verdict.REFUSED

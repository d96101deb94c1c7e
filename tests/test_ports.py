"""bot.core.ports: every adapter implements the Platform protocol and what it declares."""

from __future__ import annotations

import inspect

import pytest

from bot.adapters.console import ConsolePlatform
from bot.core.bounded import BoundedPlatform
from bot.core.ports import (
    Adapter,
    Capability,
    ChannelPrivacy,
    LiftTimeout,
    Platform,
    RoleMembers,
    SlowMode,
    capability,
    has,
    lift_timeout_of,
)
from tests.fakes import FakePlatform

VERBS = [name for name, member in inspect.getmembers(Platform)
         if not name.startswith("_") and callable(member)]


def adapter_classes() -> list[type]:
    from bot.adapters.discord.adapter import DiscordAdapter

    classes: list[type] = [ConsolePlatform, FakePlatform, DiscordAdapter]
    try:
        from bot.adapters.matrix.adapter import MatrixAdapter
    except ImportError:  # pragma: no cover - the Matrix adapter is optional to import here
        return classes
    return [*classes, MatrixAdapter]


def test_protocol_lists_the_verbs() -> None:
    assert {"send", "reply", "send_private", "edit", "hide", "timeout", "repost",
            "tag_post", "user_mention", "role_mention", "channel_mention",
            "community_name"} <= set(VERBS)


@pytest.mark.parametrize("cls", adapter_classes(), ids=lambda c: c.__name__)
def test_adapter_implements_every_verb(cls: type) -> None:
    for verb in VERBS:
        impl = getattr(cls, verb, None)
        assert impl is not None, f"{cls.__name__} lacks {verb}"
        proto = getattr(Platform, verb)
        assert inspect.iscoroutinefunction(impl) == inspect.iscoroutinefunction(proto), verb
        assert list(inspect.signature(impl).parameters) == list(
            inspect.signature(proto).parameters), verb


@pytest.mark.parametrize("cls", adapter_classes()[2:], ids=lambda c: c.__name__)
def test_real_adapters_run(cls: type) -> None:
    for verb in ("attach", "run", "close"):
        assert callable(getattr(cls, verb, None)), verb
    for verb in ("attach", "run", "close"):
        assert verb in dir(Adapter)


IMPLEMENTS = {Capability.ROLE_MEMBERS: RoleMembers, Capability.CHANNEL_PRIVACY: ChannelPrivacy,
              Capability.SLOW_MODE: SlowMode}


def test_dead_verbs_are_gone() -> None:
    assert "kick" not in VERBS and "ban" not in VERBS


@pytest.mark.parametrize("cls", adapter_classes(), ids=lambda c: c.__name__)
def test_declared_capabilities_are_implemented(cls: type) -> None:
    caps = cls.capabilities if isinstance(cls.capabilities, frozenset) else frozenset()
    assert all(isinstance(c, Capability) for c in caps)
    for cap, proto in IMPLEMENTS.items():
        if cap in caps:
            for name in dir(proto):
                if not name.startswith("_"):
                    assert callable(getattr(cls, name, None)), f"{cls.__name__} declares {cap} " \
                                                               f"but lacks {name}"
    if Capability.TIMEOUT_EXPIRES not in caps and cls is not FakePlatform:
        assert callable(getattr(cls, "lift_timeout", None)), \
            f"{cls.__name__} neither lets timeouts expire nor lifts them"


class _Lifts:
    """A platform that cannot let a timeout expire by itself."""

    capabilities = frozenset({Capability.ROLE_MEMBERS})

    async def lift_timeout(self, community_id: str, user_id: str) -> None:
        self.lifted = (community_id, user_id)


async def test_capability_is_declared_not_probed() -> None:
    fake = FakePlatform()
    bounded = BoundedPlatform(fake)
    assert capability(bounded, Capability.CHANNEL_PRIVACY, ChannelPrivacy) is bounded
    fake.capabilities = frozenset()
    # it still has the method, but it does not declare it: not used
    assert capability(bounded, Capability.CHANNEL_PRIVACY, ChannelPrivacy) is None
    assert not has(bounded, Capability.BUTTONS)


async def test_timeouts_are_lifted_only_where_the_platform_does_not() -> None:
    assert lift_timeout_of(FakePlatform()) is None  # declares TIMEOUT_EXPIRES
    lifts = _Lifts()
    bounded = BoundedPlatform(lifts)
    lifter = lift_timeout_of(bounded)
    assert lifter is bounded and isinstance(lifts, LiftTimeout)
    await lifter.lift_timeout("c1", "u1")  # through the time bound
    assert lifts.lifted == ("c1", "u1")

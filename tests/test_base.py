"""Every adapter implements the whole Platform protocol the core relies on."""

from __future__ import annotations

import inspect

import pytest

from bot.adapters.base import Adapter, Platform
from bot.adapters.console import ConsolePlatform
from tests.fakes import FakePlatform

VERBS = [name for name, member in inspect.getmembers(Platform)
         if not name.startswith("_") and callable(member)]


def adapter_classes() -> list[type]:
    from bot.adapters.discord_adapter import DiscordAdapter

    classes: list[type] = [ConsolePlatform, FakePlatform, DiscordAdapter]
    try:
        from bot.adapters.matrix_adapter import MatrixAdapter
    except ImportError:  # pragma: no cover - the Matrix adapter is optional to import here
        return classes
    return [*classes, MatrixAdapter]


def test_protocol_lists_the_verbs() -> None:
    assert {"send", "reply", "send_private", "edit", "hide", "timeout", "kick", "ban", "repost",
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

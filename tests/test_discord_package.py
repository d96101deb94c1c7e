"""The Discord adapter's package: its environment, its door to the core, its commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.adapters.discord.env import TOKEN_ENV, run_token, token_from
from bot.core.errors import ConfigError, HavenError
from bot.core.events import CommandInvoked
from bot.core.ports import AdapterServices, CoreSink
from tests import discord_payloads as p
from tests.discord_harness import MO, RecordingCore, discord_config, started
from tests.golden import COMMANDS

PACKAGE = Path(__file__).resolve().parents[1] / "bot" / "adapters" / "discord"
FORBIDDEN = ("bot.core.runtime", "bot.storage", "bot.features", "bot.app")
def allowed(module: str) -> bool:
    """Settings an adapter reads (support places, raid slow channels), never a feature's code."""
    return module.startswith("bot.features.") and module.endswith(".config")


def test_discord_token_comes_from_its_environment_variable():
    assert TOKEN_ENV == "HAVEN_DISCORD_TOKEN"
    assert token_from({TOKEN_ENV: " abc.def "}) == "abc.def"
    for environ in ({}, {TOKEN_ENV: ""}, {TOKEN_ENV: "   "}):
        with pytest.raises(ConfigError) as info:
            token_from(environ, "config.yaml", 3)
        assert str(info.value) == (
            "config.yaml:3: platform: platform is discord but the environment variable "
            "HAVEN_DISCORD_TOKEN is not set (put the bot token there, never in the config file)")


def test_discord_run_token_prefers_the_given_one_and_never_shows_it():
    assert run_token("given", {TOKEN_ENV: "other"}) == "given"
    assert run_token(None, {TOKEN_ENV: "other"}) == "other"
    with pytest.raises(HavenError, match="set the bot token in the HAVEN_DISCORD_TOKEN"):
        run_token(None, {})


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda f: f.name)
def test_discord_package_reaches_the_core_only_through_its_ports(path: Path):
    text = path.read_text()
    for module in _imports(path):
        assert allowed(module) or not module.startswith(FORBIDDEN), \
            f"{path.name} imports {module}"
    assert "getattr(self._core" not in text and "getattr(self.state.core" not in text
    assert "record_automod" not in text


def test_discord_recording_core_is_a_core_sink():
    from bot.core.clock import VirtualClock

    core = RecordingCore(discord_config(), VirtualClock())
    assert isinstance(core, CoreSink)
    assert isinstance(core.services, AdapterServices)


async def test_discord_slash_commands_come_from_the_cores_command_list(monkeypatch):
    from bot.core.clock import VirtualClock

    config = discord_config()
    core = RecordingCore(config, VirtualClock())
    few = tuple(c for c in COMMANDS if c.name in ("unanswered", "help"))
    assert len(few) == 2
    core._services = AdapterServices(kv=core.kv, clock=core.clock,
                                     templates=core.services.templates,
                                     notices=core.notices, commands=few)
    h, _ = await started(monkeypatch, config=config, core=core)
    assert sorted(c.name for c in h.adapter.tree.get_commands()) == ["help", "unanswered"]
    await h.feed("INTERACTION_CREATE", p.slash_command(
        "unanswered", at=core.clock.now(), channel=p.channel_for_interaction(
            p.text_channel(p.MODS, "moderators")), invoker=MO, roles=(p.MOD_ROLE,)))
    [event] = core.of(CommandInvoked)
    assert event.name == "unanswered"

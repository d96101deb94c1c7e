"""``haven run``: adapter selection, secrets from the environment, failures reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot import runner
from bot.config import load_config_text
from bot.errors import ConfigError, HavenError

ROOT = Path(__file__).resolve().parents[1]


def config_for(platform: str, tmp_path: Path):
    extra = ("matrix: {homeserver: 'http://127.0.0.1:1', user_id: '@haven:localhost'}\n"
             if platform == "matrix" else "")
    return load_config_text(f"platform: {platform}\ndatabase: {tmp_path / 'h.db'}\n"
                            f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n"
                            + extra)


def test_matrix_needs_a_secret(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HAVEN_MATRIX_TOKEN", raising=False)
    monkeypatch.delenv("HAVEN_MATRIX_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="HAVEN_MATRIX_TOKEN"):
        runner.build_adapter(config_for("matrix", tmp_path))


def test_discord_adapter_built_from_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HAVEN_DISCORD_TOKEN", "x" * 30)
    adapter = runner.build_adapter(config_for("discord", tmp_path))
    assert type(adapter).__name__ == "DiscordAdapter"


async def test_a_failing_connection_is_logged_and_exits_non_zero(tmp_path: Path, monkeypatch,
                                                                  caplog) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"platform: discord\ndatabase: {tmp_path / 'h.db'}\n"
                   f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n")

    class Refused:
        name = "discord"

        def attach(self, core) -> None:
            self.core = core

        async def run(self) -> None:
            raise HavenError("Discord refused the token: check HAVEN_DISCORD_TOKEN")

        async def close(self) -> None:
            pass

    monkeypatch.setattr(runner, "build_adapter", lambda config: Refused())
    with caplog.at_level(logging.ERROR):
        assert await runner.run_bot(str(cfg)) == 1
    assert "Discord refused the token" in caplog.text


def test_missing_secret_points_at_the_platform_line_and_names_the_variable(
        tmp_path: Path, monkeypatch) -> None:
    # field report: "haven.yaml:0: platform: ..." (a line that does not exist)
    monkeypatch.delenv("HAVEN_DISCORD_TOKEN", raising=False)
    config = load_config_text(f"# Haven\ndatabase: {tmp_path / 'h.db'}\nplatform: discord\n"
                              f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n",
                              "haven.yaml")
    with pytest.raises(ConfigError) as err:
        runner.build_adapter(config)
    [problem] = err.value.problems
    assert str(problem).startswith("haven.yaml:3: platform: ")
    assert "environment variable HAVEN_DISCORD_TOKEN is not set" in problem.message


def test_no_platform_key_is_reported_without_a_bogus_line(tmp_path: Path) -> None:
    config = load_config_text(f"database: {tmp_path / 'h.db'}\nchannels: {{moderators: mods}}\n"
                              f"rules: {{dir: {ROOT / 'rules'}}}\n", "haven.yaml")
    with pytest.raises(ConfigError) as err:
        runner.build_adapter(config)
    assert str(err.value).startswith("haven.yaml: platform: `haven run` needs platform")

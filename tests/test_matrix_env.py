"""bot.adapters.matrix.env: the bot account's secret comes from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import runner
from bot.adapters.matrix.adapter import MatrixAdapter
from bot.adapters.matrix.env import PASSWORD_ENV, TOKEN_ENV, credentials_from
from bot.app import load_config_text
from bot.core.errors import ConfigError
from bot.core.ports import Capability, lift_timeout_of

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path):
    return load_config_text(
        f"platform: matrix\ndatabase: {tmp_path / 'h.db'}\nchannels: {{moderators: mods}}\n"
        f"rules: {{dir: {ROOT / 'rules'}}}\n"
        "matrix: {homeserver: 'http://127.0.0.1:1', user_id: '@haven:localhost'}\n",
        "haven.yaml")


def test_no_secret_is_a_config_error_at_the_platform_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        credentials_from({}, _config(tmp_path))
    text = str(info.value)
    assert "haven.yaml:1: platform:" in text
    assert TOKEN_ENV in text and PASSWORD_ENV in text and "neither" in text
    with pytest.raises(ConfigError):
        credentials_from({TOKEN_ENV: "", PASSWORD_ENV: ""}, _config(tmp_path))  # empty = unset


def test_either_secret_will_do_and_is_never_shown(tmp_path: Path) -> None:
    token = credentials_from({TOKEN_ENV: "syt_secret"}, _config(tmp_path))
    assert token.access_token == "syt_secret" and token.password is None
    both = credentials_from({TOKEN_ENV: "syt_secret", PASSWORD_ENV: "hunter2"}, _config(tmp_path))
    assert both.access_token == "syt_secret" and both.password == "hunter2"
    assert "syt_secret" not in repr(both) and "hunter2" not in repr(both)


def test_runner_builds_the_matrix_adapter_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv(PASSWORD_ENV, "hunter2")
    adapter = runner.build_adapter(_config(tmp_path))
    assert isinstance(adapter, MatrixAdapter)
    assert adapter.secret_in_use() == PASSWORD_ENV
    # Matrix timeouts do not end by themselves: the core lifts them (a durable job).
    assert Capability.TIMEOUT_EXPIRES not in adapter.capabilities
    assert lift_timeout_of(adapter) is adapter

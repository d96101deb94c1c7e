"""The ``dashboard:`` section: off by default; every mistake at its file:line."""

from __future__ import annotations

import pytest

from bot.app import load_config_text
from bot.core.errors import ConfigError, Problem
from bot.dashboard.config import DASHBOARD_SECTION, DashboardConfig, split_listen

BASE = "channels: {moderators: mod-alerts}\n"


def load(text: str) -> DashboardConfig:
    return load_config_text(BASE + text, "haven.yaml").get(DASHBOARD_SECTION)


def problems(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + text, "haven.yaml")
    return info.value.problems


def test_off_by_default() -> None:
    settings = load("")
    assert not settings.enabled and settings.session_hours == 12
    assert settings.public_url is None


def test_on_with_an_address() -> None:
    settings = load('dashboard:\n  listen: "0.0.0.0:8080"\n'
                    '  public_url: "https://haven.example.org/"\n  session_hours: 4\n')
    assert settings.enabled and (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.public_url == "https://haven.example.org" and settings.secure
    assert settings.link("/login/x") == "https://haven.example.org/login/x"
    assert settings.session_hours == 4


def test_plain_http_is_allowed_but_not_secure() -> None:
    settings = load('dashboard: {listen: "127.0.0.1:8080", public_url: "http://127.0.0.1:8080"}\n')
    assert settings.enabled and not settings.secure


def test_listen_without_a_public_url_is_reported_at_its_line() -> None:
    [p] = problems('dashboard:\n  listen: "127.0.0.1:8080"\n')
    assert (p.file, p.line, p.key) == ("haven.yaml", 3, "dashboard.public_url")
    assert "required when listen is set" in p.message


@pytest.mark.parametrize("value", ["8080", "localhost", "127.0.0.1:0", "127.0.0.1:99999",
                                   ":8080", "127.0.0.1:port"])
def test_a_bad_listen_address_is_reported(value: str) -> None:
    [p] = problems(f'dashboard:\n  listen: "{value}"\n  public_url: "https://h.example"\n')
    assert (p.line, p.key) == (3, "dashboard.listen")
    assert "host:port" in p.message


@pytest.mark.parametrize("value", ["haven.example.org", "ftp://h.example", "https://",
                                   "https://h.example/?x=1", "https://user@h.example"])
def test_a_bad_public_url_is_reported(value: str) -> None:
    [p] = problems(f'dashboard:\n  listen: "127.0.0.1:8080"\n  public_url: "{value}"\n')
    assert (p.line, p.key) == (4, "dashboard.public_url")


def test_session_hours_and_unknown_keys() -> None:
    found = problems('dashboard:\n  session_hours: 0\n  lisen: "x"\n')
    assert {(p.line, p.key) for p in found} == {(3, "dashboard.session_hours"),
                                                (4, "dashboard.lisen")}
    assert "did you mean 'listen'" in next(p.message for p in found if p.line == 4)


def test_split_listen_takes_ipv6_in_brackets() -> None:
    assert split_listen("[::1]:8080") == ("::1", 8080)

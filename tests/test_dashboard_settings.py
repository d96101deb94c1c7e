"""The dashboard's Settings page: the config in force, read-only, with ``haven check``;
nothing secret shown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.app import load_config
from bot.core.config import Config
from bot.dashboard.pages.settings import HIDDEN, Redactor, config_groups, secret_name
from tests.conftest import BASE_CONFIG, TEST_RULES, Harness
from tests.dashboard_helpers import DASHBOARD_CONFIG, MEMBER, Dash, dash, serve
from tests.fakes import MOD, member, post

__all__ = ["dash"]  # the fixture

SECRET = "xoxb-sekrit-Token-4242"


async def test_the_config_and_the_check_are_shown(dash: Dash) -> None:
    await dash.sign_in()
    status, html = await dash.page("/settings")
    assert status == 200
    assert "No problems." in html and " rules from " in html
    assert "Semantic detection: off (rules only)." in html
    for shown in ("community", "Harbour", "channels", "moderators", "mod-alerts", "unanswered",
                  "remind_after", "dashboard", "public_url", "http://127.0.0.1:8089"):
        assert f">{shown}<" in html or shown in html, shown
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    assert "<form" not in main and "<textarea" not in main  # read-only


async def test_no_session_no_settings(dash: Dash) -> None:
    status, html = await dash.page("/settings")
    assert status == 401 and "mod-alerts" not in html


async def test_crisis_text_never_appears(dash: Dash) -> None:
    await dash.core.handle(post("i want to end my life", dash.harness.clock.now(),
                                author=member("cas", "Casey"), where="vent"))
    await dash.sign_in()
    _, html = await dash.page("/settings")
    assert "end my life" not in html and "Casey" not in html


async def test_an_environment_secret_is_hidden_wherever_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAVEN_DISCORD_TOKEN", SECRET)
    monkeypatch.setenv("HAVEN_MATRIX_PASSWORD", "correct horse battery")
    extra = (f"welcome: {{greeting: 'Hello {SECRET}, and correct horse battery'}}\n"
             f"templates: {{greeting: 'see {SECRET} {{member}}'}}\n")
    async with _served(tmp_path, extra) as d:
        await d.sign_in()
        status, html = await d.page("/settings")
    assert status == 200
    assert SECRET not in html and "correct horse battery" not in html
    assert f"Hello {HIDDEN}, and {HIDDEN}" in html and f"see {HIDDEN} {{member}}" in html
    assert "HAVEN_DISCORD_TOKEN" not in html  # the environment itself is never listed


async def test_the_file_on_disk_is_checked_with_file_and_line(tmp_path: Path) -> None:
    async with _served(tmp_path) as d:
        await d.sign_in()
        _, html = await d.page("/settings")
        assert "No problems." in html
        path = Path(d.core.config.source)
        path.write_text(path.read_text().replace("moderators: mod-alerts", "moderators: ''"))
        _, html = await d.page("/settings")
    assert "Haven would refuse to start" in html
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if "moderators: ''" in text)
    assert f"{path}:{line}: channels.moderators:" in html
    assert "mod-alerts" in html  # the config in force is still the one loaded


def test_secret_names() -> None:
    for name in ("token", "discord.token", "password", "db_password", "api-key", "access_token",
                 "secret", "matrix.password_env", "dsn"):
        assert secret_name(name), name
    for name in ("keywords", "remind_after", "moderators", "passages", "tokenizer_dir"):
        assert not secret_name(name), name


def test_passwords_in_addresses_and_assignments_are_cut() -> None:
    redact = Redactor({})
    assert redact.text("postgresql://haven:pw%21@db:5432/haven") == \
        f"postgresql://haven:{HIDDEN}@db:5432/haven"
    assert redact.text("host=db user=haven password=s3cret dbname=haven") == \
        f"host=db user=haven password={HIDDEN} dbname=haven"
    assert redact.text("https://example.org/a?b=c") == "https://example.org/a?b=c"
    assert Redactor({"MY_API_TOKEN": "abcdef123"}).text("x abcdef123 y") == f"x {HIDDEN} y"
    assert Redactor({"HAVEN_FUZZ_SCALE": "20"}).text("2026-12-01") == "2026-12-01"


def test_a_secret_setting_is_hidden_by_its_name() -> None:
    @dataclass(frozen=True)
    class Remote:
        url: str = "https://user:pw@example.org/x"
        token: str = "abc"
        password_file: str | None = None

    config = Config(source="c.yaml", database="postgresql://h:pw@db/haven")
    groups = config_groups(config, Redactor({}))
    general = {s.name: s.value for s in groups[0].settings}
    assert general["database"] == f"postgresql://h:{HIDDEN}@db/haven"
    from bot.dashboard.pages.settings import _settings

    rows = {s.name: s for s in _settings(Remote(), Redactor({}))}
    assert rows["token"].hidden and rows["token"].value == HIDDEN
    assert rows["url"].value == f"https://user:{HIDDEN}@example.org/x"
    assert rows["password_file"].value == "not set" and not rows["password_file"].hidden


class _served:
    """A core whose config is a real file on disk, with its dashboard and a client."""

    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        text = BASE_CONFIG.format(db=tmp_path / "haven.db", rules=TEST_RULES)
        base = yaml.safe_load(text)
        for more in (DASHBOARD_CONFIG, extra):
            if more:
                base.update(yaml.safe_load(more))
        self.path = tmp_path / "config.yaml"
        self.path.write_text(yaml.safe_dump(base, sort_keys=False))

    async def __aenter__(self) -> Dash:
        harness = Harness(load_config(self.path))
        harness.platform.add_member(MOD, MEMBER)
        await harness.start()
        dashboard, server = await serve(harness)
        self.dash = Dash(harness, dashboard, server)
        return self.dash

    async def __aexit__(self, *exc: object) -> None:
        for browser in self.dash.browsers:
            await browser.close()
        await self.dash.server.close()
        await self.dash.harness.stop()



"""Shared fixtures: a Haven on virtual time with a FakePlatform and a temp SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot import app
from bot.app import load_config_text
from bot.core.clock import VirtualClock
from bot.core.config import Config
from bot.core.runtime import Haven
from bot.storage.store import Store
from tests.fakes import FakePlatform
from tests.pg import db_target, engine, pg_server, pg_url  # noqa: F401  (fixtures)

DATA = Path(__file__).parent / "data"
TEST_RULES = DATA / "rules"

pytest_plugins = ("tests.browser",)
"""The real-browser fixture (``browser``) and its helpers live in tests/browser.py."""

BASE_CONFIG = """
platform: console
database: {db}
community: {{name: Harbour, countries: [GB]}}
rules: {{dir: {rules}, helplines: {rules}/helplines.yaml}}
channels: {{moderators: mod-alerts, welcome: welcome, rules: house-rules, nudges: team}}
roles:
  moderators: [Moderators]
  peer_supporters: [Peer Supporters]
  greeters: [Greeters]
unanswered:
  remind_after: 2h
  escalate_after: 12h
  places: [support, {{channel: vent, remind_after: 1h, escalate_after: 6h}}]
content_warnings: {{channels: [heavy-topics], redirect_to: heavy-topics}}
detection: {{semantic: off}}
"""


def make_config(tmp_path: Path, extra: str = "", rules: Path = TEST_RULES) -> Config:
    """The base test config plus ``extra`` YAML appended (later keys override)."""
    text = BASE_CONFIG.format(db=tmp_path / "haven.db", rules=rules)
    if extra:
        import yaml

        base = yaml.safe_load(text)
        base.update(yaml.safe_load(extra))
        text = yaml.safe_dump(base)
    return load_config_text(text, "test-config.yaml")


class Harness:
    """A Haven plus its fake platform and virtual clock, restartable on the same store."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.clock = VirtualClock()
        self.platform = FakePlatform()
        self.core: Haven | None = None

    async def start(self) -> Haven:
        """(Re)start the core on the same database."""
        store = await Store.open(self.config.database)
        self.core = await app.create(self.config, self.platform, self.clock, store)
        await self.core.start(run_scheduler=False)
        return self.core

    async def restart(self, downtime: float = 0.0) -> Haven:
        """Stop, let ``downtime`` seconds pass, start again and run overdue jobs."""
        assert self.core is not None
        await self.core.stop()
        self.clock.set(self.clock.now() + downtime)
        core = await self.start()
        await core.scheduler.run_due()
        await core.drain()
        return core

    async def stop(self) -> None:
        """Stop the core."""
        if self.core is not None:
            await self.core.stop()
            self.core = None


@pytest.fixture
def harness_factory(tmp_path: Path) -> Callable[[str], Harness]:
    """Build a harness with extra config YAML."""
    def build(extra: str = "") -> Harness:
        return Harness(make_config(tmp_path, extra))

    return build


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """A started harness with the base test config."""
    h = Harness(make_config(tmp_path))
    await h.start()
    yield h
    await h.stop()

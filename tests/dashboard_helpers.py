"""A running core with its dashboard served on loopback by aiohttp's own test server,
and a browser-like client (cookies kept) that signs in with a one-time link."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.core.events import Member
from bot.core.runtime import Haven
from bot.dashboard.auth import CSRF_FIELD
from bot.dashboard.config import DASHBOARD_SECTION
from bot.dashboard.page import NONCE_FIELD
from bot.dashboard.server import Dashboard
from bot.storage.repositories.dashboard import DashboardRepository
from tests.conftest import Harness, make_config
from tests.fakes import COMMUNITY, MOD, member

DASHBOARD_CONFIG = """
dashboard: {listen: "127.0.0.1:8089", public_url: "http://127.0.0.1:8089"}
"""
MEMBER = member("mem1", "Mel")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@dataclass
class Dash:
    """The harness, the dashboard and a client."""

    harness: Harness
    dashboard: Dashboard
    client: TestClient

    @property
    def core(self) -> Haven:
        """The running core."""
        assert self.harness.core is not None
        return self.harness.core

    @property
    def repo(self) -> DashboardRepository:
        return self.dashboard.repo

    async def link(self, who: Member = MOD, community: str = COMMUNITY) -> str:
        """A fresh one-time link token for ``who`` (as the ``dashboard`` command makes)."""
        return await self.repo.create_link(community, who.id, who.name,
                                           self.harness.clock.now(), 600)

    async def sign_in(self, who: Member = MOD, community: str = COMMUNITY) -> int:
        """Open a link and press Sign in; the final status (200 on the landing page)."""
        token = await self.link(who, community)
        page = await self.client.get(f"/login/{token}")
        assert page.status == 200
        response = await self.client.post("/login", data={"token": token})
        return response.status

    async def page(self, path: str) -> tuple[int, str]:
        """GET a page: status and HTML."""
        response = await self.client.get(path)
        return response.status, await response.text()

    async def post(self, path: str, data: dict[str, str] | None = None,
                   form_page: str = "/") -> tuple[int, str]:
        """POST a form as the page ``form_page`` would (its CSRF token, a fresh nonce)."""
        _, html = await self.page(form_page)
        found = CSRF.search(html)
        assert found, "no CSRF token on " + form_page
        nonce = NONCE.search(html)
        fields = {CSRF_FIELD: found.group(1), NONCE_FIELD: nonce.group(1) if nonce else "n",
                  **(data or {})}
        response = await self.client.post(path, data=fields)
        return response.status, await response.text()


def dash_harness(tmp_path: Path, extra: str = "") -> Harness:
    """A harness whose config turns the dashboard on; the moderator and a member known."""
    harness = Harness(make_config(tmp_path, DASHBOARD_CONFIG + extra))
    harness.platform.add_member(MOD, MEMBER)
    return harness


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    """A started core with its dashboard and a client (no one signed in yet)."""
    harness = dash_harness(tmp_path)
    core = await harness.start()
    dashboard = Dashboard(core, core.config.get(DASHBOARD_SECTION))
    client = TestClient(TestServer(dashboard.app()), cookie_jar=CookieJar(unsafe=True))
    await client.start_server()
    try:
        yield Dash(harness, dashboard, client)
    finally:
        await client.close()
        await harness.stop()

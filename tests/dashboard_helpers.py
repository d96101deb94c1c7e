"""A running core with its dashboard served on loopback by aiohttp's own test server,
and browser-like clients (each with its own cookies) that sign in with one-time links."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestServer

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
FLASH = re.compile(r'<div class="flash (ok|error)"[^>]*>(.*?)</div>', re.S)


class Browser:
    """One person's browser: its own cookies, following redirects like a browser does."""

    def __init__(self, base: str) -> None:
        self.session = ClientSession(base_url=base, cookie_jar=CookieJar(unsafe=True))
        self.last: ClientResponse | None = None

    async def get(self, path: str) -> tuple[int, str]:
        """GET a page: status and HTML."""
        async with self.session.get(path) as response:
            self.last = response
            return response.status, await response.text()

    async def post_raw(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        """POST exactly ``data``."""
        async with self.session.post(path, data=data) as response:
            self.last = response
            return response.status, await response.text()

    async def post(self, path: str, data: dict[str, str] | None = None,
                   form_page: str = "/") -> tuple[int, str]:
        """POST a form as the page ``form_page`` would (its CSRF token, a fresh nonce)."""
        _, html = await self.get(form_page)
        found = CSRF.search(html)
        assert found, "no CSRF token on " + form_page
        nonce = NONCE.search(html)
        return await self.post_raw(path, {CSRF_FIELD: found.group(1),
                                          NONCE_FIELD: nonce.group(1) if nonce else "n",
                                          **(data or {})})

    async def open_link(self, token: str) -> int:
        """Open a sign-in link and press the button; the final status (200: signed in)."""
        status, _ = await self.get(f"/login/{token}")
        if status != 200:
            return status
        status, _ = await self.post_raw("/login", {"token": token})
        return status

    def cookie(self) -> str | None:
        """The session cookie's value, if any."""
        for c in self.session.cookie_jar:
            if c.key == "haven_session":
                return c.value
        return None

    async def close(self) -> None:
        """Close the client."""
        await self.session.close()


@dataclass
class Dash:
    """The harness, the dashboard and the browsers."""

    harness: Harness
    dashboard: Dashboard
    server: TestServer
    browsers: list[Browser] = field(default_factory=list)

    @property
    def core(self) -> Haven:
        """The running core."""
        assert self.harness.core is not None
        return self.harness.core

    @property
    def repo(self) -> DashboardRepository:
        """Links and sessions."""
        return self.dashboard.repo

    @property
    def browser(self) -> Browser:
        """The first browser."""
        if not self.browsers:
            return self.new_browser()
        return self.browsers[0]

    def new_browser(self) -> Browser:
        """Another person's (or device's) browser."""
        browser = Browser(str(self.server.make_url("/")))
        self.browsers.append(browser)
        return browser

    async def link(self, who: Member = MOD, community: str = COMMUNITY) -> str:
        """A fresh one-time link token for ``who`` (as the ``dashboard`` command makes)."""
        return await self.repo.create_link(community, who.id, who.name,
                                           self.harness.clock.now(), 600)

    async def sign_in(self, who: Member = MOD, community: str = COMMUNITY,
                      browser: Browser | None = None) -> int:
        """Sign ``who`` in with a fresh link; the final status (200 on the landing page)."""
        return await (browser or self.browser).open_link(await self.link(who, community))

    async def page(self, path: str) -> tuple[int, str]:
        """GET with the first browser."""
        return await self.browser.get(path)

    async def post(self, path: str, data: dict[str, str] | None = None,
                   form_page: str = "/") -> tuple[int, str]:
        """POST a form with the first browser."""
        return await self.browser.post(path, data, form_page)


def flashes(html: str) -> list[str]:
    """The flash messages on a page."""
    return [text.strip() for _, text in FLASH.findall(html)]


def dash_harness(tmp_path: Path, extra: str = "") -> Harness:
    """A harness whose config turns the dashboard on; the moderator and a member known."""
    harness = Harness(make_config(tmp_path, DASHBOARD_CONFIG + extra))
    harness.platform.add_member(MOD, MEMBER)
    return harness


async def serve(harness: Harness, **kw: object) -> tuple[Dashboard, TestServer]:
    """The started core's dashboard on a loopback test server."""
    core = harness.core
    assert core is not None
    dashboard = Dashboard(core, core.config.get(DASHBOARD_SECTION), **kw)
    server = TestServer(dashboard.app())
    await server.start_server(access_log=None)  # as Dashboard.start serves it
    return dashboard, server


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    """A started core with its dashboard (no one signed in yet)."""
    harness = dash_harness(tmp_path)
    await harness.start()
    dashboard, server = await serve(harness)
    d = Dash(harness, dashboard, server)
    try:
        yield d
    finally:
        for browser in d.browsers:
            await browser.close()
        await server.close()
        await harness.stop()

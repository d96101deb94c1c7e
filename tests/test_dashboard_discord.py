"""The dashboard on Discord, end to end: ``/dashboard`` sends the link by DM only (the
interaction answer and the channels never carry it), a closed DM gets a clear answer,
and the link signs the moderator in, checked against the guild through the adapter."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from bot.dashboard.config import DASHBOARD_SECTION
from bot.dashboard.server import Dashboard
from tests import discord_payloads as p
from tests.discord_harness import ALICE, MO
from tests.test_discord_features import GENERAL, DiscordE2E

LINK = re.compile(r"https://haven\.example\.org/login/([A-Za-z0-9_-]+)")
CONFIG = 'dashboard: {listen: "127.0.0.1:8089", public_url: "https://haven.example.org"}\n'


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: Any) -> AsyncIterator[DiscordE2E]:
    e = await DiscordE2E(tmp_path, monkeypatch, CONFIG).start()
    yield e
    await e.stop()


def everything_but_dms(env: DiscordE2E, user_id: str) -> str:
    dms = {id(c) for c in env.rest.dms_to(user_id)}
    return "\n".join(str(c.json) for c in env.rest.calls if id(c) not in dms)


async def test_the_link_goes_by_dm_and_nowhere_else(env: DiscordE2E) -> None:
    data = await env.slash("dashboard")
    assert data["flags"] & 64  # only the moderator sees the answer
    assert "private message" in data["content"] and "login" not in data["content"]
    [dm] = [c.content for c in env.rest.dms_to(p.MOD_ID)]
    token = LINK.search(dm)
    assert token is not None
    assert token.group(1) not in everything_but_dms(env, p.MOD_ID)


async def test_closed_dms_get_a_clear_answer_and_no_link(env: DiscordE2E) -> None:
    env.rest.fail("POST", r"/channels/(?!960)\d+/messages", 403, 50007,
                  "Cannot send messages to this user")
    data = await env.slash("dashboard")
    assert data["flags"] & 64
    assert "couldn't message you privately" in data["content"]
    # the link was only ever in the refused DM (and no longer works); never in a channel
    tried = [c for c in env.rest.calls if "login/" in str(c.json)]
    assert tried and all(re.fullmatch(r"/channels/(?!960)\d+/messages", c.path) for c in tried)
    token = LINK.search(tried[0].content)
    assert token is not None
    assert await env.core.store.database.all(
        "SELECT 1 FROM dashboard_links WHERE used_at IS NULL") == []


async def test_a_member_gets_no_link(env: DiscordE2E) -> None:
    data = await env.slash("dashboard", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                           channel_id=GENERAL)
    assert "moderators only" in data["content"]
    assert env.rest.dms_to(p.MEMBER_ID) == []


async def test_the_link_signs_in_a_moderator_of_the_guild(env: DiscordE2E) -> None:
    await env.slash("dashboard")
    [dm] = [c.content for c in env.rest.dms_to(p.MOD_ID)]
    token = LINK.search(dm)
    assert token is not None
    dashboard = Dashboard(env.core, env.config.get(DASHBOARD_SECTION))
    server = TestServer(dashboard.app())
    await server.start_server(access_log=None)
    try:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
            async with browser.post(server.make_url("/login"),
                                    data={"token": token.group(1)},
                                    allow_redirects=False) as response:
                assert response.status == 303
                assert "Secure" in response.headers["Set-Cookie"]
                cookie = response.cookies["haven_session"].value
            async with browser.get(server.make_url("/alerts"),
                                   cookies={"haven_session": cookie}) as response:
                assert response.status == 200
                assert "Mo" in await response.text()
    finally:
        await server.close()
    assert MO["id"] == p.MOD_ID

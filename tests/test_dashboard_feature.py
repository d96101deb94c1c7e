"""The ``dashboard`` command: a private one-time link, never in a channel; logout-all."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.errors import PlatformError
from bot.storage.repositories.dashboard import DashboardRepository, token_hash
from tests.conftest import Harness, make_config
from tests.dashboard_helpers import DASHBOARD_CONFIG, dash_harness
from tests.fakes import MOD, command, member

LINK = re.compile(r"http://127\.0\.0\.1:8089/login/([A-Za-z0-9_-]+)")


async def _started(tmp_path: Path, extra: str = DASHBOARD_CONFIG) -> Harness:
    harness = (dash_harness(tmp_path) if extra == DASHBOARD_CONFIG
               else Harness(make_config(tmp_path, extra)))
    await harness.start()
    return harness


async def test_the_link_goes_only_to_the_moderator_privately(tmp_path: Path) -> None:
    h = await _started(tmp_path)
    try:
        result = await h.core.handle(command("dashboard", h.clock.now()))
        assert result is not None and result.ok
        assert "private message" in result.text and "login" not in result.text
        [dm] = h.platform.private_to(MOD.id)
        token = LINK.search(dm.text)
        assert token, dm.text
        assert "10 minutes" in dm.text
        # nothing in any channel, and only the hash is stored
        assert all("login" not in c.text for c in h.platform.calls if c.verb != "send_private")
        rows = await h.core.store.database.all("SELECT token_hash FROM dashboard_links")
        assert [r["token_hash"] for r in rows] == [token_hash(token.group(1))]
        dump = "\n".join(str(tuple(r)) for r in await h.core.store.database.all(
            "SELECT * FROM dashboard_links"))
        assert token.group(1) not in dump
    finally:
        await h.stop()


async def test_closed_private_messages_get_a_clear_reply_and_no_link(tmp_path: Path) -> None:
    h = await _started(tmp_path)
    try:
        h.platform.closed_dms.add(MOD.id)
        result = await h.core.handle(command("dashboard", h.clock.now()))
        assert result is not None and not result.ok
        assert "couldn't message you privately" in result.text
        assert "login" not in result.text and "http" not in result.text
        assert h.platform.private_to(MOD.id) == []
        assert all("login" not in c.text for c in h.platform.calls)
        live = await h.core.store.database.all(
            "SELECT 1 FROM dashboard_links WHERE used_at IS NULL")
        assert live == []  # the undelivered link can never be used
    finally:
        await h.stop()


async def test_a_failing_platform_is_a_clear_reply_too(tmp_path: Path) -> None:
    h = await _started(tmp_path)
    try:
        h.platform.fail("send_private", PlatformError("down"))
        result = await h.core.handle(command("dashboard", h.clock.now()))
        assert result is not None and not result.ok
        assert "try" in result.text and "login" not in result.text
    finally:
        await h.stop()


async def test_members_cannot_ask_for_a_link(tmp_path: Path) -> None:
    h = await _started(tmp_path)
    try:
        result = await h.core.handle(command("dashboard", h.clock.now(),
                                             invoker=member("mem1", "Mel")))
        assert result is not None and not result.ok
        assert h.platform.private_to("mem1") == []
    finally:
        await h.stop()


async def test_without_the_dashboard_configured_the_command_says_so(tmp_path: Path) -> None:
    h = await _started(tmp_path, extra="community: {name: Harbour, countries: [GB]}")
    try:
        result = await h.core.handle(command("dashboard", h.clock.now()))
        assert result is not None and not result.ok
        assert "not switched on" in result.text
        assert h.platform.private_to(MOD.id) == []
    finally:
        await h.stop()


async def test_logout_all_ends_every_session_of_the_community(tmp_path: Path) -> None:
    h = await _started(tmp_path)
    try:
        repo = DashboardRepository(h.core.store.database)
        now = h.clock.now()
        mine = await repo.create_session("c1", MOD.id, "Mo", now, 3600)
        other = await repo.create_session("c1", "mod2", "Max", now, 3600)
        elsewhere = await repo.create_session("c2", "mod3", "Sam", now, 3600)
        link = await repo.create_link("c1", MOD.id, "Mo", now, 600)
        result = await h.core.handle(command("dashboard", now, action="logout-all"))
        assert result is not None and result.ok and "2 sessions" in result.text
        assert await repo.session(mine, now) is None
        assert await repo.session(other, now) is None
        assert await repo.session(elsewhere, now) is not None
        assert await repo.use_link(link, now) is None
    finally:
        await h.stop()


def test_typed_as_text_on_matrix_logout_all_is_the_action() -> None:
    from bot.app import command_specs
    from bot.core.commandspec import parse_command_text

    spec, options = parse_command_text("dashboard logout-all", command_specs())
    assert spec.name == "dashboard" and options == {"action": "logout-all"}
    spec, options = parse_command_text("dashboard", command_specs())
    assert spec.name == "dashboard" and options == {}

"""``haven run`` serves the dashboard when ``dashboard.listen`` is set, and carries on
without it when its port cannot be opened."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from aiohttp import ClientSession

from bot.runner import start_dashboard
from tests.conftest import Harness, make_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _harness(tmp_path: Path, port: int | None) -> Harness:
    extra = (f'dashboard: {{listen: "127.0.0.1:{port}", public_url: "http://127.0.0.1:{port}"}}'
             if port else "")
    return Harness(make_config(tmp_path, extra))


async def test_off_by_default(tmp_path: Path) -> None:
    h = _harness(tmp_path, None)
    core = await h.start()
    try:
        assert await start_dashboard(core, core.config) is None
    finally:
        await h.stop()


async def test_served_on_the_configured_port_without_an_access_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    h = _harness(tmp_path, port)
    core = await h.start()
    try:
        dashboard = await start_dashboard(core, core.config)
        assert dashboard is not None
        async with ClientSession() as s, s.get(f"http://127.0.0.1:{port}/login/abc") as r:
            assert r.status == 410 and r.headers["Cache-Control"] == "no-store"
        await dashboard.stop()
        assert not [r for r in caplog.records if r.name == "aiohttp.access"]
        assert "/login/abc" not in caplog.text
    finally:
        await h.stop()


async def test_a_busy_port_is_logged_and_haven_runs_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        h = _harness(tmp_path, port)
        core = await h.start()
        try:
            assert await start_dashboard(core, core.config) is None
            assert "cannot listen" in caplog.text
        finally:
            await h.stop()

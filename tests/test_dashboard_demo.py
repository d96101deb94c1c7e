"""``haven demo --serve PORT``: the demo community stays up with its dashboard, and a demo
moderator's one-time link (sent by the real command) signs in."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import ClientSession, CookieJar

from bot.cli import build_parser
from bot.demo import Demo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cli_takes_a_port() -> None:
    args = build_parser().parse_args(["demo", "--serve", "8080"])
    assert args.serve == 8080
    assert build_parser().parse_args(["demo"]).serve is None


async def test_serve_signs_a_demo_moderator_in_until_stopped(tmp_path: Path, capsys) -> None:
    port = free_port()
    demo = Demo(tmp_path, serve=port)
    await demo.start()
    await demo.say("casey", "vent", "i want to end my life tonight")
    serving = asyncio.create_task(demo.serve(port))
    try:
        for _ in range(200):
            if demo.served_link:
                break
            await asyncio.sleep(0.05)
        link = demo.served_link
        assert link is not None and link.startswith(f"http://127.0.0.1:{port}/login/")
        out = capsys.readouterr().out
        assert "Haven privately to Lee" in out and link in out and "Ctrl-C" in out
        token = link.rsplit("/", 1)[1]
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
            async with browser.post(f"http://127.0.0.1:{port}/login",
                                    data={"token": token}) as response:
                assert response.status == 200
            async with browser.get(f"http://127.0.0.1:{port}/alerts") as response:
                html = await response.text()
            async with browser.get(f"http://127.0.0.1:{port}/rules") as response:
                rules = await response.text()
        assert "Casey" in html and "end my life" in html
        # Lee runs the demo server: the community's own rule file can be edited and saved
        assert "No community rule file is configured" not in rules
        assert 'id="rules-save"' in rules and "Only a community admin may save" not in rules
    finally:
        serving.cancel()
        await serving  # Ctrl-C: stops serving and returns
        await demo.stop()
    assert "the dashboard stops" in capsys.readouterr().out
    async with ClientSession() as browser:
        try:
            await browser.get(f"http://127.0.0.1:{port}/")
            raise AssertionError("still serving")
        except OSError:
            pass

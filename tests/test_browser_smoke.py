"""The browser infrastructure itself: Debian's Chromium, driven offline, on a tiny page.

If this fails, the dashboard's browser tests cannot be trusted either way.
"""

from __future__ import annotations

import html

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.browser import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    new_page,
    overflows_horizontally,
    screenshots,
)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>smoke</title>
</head><body><h1>Haven smoke</h1>
<form method="post" action="/echo"><label>Note <input name="note"></label>
<button type="submit">Send</button></form></body></html>"""


def _app() -> web.Application:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def echo(request: web.Request) -> web.Response:
        form = await request.post()
        note = html.escape(str(form.get("note", "")))
        return web.Response(text=f"<!doctype html><p id='got'>{note}</p>",
                            content_type="text/html")

    async def favicon(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_post("/echo", echo)
    return app


@pytest.mark.browser
async def test_chromium_fills_a_form_and_takes_screenshots(browser) -> None:
    server = TestServer(_app(), host="127.0.0.1")
    await server.start_server()
    try:
        page = await new_page(browser)
        await page.goto(str(server.make_url("/")))
        assert await page.inner_text("h1") == "Haven smoke"
        assert not await overflows_horizontally(page)
        paths = await screenshots(page, "smoke")
        assert [p.name for p in paths] == ["smoke-phone.png", "smoke-desktop.png"]
        for p in paths:
            assert p.parent == SCREENSHOTS
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert page.viewport_size == DESKTOP
        await page.set_viewport_size(PHONE)
        await page.get_by_label("Note").fill("ünïcode & <b>")
        await page.get_by_role("button", name="Send").click()
        await page.wait_for_url("**/echo")
        assert await page.inner_text("#got") == "ünïcode & <b>"
        assert page.errors == []
    finally:
        await server.close()


def test_a_missing_browser_is_named_and_fails_under_ci(monkeypatch, tmp_path) -> None:
    import tests.browser as b

    monkeypatch.setattr(b, "CHROMIUM", tmp_path / "chromium")
    assert "no Chromium at" in (b.missing() or "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        b.require_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        b.require_browser()

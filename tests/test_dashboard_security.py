"""The headers every dashboard answer carries, also errors and redirects."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.dashboard.security import HEADERS, secure_headers


async def test_pages_errors_and_redirects_all_carry_the_headers() -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/")

    async def broken(request: web.Request) -> web.Response:
        raise web.HTTPForbidden()

    app = web.Application(middlewares=[secure_headers])
    app.router.add_get("/", page)
    app.router.add_get("/moved", moved)
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app)) as client:
        for path in ("/", "/moved", "/broken", "/missing"):
            response = await client.get(path, allow_redirects=False)
            for name, value in HEADERS.items():
                assert response.headers[name] == value, (path, name)
    assert HEADERS["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in HEADERS["Content-Security-Policy"]

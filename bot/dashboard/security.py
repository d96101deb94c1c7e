"""What every answer of the dashboard carries: never cached, never framed, no referrer,
scripts, styles and connections only to the dashboard itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Sent with every answer, pages, errors and the live feed alike."""

Next = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def secure_headers(request: web.Request, handler: Next) -> web.StreamResponse:
    """Never cached, never framed, no referrer, scripts and styles only from here."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    if not response.prepared:
        response.headers.update(HEADERS)
    return response

"""Signing in and out: the page a link opens, the button that spends it, sign-out.

``GET /login/<token>`` only shows a page with a button (a chat app's link preview
fetches the page and spends nothing); ``POST /login`` spends the link, checks that
its person is a moderator of its community now, and sets the session cookie.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from bot.dashboard.access import Access, Verdict
from bot.dashboard.auth import COOKIE, Auth
from bot.dashboard.page import Door, visitor

log = logging.getLogger(__name__)

TOKEN_FIELD = "token"
MAX_TOKEN = 200
"""Longer "tokens" are refused without a database look-up."""


def see_other(location: str) -> web.Response:
    """A redirect after a POST that can carry a cookie."""
    return web.Response(status=303, headers={"Location": location})


def routes(door: Door, auth: Auth, access: Access) -> Sequence[web.RouteDef]:
    """The sign-in routes."""

    async def link_page(request: web.Request) -> web.StreamResponse:
        token = request.match_info.get("token", "")
        valid = len(token) <= MAX_TOKEN and await auth.link_is_valid(token)
        return door.render(request, "login.html", "Sign in", status=200 if valid else 410,
                           token=token if valid else "", valid=valid)

    async def sign_in(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = form.get(TOKEN_FIELD)
        signed = (await auth.sign_in(token) if isinstance(token, str)
                  and 0 < len(token) <= MAX_TOKEN else None)
        if signed is None:
            return door.render(request, "login.html", "Sign in", status=410, token="",
                               valid=False)
        who = signed.session
        access.forget(who.community_id, who.user_id)
        checked = await access.check(who.community_id, who.user_id)
        if checked.verdict is not Verdict.MODERATOR:
            await auth.sign_out(signed.token)
            log.info("dashboard: sign-in refused for %s in %s (%s)", who.user_id,
                     who.community_id, checked.verdict.value)
            unknown = checked.verdict is Verdict.UNKNOWN
            return door.render(request, "message.html", "Not signed in",
                               status=503 if unknown else 403,
                               message="unknown" if unknown else "refused")
        log.info("dashboard: %s signed in to %s", who.user_id, who.community_id)
        response = see_other("/")
        response.set_cookie(COOKIE, signed.token, path="/", httponly=True, samesite="Strict",
                            secure=door.settings.secure,
                            max_age=int(who.expires_at - who.created_at))
        return response

    async def sign_out(request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(COOKIE)
        if token:
            await auth.sign_out(token)
        log.info("dashboard: %s signed out", visitor(request).member.id)
        response = see_other("/signed-out")
        response.del_cookie(COOKIE, path="/")
        return response

    async def signed_out(request: web.Request) -> web.StreamResponse:
        return door.render(request, "message.html", "Signed out", message="goodbye")

    return (web.get("/login/{token}", link_page, allow_head=False),
            web.post("/login", sign_in),
            web.post("/logout", sign_out),
            web.get("/signed-out", signed_out, allow_head=False))

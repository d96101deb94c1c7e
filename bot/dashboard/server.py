"""The dashboard's web server: an aiohttp application over the running core.

:class:`Dashboard` builds the application (:meth:`Dashboard.app`) with two
middlewares: :func:`~bot.dashboard.security.secure_headers` (``Cache-Control: no-store``
on every answer, a strict Content-Security-Policy, no framing, no referrer) and the
sign-in check (a live session cookie, the person still a moderator of that community,
and the CSRF token on every POST). Then the routes: sign-in (:mod:`bot.dashboard.signin`),
the live feed (:mod:`bot.dashboard.live`), the landing page, the static files, and
every page of :data:`bot.dashboard.pages.PAGES`. :meth:`Dashboard.start` serves it
on ``dashboard.listen``; :meth:`Dashboard.stop` closes it. No access log is written:
sign-in links carry their token in the path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bot.dashboard import live, signin
from bot.dashboard.access import Access, Verdict
from bot.dashboard.auth import COOKIE, CSRF_FIELD, Auth, csrf_ok, csrf_token, session_key
from bot.dashboard.page import VISITOR, Door, Page, Visitor, views, visitor
from bot.dashboard.pages import PAGES
from bot.dashboard.security import Next, secure_headers
from bot.storage.repositories.dashboard import DashboardRepository

if TYPE_CHECKING:
    from bot.core.runtime import Haven
    from bot.dashboard.config import DashboardConfig

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PUBLIC = ("/login/", "/static/")
"""Paths served without a session (the sign-in page and its style)."""
PUBLIC_EXACT = ("/login", "/signed-out")
MAX_BODY = 256 * 1024
"""The largest form accepted (a rules file edited in the browser fits)."""


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a session."""
    return path in PUBLIC_EXACT or path.startswith(PUBLIC)


class Dashboard:
    """The web dashboard of one running core."""

    def __init__(self, core: Haven, settings: DashboardConfig, excerpts_default: str = "on",
                 pages: Sequence[Page] = PAGES) -> None:
        self.core = core
        self.settings = settings
        self.repo = DashboardRepository(core.store.database)
        self.auth = Auth(self.repo, core.clock, settings.session_hours)
        self.access = Access(core.platform, core.perms, core.clock)
        self.door = Door(core, settings, views(), tuple(pages), excerpts_default)
        self.feed = live.Feed(core, self.auth, self.access)
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The aiohttp application (tests serve it with ``aiohttp.test_utils``)."""
        app = web.Application(middlewares=[secure_headers, self._signed_in],
                              client_max_size=MAX_BODY)
        app.router.add_routes(signin.routes(self.door, self.auth, self.access))
        app.router.add_get("/", self._landing, allow_head=False)
        app.router.add_get("/events", self.feed.stream, allow_head=False)
        app.router.add_static("/static/", STATIC, append_version=False)
        for page in self.door.pages:
            app.router.add_routes(page.routes(self.door))
        app.on_shutdown.append(self._closing)
        return app

    async def _closing(self, app: web.Application) -> None:
        self.feed.close()

    @web.middleware
    async def _signed_in(self, request: web.Request, handler: Next) -> web.StreamResponse:
        """A live session of a moderator still in post; the CSRF token on every POST."""
        if is_public(request.path):
            return await handler(request)
        token = request.cookies.get(COOKIE)
        session = await self.auth.session(token)
        if session is None or token is None:
            return self.door.render(request, "message.html", "Sign in", status=401,
                                    message="signed_out")
        checked = await self.access.check(session.community_id, session.user_id)
        if checked.verdict is Verdict.UNKNOWN:
            return self.door.render(request, "message.html", "Try again", status=503,
                                    message="unknown")
        if checked.verdict is Verdict.REFUSED or checked.member is None:
            log.info("dashboard: %s is no longer a moderator of %s; signed out",
                     session.user_id, session.community_id)
            await self.auth.sign_out_everywhere(session)
            response = self.door.render(request, "message.html", "Not a moderator",
                                        status=403, message="refused")
            response.del_cookie(COOKIE, path="/")
            return response
        request[VISITOR] = Visitor(session.community_id, checked.member, csrf_token(token),
                                     session_key(token))
        if request.method == "POST":
            form = await request.post()
            sent = form.get(CSRF_FIELD)
            if not csrf_ok(token, sent if isinstance(sent, str) else None):
                log.info("dashboard: POST %s without a valid CSRF token refused", request.path)
                return self.door.render(request, "message.html", "Form expired", status=403,
                                        message="csrf")
        elif request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        return await handler(request)

    async def _landing(self, request: web.Request) -> web.StreamResponse:
        """The pages, each with its one line and how many things wait there."""
        who = visitor(request)
        counts = {page.slug: await page.count(self.door, who)
                  for page in self.door.pages if page.count is not None}
        return self.door.render(request, "landing.html", "Dashboard", counts=counts)

    # -- serving ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on ``dashboard.listen`` (no access log: links carry tokens)."""
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.settings.host, self.settings.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("dashboard: serving on %s:%d for %s", self.settings.host, self.settings.port,
                 self.settings.public_url)

    async def stop(self) -> None:
        """Close the live feeds and stop serving."""
        self.feed.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await asyncio.wait_for(runner.cleanup(), 15.0)

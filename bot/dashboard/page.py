"""What a dashboard page is and what it gets: :class:`Page` (its place in the nav and its
routes) and :class:`Door` (reading, acting as the signed-in moderator, rendering).

A page module defines handlers ``async def view(door: Door, request) -> web.StreamResponse``
and exports ``PAGE = Page(slug, title, summary, routes)`` where ``routes(door)`` returns
its aiohttp routes (``door.get("/alerts", view)``, ``door.post("/alerts/{id}/claim",
claim)``). Every request a page sees is signed in and checked (the server's
middlewares); ``visitor(request)`` says who. A page reads through the core's
repositories (``door.store``) and acts only through :meth:`Door.act`, which runs the
same command a moderator would type, as that moderator.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from bot.core.clock import fmt_duration, fmt_time
from bot.core.errors import PlatformError
from bot.core.events import Channel, CommandInvoked, CommandResult, Member
from bot.core.templates import plural

if TYPE_CHECKING:
    from bot.core.runtime import Haven
    from bot.dashboard.config import DashboardConfig
    from bot.storage.store import Store

log = logging.getLogger(__name__)

Handler = Callable[["Door", web.Request], Awaitable[web.StreamResponse]]
"""A page's request handler: the door first, then the request."""

DASHBOARD_CHANNEL = Channel(id="dashboard", name="dashboard", kind="dm")
"""Where a dashboard action comes from, as the core sees it (a private place)."""

NONCE_FIELD = "nonce"
"""The hidden form field that makes one press of a button one action (a resubmitted form
arrives with the same nonce and the core does not act twice)."""

EXPOSURES = ("on", "spoiler", "off")


@dataclass(frozen=True)
class Visitor:
    """The signed-in moderator behind a request."""

    community_id: str
    member: Member
    csrf: str
    key: str
    """A short name of the session (for flash messages and logs; not a secret)."""


@dataclass(frozen=True)
class Page:
    """One page of the dashboard: its place in the navigation and its routes."""

    slug: str
    """Its path (``/<slug>``) and name."""
    title: str
    summary: str
    """One line on the landing page."""
    routes: Callable[[Door], Sequence[web.RouteDef]]
    count: Callable[[Door, Visitor], Awaitable[int]] | None = None
    """How many things wait there (shown beside its name on the landing page), if any."""

    @property
    def path(self) -> str:
        """Where the page lives."""
        return f"/{self.slug}"


VISITOR = web.RequestKey("visitor", Visitor)
"""Where the server's middleware leaves the signed-in moderator of a request."""


def visitor(request: web.Request) -> Visitor:
    """The signed-in moderator of a request (set by the server's middleware)."""
    found = request.get(VISITOR)
    if not isinstance(found, Visitor):
        raise web.HTTPUnauthorized()
    return found


@dataclass
class Door:
    """What every page uses: the core's parts, rendering, flash messages, acting."""

    core: Haven
    settings: DashboardConfig
    views: jinja2.Environment
    pages: tuple[Page, ...] = ()
    excerpts_default: str = "on"
    """The community's default for showing a post's words (the care feature's setting)."""
    _flashes: dict[str, list[tuple[str, bool]]] = field(default_factory=dict, init=False,
                                                        repr=False)

    @property
    def store(self) -> Store:
        """The repositories (read through these)."""
        return self.core.store

    def now(self) -> float:
        """The core's clock."""
        return self.core.clock.now()

    # -- routes ---------------------------------------------------------------------------

    def get(self, path: str, handler: Handler) -> web.RouteDef:
        """A GET route of a page."""
        return web.get(path, self._bound(handler), allow_head=False)

    def post(self, path: str, handler: Handler) -> web.RouteDef:
        """A POST route of a page (the server checks its CSRF token first)."""
        return web.post(path, self._bound(handler))

    def _bound(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            return await handler(self, request)
        run.__name__ = getattr(handler, "__name__", "page")
        return run

    # -- acting ---------------------------------------------------------------------------

    async def act(self, request: web.Request, name: str, **options: object) -> CommandResult:
        """Run command ``name`` as the signed-in moderator, through the core (its permission
        check, its case log, its reply), once per submitted form."""
        who = visitor(request)
        form = await request.post()
        nonce = str(form.get(NONCE_FIELD) or "") or secrets.token_urlsafe(12)
        event = CommandInvoked(
            who.community_id, self.now(), channel=DASHBOARD_CHANNEL, invoker=who.member,
            name=name, options={k: str(v) for k, v in options.items() if v not in (None, "")},
            delivery_id=f"dashboard:{who.key}:{nonce[:40]}")
        log.info("dashboard: %s runs %s in %s", who.member.id, name, who.community_id)
        result = await self.core.handle(event)
        if result is None:
            return CommandResult(self.core.templates.render("still_starting"), ok=False)
        return result

    async def act_and_return(self, request: web.Request, to: str, name: str,
                             **options: object) -> web.StreamResponse:
        """:meth:`act`, show its reply as a flash message on ``to``, and go there."""
        result = await self.act(request, name, **options)
        self.flash(request, result.text, result.ok)
        raise web.HTTPSeeOther(to)

    def flash(self, request: web.Request, text: str, ok: bool = True) -> None:
        """A message shown once, on the next page this moderator sees."""
        self._flashes.setdefault(visitor(request).key, []).append((text, ok))
        del self._flashes[visitor(request).key][:-5]

    # -- reading --------------------------------------------------------------------------

    async def exposure(self, request: web.Request) -> str:
        """How much of a post's words this moderator sees: their ``excerpts`` choice,
        else the community's default (``on``, ``spoiler`` or ``off``)."""
        who = visitor(request)
        for row in await self.store.duty.duty_roster(who.community_id):
            if row.user_id == who.member.id and row.excerpts in EXPOSURES:
                return row.excerpts
        return self.excerpts_default if self.excerpts_default in EXPOSURES else "on"

    async def names(self, community_id: str, user_ids: Iterable[str]) -> dict[str, str]:
        """Display names of moderators and members by id: the duty roster's, else the
        platform's (an id stays itself when the platform cannot say)."""
        names = {r.user_id: r.name for r in await self.store.duty.duty_roster(community_id)}
        for user_id in set(user_ids) - set(names):
            try:
                found = await self.core.platform.resolve_member(community_id, user_id)
            except PlatformError:
                found = None
            if found is not None and found.id == user_id:
                names[user_id] = found.name
        return names

    # -- rendering ------------------------------------------------------------------------

    def render(self, request: web.Request, template: str, title: str,
               status: int = 200, **values: Any) -> web.Response:
        """An HTML page from ``templates/<template>`` in the base layout."""
        who = request.get(VISITOR)
        flashes = self._flashes.pop(who.key, []) if isinstance(who, Visitor) else []
        body = self.views.get_template(template).render(
            title=title, visitor=who, pages=self.pages, flashes=flashes,
            current=request.path, nonce=fresh_nonce, now=self.now(),
            community=self.community_name(who), **values)
        return web.Response(text=body, status=status, content_type="text/html",
                            charset="utf-8")

    def community_name(self, who: object) -> str:
        """The community's display name (the config's name, else the platform's)."""
        if self.core.config.community.name:
            return str(self.core.config.community.name)
        if isinstance(who, Visitor):
            return self.core.platform.community_name(who.community_id)
        return "Haven"


def views() -> jinja2.Environment:
    """The page templates (``bot/dashboard/templates``), HTML always escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda ts: fmt_time(ts) if ts else ""
    env.filters["duration"] = fmt_duration
    env.filters["plural"] = plural
    return env



def fresh_nonce() -> str:
    """A new nonce for one form (each form on a page gets its own)."""
    return secrets.token_urlsafe(12)

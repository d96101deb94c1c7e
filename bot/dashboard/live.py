"""Live updates: a server-sent event stream (``GET /events``) per open page.

The dashboard feature hands on what other features publish (alerts claimed or
resolved, duty changes: :class:`LiveSource`); a new alert or a post waiting for a
reply is noticed by comparing a small fingerprint every :data:`POLL_SECONDS`. Each
event names only a topic (``alerts``, ``shift``...), never any content: the page
fetches itself again. While a stream is open the session and the moderator check are
repeated at every poll, and the stream ends when either fails.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from aiohttp import web

from bot.dashboard.access import Access, Verdict
from bot.dashboard.auth import COOKIE, Auth
from bot.dashboard.page import visitor
from bot.dashboard.security import HEADERS

if TYPE_CHECKING:
    from bot.core.runtime import Haven

log = logging.getLogger(__name__)

POLL_SECONDS = 10.0
"""How often an open stream looks for new alerts and re-checks its moderator."""


@runtime_checkable
class LiveSource(Protocol):
    """What the dashboard feature offers: the topics that change in a community."""

    def subscribe(self, community_id: str) -> asyncio.Queue[str]:
        """A queue of topics changed from now on."""
        ...

    def unsubscribe(self, community_id: str, queue: asyncio.Queue[str]) -> None:
        """Stop filling ``queue``."""
        ...


class Feed:
    """The ``/events`` streams of one dashboard."""

    def __init__(self, core: Haven, auth: Auth, access: Access,
                 poll: float = POLL_SECONDS) -> None:
        self.core = core
        self.auth = auth
        self.access = access
        self.poll = poll
        self._closed = asyncio.Event()

    def close(self) -> None:
        """End every open stream (shutting down)."""
        self._closed.set()

    def source(self) -> LiveSource | None:
        """The dashboard feature's change feed, when the feature is installed."""
        feature = self.core.features.get("dashboard")
        return feature if isinstance(feature, LiveSource) else None

    async def fingerprint(self, community_id: str) -> tuple[object, ...]:
        """What changes when an alert is raised or changes, or a post starts waiting."""
        alerts = await self.core.store.alerts.alerts_by_state(community_id, ("open", "claimed"))
        posts = await self.core.store.posts.open_posts(community_id)
        return (tuple((a.id, a.state, a.updated_at, a.count) for a in alerts),
                tuple(p.id for p in posts))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """``text/event-stream`` of ``change`` events naming a topic, until the page goes."""
        who = visitor(request)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})
        response.headers.update({k: v for k, v in HEADERS.items() if k != "Cache-Control"})
        await response.prepare(request)
        source = self.source()
        queue = source.subscribe(who.community_id) if source is not None else asyncio.Queue()
        try:
            await response.write(b"retry: 5000\n\n")
            last = await self.fingerprint(who.community_id)
            while not self._closed.is_set():
                topic = await self._next(queue)
                if topic is None:
                    if not await self._still_allowed(request, who.community_id,
                                                     who.member.id):
                        break
                    now = await self.fingerprint(who.community_id)
                    topic, last = ("alerts" if now != last else None), now
                payload = f"event: change\ndata: {topic}\n\n" if topic else ": still here\n\n"
                await response.write(payload.encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            if source is not None:
                source.unsubscribe(who.community_id, queue)
        return response

    async def _next(self, queue: asyncio.Queue[str]) -> str | None:
        """The next topic, or ``None`` after a poll interval (or when closing)."""
        getter = asyncio.ensure_future(queue.get())
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait({getter, closing}, timeout=self.poll,
                                         return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the page went away: leave no task behind
            getter.cancel()
            closing.cancel()
            raise
        for task in (getter, closing):
            if task not in done:
                task.cancel()  # a queue.get() or event.wait(): nothing to clean up
        return getter.result() if getter in done else None

    async def _still_allowed(self, request: web.Request, community_id: str,
                             user_id: str) -> bool:
        session = await self.auth.session(request.cookies.get(COOKIE))
        if session is None:
            return False
        return (await self.access.check(community_id, user_id)).verdict is Verdict.MODERATOR

"""The live feed: what the dashboard's pages are told when moderators act elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from bot.core.events import AlertClaimed, AlertResolved, DutyChanged, Event, Flagged
from bot.core.feature import EventHandler, Feature, FeatureContext
from bot.storage.repositories.dashboard import DashboardRepository

LINK_MINUTES = 10
"""How long a sign-in link works."""
QUEUE_SIZE = 100
"""Changes kept for one slow listener before the oldest are dropped."""

TOPICS: Mapping[type[Event], str] = {
    AlertClaimed: "alerts", AlertResolved: "alerts", DutyChanged: "shift", Flagged: "review",
}
"""Which page a published event changes."""


class LinkSettings(Protocol):
    """What the command needs of the ``dashboard:`` section."""

    @property
    def enabled(self) -> bool:
        """Whether the dashboard is served."""
        ...

    def link(self, path: str) -> str:
        """An absolute address on the dashboard."""
        ...


DashboardContext = FeatureContext[Any, DashboardRepository]


class DashboardFeature(Feature):
    """Hands published changes to the dashboard's open pages (server-sent events)."""

    def __init__(self, ctx: DashboardContext) -> None:
        self.ctx = ctx
        self._listeners: dict[str, set[asyncio.Queue[str]]] = {}

    def handlers(self) -> Mapping[type[Event], EventHandler]:
        """Alerts claimed or resolved, duty changes and flags: tell the listeners."""
        return {kind: self._changed for kind in TOPICS}

    async def _changed(self, event: Event) -> None:
        self.notify(event.community_id, TOPICS.get(type(event), "alerts"))

    def notify(self, community_id: str, topic: str) -> None:
        """Tell every listener of ``community_id`` that ``topic`` changed (never blocks)."""
        for queue in self._listeners.get(community_id, set()):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(topic)

    def subscribe(self, community_id: str) -> asyncio.Queue[str]:
        """A queue of the topics that change in ``community_id`` from now on."""
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._listeners.setdefault(community_id, set()).add(queue)
        return queue

    def unsubscribe(self, community_id: str, queue: asyncio.Queue[str]) -> None:
        """Stop telling ``queue``."""
        self._listeners.get(community_id, set()).discard(queue)

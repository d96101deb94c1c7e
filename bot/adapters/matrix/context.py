"""What every part of the Matrix adapter shares.

:class:`MatrixContext` holds the config, the nio client, the community id, the
core's inbound port (:class:`~bot.core.ports.CoreSink`, set by ``attach``), the
background tasks (:class:`Background`), the remembered messages and the book of
direct chats (:class:`DmBook`). The parts (rooms, inbound, outbound, dm,
moderation, checks, session) each get the context and the siblings they use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nio import AsyncClient

from bot.adapters.matrix.config import MATRIX_SECTION
from bot.adapters.matrix.events import SeenEvents
from bot.core.ports import AdapterServices, CoreSink

if TYPE_CHECKING:
    from bot.core.config import Config

log = logging.getLogger(__name__)


def server_name(user_id: str) -> str:
    """``example.org`` for ``@haven:example.org``."""
    return user_id.split(":", 1)[1] if ":" in user_id else user_id


def localpart(user_id: str) -> str:
    """``haven`` for ``@haven:example.org``."""
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


class Background:
    """Tasks the adapter runs beside the sync loop, and the signal that it is closing."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = asyncio.Event()

    def spawn(self, work: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run ``work`` in a task (logged on failure) so the sync loop never waits for it."""

        async def guarded() -> Any:
            try:
                return await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Matrix background task failed: %s", name)
                return None

        task = asyncio.create_task(guarded(), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def sleep_unless_closing(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the adapter is closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    async def cancel_all(self) -> None:
        """Cancel every background task and wait for them to end."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@dataclass
class DmBook:
    """The direct chats Haven knows (kept in kv ``matrix:dms``, except :attr:`last_room`)."""

    users: dict[str, str] = field(default_factory=dict)
    """The direct room Haven uses to write to each user."""
    rooms: dict[str, str] = field(default_factory=dict)
    """Every direct room (room id -> the member), also those members opened."""
    invited_at: dict[str, float] = field(default_factory=dict)
    """When Haven invited a member to each direct room it created (until they join)."""
    pointed: set[str] = field(default_factory=set)
    """Direct rooms whose member was already pointed to the invitation (once only)."""
    last_room: dict[str, str] = field(default_factory=dict)
    """The community room each member was last seen in (for DM fallbacks; not stored)."""

    def load(self, raw: str | None) -> None:
        """Read the stored JSON (``None``: nothing stored yet)."""
        raw_dms = json.loads(raw or "{}")
        self.users = dict(raw_dms.get("users", {}))
        self.rooms = dict(raw_dms.get("rooms", {}))
        self.invited_at = {r: float(t) for r, t in dict(raw_dms.get("invited_at", {})).items()
                           if isinstance(t, int | float)}
        self.pointed = {r for r in raw_dms.get("pointed", []) if isinstance(r, str)}

    def dump(self) -> str:
        """The JSON to store."""
        return json.dumps({"users": self.users, "rooms": self.rooms,
                           "invited_at": self.invited_at,
                           "pointed": sorted(self.pointed)}, sort_keys=True)


class MatrixContext:
    """Config, client, community and core port, shared by the adapter's parts."""

    def __init__(self, config: Config, client: AsyncClient, encryption: bool) -> None:
        self.config = config
        self.mx = config.get(MATRIX_SECTION)
        self.user_id = self.mx.user_id
        self.community_id = (
            self.mx.community_id
            or (self.mx.spaces[0] if self.mx.spaces else None)
            or server_name(self.user_id)
        )
        self.client = client
        self.encryption = encryption
        self.sink: CoreSink | None = None
        self.background = Background()
        self.seen = SeenEvents()
        self.dm = DmBook()
        self.display_name: str | None = None
        """The bot's display name (read at login; a mention by name is a command)."""

    def core(self) -> CoreSink:
        """The core the adapter feeds (``attach`` must have been called)."""
        if self.sink is None:
            raise RuntimeError("MatrixAdapter.attach(core) must be called before run()")
        return self.sink

    @property
    def services(self) -> AdapterServices:
        """The core's services (kv, clock, templates, notices, commands)."""
        return self.core().services

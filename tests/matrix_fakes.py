"""Shared pieces of the Matrix adapter's unit tests: ids, a RoomContext, raw events, adapters
without a server and a recording :class:`~bot.core.ports.CoreSink`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nio import MatrixRoom

from bot.adapters.matrix.adapter import MatrixAdapter
from bot.adapters.matrix.config import MatrixConfig
from bot.adapters.matrix.format import command_words
from bot.adapters.matrix.power import PowerState
from bot.core.clock import VirtualClock
from bot.core.config import ChannelsConfig, Config
from bot.core.errors import MissingPermission
from bot.core.events import Channel, Member, Outgoing
from bot.core.ports import AdapterServices
from bot.core.templates import Templates
from tests.golden import COMMANDS

BOT = "@haven:example.org"


ALICE = "@alice:example.org"


MOD = "@mod:example.org"


CREATOR = "@creator:example.org"


ROOM = "!room:example.org"


DM = "!dm:example.org"


WORDS = command_words(COMMANDS)


PL = {"users": {MOD: 50, BOT: 100}, "users_default": 0, "events_default": 0,
      "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
      "events": {"m.room.power_levels": 100}}


def v12(extra_creators: tuple[str, ...] = ()) -> PowerState:
    content: dict[str, Any] = {"room_version": "12"}
    if extra_creators:
        content["additional_creators"] = list(extra_creators)
    return PowerState(CREATOR, content, PL)


@dataclass
class Ctx:
    """A RoomContext for tests."""

    community_id: str = "example.org"
    user_id: str = BOT
    dms: set[str] = field(default_factory=set)
    power: PowerState = field(default_factory=v12)

    def channel(self, room_id: str) -> Channel:
        return Channel(room_id, "support", kind="dm" if room_id in self.dms else "room")

    def member(self, room_id: str, user_id: str, joined_at: float | None = None) -> Member:
        return Member(user_id, user_id[1:].split(":")[0],
                      power_level=self.power.user_level(user_id),
                      is_admin=self.power.is_admin(user_id), joined_at=joined_at)

    def link(self, room_id: str, event_id: str) -> str:
        return f"https://matrix.to/#/{room_id}/{event_id}"


def ev(etype: str, content: dict[str, Any], sender: str = ALICE, event_id: str = "$e1",
       **extra: Any) -> dict[str, Any]:
    return {"type": etype, "content": content, "sender": sender, "event_id": event_id,
            "origin_server_ts": 1_700_000_000_000, **extra}


def adapter_for(backfill_page: int = 100, **matrix: Any) -> MatrixAdapter:
    config = Config(platform="matrix", matrix=MatrixConfig(
        homeserver="http://127.0.0.1:1", user_id=BOT, **matrix))
    return MatrixAdapter(config, access_token="t", backfill_page=backfill_page)


def mods_adapter(join_rule: str | None, history: str = "shared") -> MatrixAdapter:
    """An adapter whose moderators' room is ROOM with this join rule (``None``: not joined)."""
    config = Config(platform="matrix", channels=ChannelsConfig(moderators=ROOM),
                    matrix=MatrixConfig(homeserver="http://127.0.0.1:1", user_id=BOT))
    adapter = MatrixAdapter(config, access_token="t")
    if join_rule is not None:
        room = MatrixRoom(ROOM, BOT)
        room.join_rule, room.history_visibility = join_rule, history
        adapter.client.rooms[ROOM] = room
    return adapter


class MemoryKV:
    """The core's key-value store, in memory."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


@dataclass
class RecordingNotices:
    """Moderator notices the adapter asks the core to send."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    missing: list[MissingPermission] = field(default_factory=list)

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> None:
        self.sent.append((channel, msg.text))

    async def report_missing(self, community_id: str, exc: MissingPermission) -> None:
        self.missing.append(exc)


@dataclass
class FakeCore:
    """A CoreSink that records what the adapter submits and which commands it runs."""

    submitted: list[Any] = field(default_factory=list)
    handled: list[Any] = field(default_factory=list)
    notices: RecordingNotices = field(default_factory=RecordingNotices)
    ready: bool = False

    def __post_init__(self) -> None:
        self._services = AdapterServices(kv=MemoryKV(), clock=VirtualClock(),
                                         templates=Templates(), notices=self.notices,
                                         commands=COMMANDS)

    @property
    def services(self) -> AdapterServices:
        return self._services

    @services.setter
    def services(self, services: AdapterServices) -> None:
        self._services = services

    def submit(self, event: Any) -> None:
        self.submitted.append(event)

    async def handle(self, event: Any) -> Any:
        self.handled.append(event)
        return None

    def mark_ready(self) -> None:
        self.ready = True

    async def drain(self, timeout: float | None = None) -> bool:
        return True


def dm_adapter() -> tuple[MatrixAdapter, FakeCore]:
    adapter = mods_adapter("invite")
    adapter.client.rooms[DM] = MatrixRoom(DM, BOT)
    adapter.ctx.dm.rooms[DM] = ALICE
    adapter.ctx.dm.users[ALICE] = DM
    core = FakeCore()
    adapter.attach(core)

    async def answer(*_: Any) -> None:
        return None

    adapter.commands.answer = answer  # type: ignore[method-assign]
    return adapter, core


async def settle(adapter: MatrixAdapter) -> None:
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)
    if adapter.ctx.background.tasks:
        await asyncio.gather(*adapter.ctx.background.tasks)

"""End-to-end tests of the Matrix adapter against a real Synapse on loopback.

One homeserver for the session (``homeserver`` in :mod:`tests.synapse_harness`),
fresh users and rooms per test, real matrix-nio clients as members and
moderators. The first group drives the adapter with a small recording core (the
adapter's own mechanics: sync, restarts, power levels, verbs, rate limits); the
second runs the real Haven core (the product scenarios).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import app
from bot.adapters.matrix.adapter import MatrixAdapter, e2e_available
from bot.adapters.matrix.api import LoginFailed
from bot.adapters.matrix.config import MatrixConfig
from bot.adapters.matrix.power import CREATOR_POWER_LEVEL
from bot.adapters.matrix.session import TOKEN_KEY
from bot.app import load_config_text
from bot.core.clock import RealClock, VirtualClock
from bot.core.config import ChannelsConfig, Config
from bot.core.errors import MissingPermission, PrivateMessagesClosed, RateLimited
from bot.core.events import (
    Attachment,
    CommandInvoked,
    CommandResult,
    Event,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    Outgoing,
)
from bot.core.ports import AdapterServices, CoreSink
from bot.core.runtime import Haven
from bot.core.templates import Templates
from bot.features.unanswered.config import SupportPlace as Place
from bot.features.unanswered.config import UnansweredConfig
from bot.storage.store import Store
from tests.golden import COMMANDS
from tests.synapse_harness import Homeserver, TestUser, homeserver  # noqa: F401

TEST_RULES = Path(__file__).parent / "data" / "rules"

pytestmark = [pytest.mark.synapse, pytest.mark.timeout(120)]

WAIT = 10.0


# ---------------------------------------------------------------------------
# a recording core
# ---------------------------------------------------------------------------


@dataclass
class RecordingNotices:
    """Moderator notices the adapter asks the core to send (recorded, not sent)."""

    sent: list[tuple[str, Outgoing]] = field(default_factory=list)
    missing: list[MissingPermission] = field(default_factory=list)

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> None:
        self.sent.append((channel, msg))

    async def report_missing(self, community_id: str, exc: MissingPermission) -> None:
        self.missing.append(exc)


@dataclass
class RecordingCore:
    """A :class:`~bot.core.ports.CoreSink` recording what the adapter gives it; its kv is
    the test's store."""

    config: Config
    store: Store
    clock: RealClock = field(default_factory=RealClock)
    events: list[Event] = field(default_factory=list)
    answer: Callable[[CommandInvoked], CommandResult] | None = None
    notices: RecordingNotices = field(default_factory=RecordingNotices)
    ready: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def services(self) -> AdapterServices:
        return AdapterServices(kv=self.store.kv, clock=self.clock, templates=Templates(),
                               notices=self.notices, commands=COMMANDS)

    def mark_ready(self) -> None:
        self.ready = True

    def submit(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def handle(self, event: Event) -> CommandResult | None:
        self.submit(event)
        if isinstance(event, CommandInvoked):
            if self.answer is not None:
                return self.answer(event)
            return CommandResult(f"ran {event.name} at level {event.invoker.power_level}")
        return None

    async def drain(self, timeout: float | None = None) -> bool:
        await asyncio.sleep(0)
        return True

    async def wait_for(self, predicate: Callable[[Event], bool], what: str = "event",
                       timeout: float = WAIT) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; got {self.events!r}"[:3000])
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def posts(self) -> list[MessagePosted]:
        return [e for e in self.events if isinstance(e, MessagePosted)]


@dataclass
class Bot:
    """A running adapter with its (recording or real) core."""

    adapter: MatrixAdapter
    core: Any
    task: asyncio.Task[None]
    stopped: bool = False

    async def stop(self) -> None:
        """Stop like ``haven run`` does: the adapter first, then the core."""
        if self.stopped:
            return
        self.stopped = True
        await self.adapter.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        if isinstance(self.core, Haven):
            await self.core.stop()


async def start_adapter(adapter: MatrixAdapter, core: CoreSink,
                        rooms: tuple[str, ...] = ()) -> Bot:
    """Run an adapter until its first sync is processed and it is in ``rooms``."""
    assert isinstance(core, CoreSink)  # the recording core and Haven alike
    adapter.attach(core)
    task = asyncio.create_task(adapter.run())
    deadline = time.monotonic() + WAIT
    while not (adapter.ready.is_set() and all(r in adapter.client.rooms for r in rooms)):
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise AssertionError(f"bot did not start/join {rooms} in {WAIT}s")
        await asyncio.sleep(0.05)
    return Bot(adapter, core, task)


@dataclass
class World:
    """A moderator, a member, the bot account and two rooms (version 12)."""

    server: Homeserver
    mod: TestUser
    alice: TestUser
    bot_id: str
    bot_token: str
    mods_room: str
    support: str
    tmp: Path
    cw_room: str = ""
    bots: list[Bot] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)

    def config(self, **overrides: Any) -> Config:
        base: dict[str, Any] = {
            "platform": "matrix",
            "database": str(self.tmp / "haven.db"),
            "channels": ChannelsConfig(moderators=self.mods_room),
            "unanswered": UnansweredConfig(places=(Place(self.support, 7200, 43200),)),
            "matrix": MatrixConfig(homeserver=self.server.base_url, user_id=self.bot_id),
        }
        base.update(overrides)
        return Config(**base)

    async def store(self) -> Store:
        store = await Store.open(self.tmp / "haven.db")
        self.stores.append(store)
        return store

    async def recording_bot(self, **overrides: Any) -> tuple[Bot, RecordingCore]:
        core = RecordingCore(self.config(**overrides), await self.store())
        adapter = MatrixAdapter(core.config, access_token=self.bot_token, sync_timeout_ms=5000)
        bot = await start_adapter(adapter, core, rooms=(self.mods_room, self.support))
        self.bots.append(bot)
        return bot, core

    def haven_config(self, **matrix: Any) -> Config:
        """A full Haven config (test rule pack) for these rooms; ``matrix`` adds matrix keys."""
        return load_config_text(yaml.safe_dump(self.haven_config_data(**matrix)),
                                "matrix-test-config.yaml")

    def haven_config_data(self, **matrix: Any) -> dict[str, Any]:
        """The config of :meth:`haven_config` as YAML-ready data."""
        return {
            "platform": "matrix",
            "database": str(self.tmp / "haven.db"),
            "community": {"name": "Harbour", "countries": ["GB"]},
            "rules": {"dir": str(TEST_RULES), "helplines": str(TEST_RULES / "helplines.yaml")},
            "channels": {"moderators": self.mods_room},
            "unanswered": {"remind_after": "2h", "escalate_after": "12h",
                           "places": [self.support]},
            "content_warnings": {"channels": [self.cw_room], "redirect_to": self.cw_room},
            "matrix": {"homeserver": self.server.base_url, "user_id": self.bot_id, **matrix},
            "detection": {"semantic": "off"},  # the adapter under test, with the rules alone
        }

    async def haven(self, **matrix: Any) -> Bot:
        """The real Haven core on virtual time (starting now) with the Matrix adapter."""
        config = self.haven_config(**matrix)
        adapter = MatrixAdapter(config, access_token=self.bot_token, sync_timeout_ms=5000)
        core = await app.create(config, adapter, VirtualClock(start=time.time()))
        await core.start(run_scheduler=False)
        bot = await start_adapter(adapter, core, rooms=(self.mods_room, self.support, self.cw_room))
        self.bots.append(bot)
        return bot

    def from_bot(self, user: TestUser, room_id: str, contains: str = "") -> list[dict[str, Any]]:
        """Messages the bot sent in ``room_id`` that ``user`` has seen, optionally containing text."""
        return [e for e in user.messages(room_id, self.bot_id)
                if contains in e["content"].get("body", "")]

    async def bot_says(self, user: TestUser, room_id: str | None, contains: str,
                       what: str = "") -> dict[str, Any]:
        """Wait until ``user`` sees a bot message containing ``contains`` (in ``room_id``)."""
        return await user.wait_for(
            lambda e: e.get("sender") == self.bot_id and e.get("type") == "m.room.message"
            and (room_id is None or e.get("room_id") == room_id)
            and contains in e["content"].get("body", ""),
            what=what or f"bot message containing {contains!r}")

    async def redacted(self, user: TestUser, room_id: str, event_id: str) -> dict[str, Any]:
        """Wait until ``user`` sees ``event_id`` redacted."""
        return await user.wait_for(
            lambda e: e.get("type") == "m.room.redaction" and e.get("room_id") == room_id
            and (e.get("redacts") or e["content"].get("redacts")) == event_id,
            what=f"redaction of {event_id}")


@pytest.fixture
async def world(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[World]:  # noqa: F811
    mod = await TestUser.create(homeserver)
    alice = await TestUser.create(homeserver)
    bot = homeserver.register()
    power = {bot.user_id: 100}
    mods_room = await mod.create_room("Moderators", invite=(bot.user_id,), power=power)
    support = await mod.create_room("Support", invite=(bot.user_id, alice.user_id), power=power)
    cw_room = await mod.create_room("Heavy topics", invite=(bot.user_id, alice.user_id),
                                    power=power)
    await alice.join(support)
    await alice.join(cw_room)
    w = World(homeserver, mod, alice, bot.user_id, bot.access_token, mods_room, support, tmp_path,
              cw_room)
    try:
        yield w
    finally:
        for b in w.bots:
            await b.stop()
        for store in w.stores:
            await store.close()
        await mod.close()
        await alice.close()


def posted(text: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, MessagePosted) and e.text == text


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` every 50 ms; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        await asyncio.sleep(0.05)


def joined(user: TestUser, room_id: str, member: str) -> bool:
    """Whether ``user``'s client sees ``member`` joined (not just invited) in ``room_id``."""
    room = user.client.rooms.get(room_id)
    return room is not None and member in room.users and not room.users[member].invited


# ---------------------------------------------------------------------------
# adapter mechanics (recording core)
# ---------------------------------------------------------------------------


async def test_first_start_ignores_history_and_joins_invited_rooms(world: World) -> None:
    await world.alice.send(world.support, "old message before Haven existed")
    bot, core = await world.recording_bot()
    assert core.posts() == []
    await world.alice.send(world.support, "hello after start")
    event = await core.wait_for(posted("hello after start"))
    assert isinstance(event, MessagePosted)
    assert event.channel.id == world.support and event.channel.kind == "room"
    assert event.channel.name == "Support"  # config names it by id: the room name is shown
    assert event.author.id == world.alice.user_id and event.author.power_level == 0
    assert event.community_id == bot.adapter.community_id == "localhost"
    assert event.link.startswith("https://matrix.to/#/")
    assert [p.text for p in core.posts()] == ["hello after start"]


async def test_restart_processes_missed_events_exactly_once(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="bot.adapters.matrix")
    bot, core = await world.recording_bot()
    await world.alice.send(world.support, "before restart")
    await core.wait_for(posted("before restart"))
    await bot.stop()
    world.bots.remove(bot)
    saved = await core.services.kv.get(TOKEN_KEY)
    assert saved
    # 60 messages while Haven is down: more than one sync timeline holds (limit 50).
    missed = [f"missed {i}" for i in range(60)]
    for text in missed:
        await world.alice.send(world.support, text)
    _bot2, core2 = await world.recording_bot()
    await core2.wait_for(posted("missed 59"))
    await asyncio.sleep(0.5)
    texts = [p.text for p in core2.posts()]
    assert texts == missed, texts[:5]
    assert "before restart" not in texts
    assert "fetched" in caplog.text  # the gap was longer than one sync timeline: backfilled
    await world.alice.send(world.support, "after restart")
    await core2.wait_for(posted("after restart"))
    assert [p.text for p in core2.posts()].count("after restart") == 1


async def test_power_levels_v12_creator_and_moderator_commands(world: World) -> None:
    bot, core = await world.recording_bot()
    assert bot.adapter.client.rooms[world.mods_room].room_version == "12"
    await world.mod.send(world.mods_room, "!haven alerts")
    cmd = await core.wait_for(lambda e: isinstance(e, CommandInvoked), "command")
    assert isinstance(cmd, CommandInvoked)
    assert cmd.name == "alerts" and cmd.invoker.id == world.mod.user_id
    assert cmd.invoker.power_level == CREATOR_POWER_LEVEL and cmd.invoker.is_admin
    assert cmd.channel.id == world.mods_room
    answer = await world.mod.wait_for(
        lambda e: e.get("sender") == world.bot_id and "ran alerts" in e["content"].get("body", ""),
        what="command answer")
    relates = answer["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread" and relates["event_id"] == cmd.message.message_id
    # A member's command in a support room carries their real (zero) level.
    await world.alice.send(world.support, "!haven rules test hello there")
    cmd2 = await core.wait_for(lambda e: isinstance(e, CommandInvoked) and e.name == "rules test")
    assert isinstance(cmd2, CommandInvoked)
    assert cmd2.invoker.power_level == 0 and not cmd2.invoker.is_admin
    assert cmd2.options == {"text": "hello there"}
    # Commands are not posts, and bad commands get a usage hint without reaching the core.
    await world.alice.send(world.support, "!haven claim")
    await world.alice.wait_for(lambda e: e.get("sender") == world.bot_id
                               and "Usage" in e["content"].get("body", ""), what="usage")
    assert not [p for p in core.posts() if p.text.startswith("!haven")]


async def test_replies_threads_edits_redactions_reactions_joins(world: World) -> None:
    _bot, core = await world.recording_bot()
    root = await world.alice.send(world.support, "root post")
    reply = await world.mod.send(world.support, "a reply",
                                 **{"m.relates_to": {"m.in_reply_to": {"event_id": root}}})
    in_thread = await world.mod.send(world.support, "in thread", **{"m.relates_to": {
        "rel_type": "m.thread", "event_id": root, "is_falling_back": True,
        "m.in_reply_to": {"event_id": root}}})
    await world.alice.send_content(world.support, {
        "msgtype": "m.text", "body": "* root post edited",
        "m.new_content": {"msgtype": "m.text", "body": "root post edited"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": root}})
    reacted = await world.mod.send_content(world.support, {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": root, "key": "💙"}}, event_type="m.reaction")
    oops = await world.alice.send(world.support, "oops")
    assert type(await world.mod.client.room_redact(world.support, in_thread)).__name__ \
        == "RoomRedactResponse"
    assert type(await world.mod.client.room_redact(world.support, oops)).__name__ \
        == "RoomRedactResponse"
    carol = await TestUser.create(world.server)
    try:
        await world.mod.invite(world.support, carol.user_id)
        await carol.join(world.support)
        joined = await core.wait_for(lambda e: isinstance(e, MemberJoined), "join")
        assert isinstance(joined, MemberJoined) and joined.member.id == carol.user_id
        assert joined.channel is not None and joined.channel.id == world.support
    finally:
        await carol.close()
    r = await core.wait_for(lambda e: isinstance(e, MessagePosted) and e.text == "a reply")
    assert isinstance(r, MessagePosted) and r.reply_to == root and r.thread_root is None
    assert r.message.message_id == reply
    t = await core.wait_for(posted("in thread"))
    assert isinstance(t, MessagePosted) and t.thread_root == root and t.reply_to is None
    assert t.message.thread_id == root
    edit = await core.wait_for(lambda e: isinstance(e, MessagePosted) and e.edited)
    assert isinstance(edit, MessagePosted)
    assert edit.text == "root post edited" and edit.message.message_id == root
    deleted = await core.wait_for(lambda e: isinstance(e, MessageDeleted)
                                  and e.message.message_id == in_thread)
    assert isinstance(deleted, MessageDeleted)
    assert deleted.message.thread_id == root and deleted.by_author
    by_mod = await core.wait_for(lambda e: isinstance(e, MessageDeleted)
                                 and e.message.message_id == oops)
    assert isinstance(by_mod, MessageDeleted) and not by_mod.by_author
    # The reaction (sent before these) gave no event: no feature uses reactions.
    assert reacted
    assert {type(e) for e in core.events} <= {MessagePosted, MessageDeleted, MemberJoined}


async def test_verbs_send_reply_private_hide_edit_repost_upload(world: World) -> None:
    bot, core = await world.recording_bot()
    adapter, alice = bot.adapter, world.alice
    community = adapter.community_id
    # send with a mention: pill + m.mentions
    text = f"Welcome {adapter.user_mention(alice.user_id)}, **glad** you're here"
    ref = await adapter.send(community, world.support, Outgoing(text, mention_users=(alice.user_id,)))
    got = await alice.wait_for(lambda e: e.get("event_id") == ref.message_id)
    content = got["content"]
    assert content["m.mentions"] == {"user_ids": [alice.user_id]}
    assert f'href="https://matrix.to/#/{alice.user_id}"' in content["formatted_body"]
    assert "<strong>glad</strong>" in content["formatted_body"]
    assert "**glad**" in content["body"]
    # reply to a threaded post stays in the thread
    root = await alice.send(world.support, "thread root")
    child = await alice.send(world.support, "child", **{"m.relates_to": {
        "rel_type": "m.thread", "event_id": root, "is_falling_back": True,
        "m.in_reply_to": {"event_id": root}}})
    post = await core.wait_for(posted("child"))
    assert isinstance(post, MessagePosted)
    answer = await adapter.reply(post.message, Outgoing("we hear you"))
    got = await alice.wait_for(lambda e: e.get("event_id") == answer.message_id)
    assert got["content"]["m.relates_to"]["rel_type"] == "m.thread"
    assert got["content"]["m.relates_to"]["event_id"] == root
    assert got["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == child
    # private message: a direct room, created once and reused
    first = await adapter.send_private(community, alice.user_id, Outgoing("just for you"))
    second = await adapter.send_private(community, alice.user_id, Outgoing("again"))
    assert first.channel_id == second.channel_id
    await until(lambda: first.channel_id in alice.invites, "the DM invite")
    await alice.join(first.channel_id)
    await alice.wait_for(lambda e: e.get("event_id") == second.message_id, what="DM")
    # edit
    await adapter.edit(ref, Outgoing("Updated: claimed by Mo"))
    got = await alice.wait_for(lambda e: e["content"].get("m.relates_to", {}).get("rel_type")
                               == "m.replace")
    assert got["content"]["m.new_content"]["body"] == "Updated: claimed by Mo"
    # hide = redact with a reason
    victim = await alice.send(world.support, "something to hide")
    victim_post = await core.wait_for(posted("something to hide"))
    assert isinstance(victim_post, MessagePosted)
    await adapter.hide(victim_post.message, "Haven: rule method-info")
    red = await alice.wait_for(lambda e: e.get("type") == "m.room.redaction"
                               and e.get("redacts") == victim)
    assert red["content"]["reason"] == "Haven: rule method-info"
    # repost with a content warning spoiler, naming the author
    author = victim_post.author
    rp = await adapter.repost(community, world.support, author,
                              Outgoing("CW: self-harm", spoiler="self-harm",
                                       spoiler_text="the hidden words"))
    got = await alice.wait_for(lambda e: e.get("event_id") == rp.message_id)
    assert "the hidden words" not in got["content"]["body"]
    assert 'data-mx-spoiler="self-harm"' in got["content"]["formatted_body"]
    assert alice.user_id in got["content"]["formatted_body"]
    # an attachment is uploaded and sent as m.image
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
           b"\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00"
           b"\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    await adapter.send(community, world.support,
                       Outgoing("chart", attachments=(Attachment("stats.png", png, "image/png"),)))
    img = await alice.wait_for(lambda e: e["content"].get("msgtype") == "m.image")
    assert img["content"]["url"].startswith("mxc://")
    assert img["content"]["info"]["mimetype"] == "image/png"


async def test_a_resent_message_with_the_same_dedupe_key_is_one_event(world: World) -> None:
    """A send repeated after a crash carries the same key: Synapse keeps one event."""
    bot, _core = await world.recording_bot()
    adapter = bot.adapter
    first = await adapter.send(adapter.community_id, world.support,
                               Outgoing("your text, returned", dedupe_key="hide:42:returned"))
    again = await adapter.send(adapter.community_id, world.support,
                               Outgoing("your text, returned", dedupe_key="hide:42:returned"))
    other = await adapter.send(adapter.community_id, world.support,
                               Outgoing("your text, returned"))
    assert again.message_id == first.message_id
    assert other.message_id != first.message_id


async def test_alert_mentions_moderators_and_mute(world: World) -> None:
    bot, _core = await world.recording_bot(
        channels=ChannelsConfig(moderators=world.mods_room))
    adapter, alice, mod = bot.adapter, world.alice, world.mod
    community = adapter.community_id
    # Role-like group "Moderators": everyone at moderator level in the moderators' room.
    ref = await adapter.send(community, world.mods_room,
                             Outgoing("**Crisis alert**", mention_roles=("Moderators",), alert_id=4))
    got = await mod.wait_for(lambda e: e.get("event_id") == ref.message_id)
    assert got["content"]["m.mentions"]["user_ids"] == [mod.user_id]
    assert got["content"]["body"].count("claim") == 0  # the core's alert text names commands
    # mute: alice can no longer post; unmute restores
    # alice is in two rooms Haven moderates (support, heavy topics)
    assert await adapter.moderation.mute(alice.user_id, "cool down") == 2
    resp = await alice.client.room_send(world.support, "m.room.message",
                                        {"msgtype": "m.text", "body": "can I talk?"})
    assert getattr(resp, "status_code", None) == "M_FORBIDDEN"
    assert await adapter.moderation.unmute(alice.user_id) == 2
    await alice.send(world.support, "back again")
    # the creator of a v12 room cannot be muted: a clear MissingPermission
    with pytest.raises(MissingPermission):
        await adapter.moderation.mute(mod.user_id, "nope")
    assert community == adapter.community_id


async def test_rate_limits_are_honoured_without_losing_messages(world: World) -> None:
    bot, _core = await world.recording_bot()
    adapter = bot.adapter
    world.server.override_ratelimit(world.bot_id, 1, 2)
    try:
        refs = [await adapter.send(adapter.community_id, world.support, Outgoing(f"n{i}"))
                for i in range(4)]
        adapter.api.max_rate_retries = 0
        with pytest.raises(RateLimited) as info:
            for i in range(5):
                await adapter.send(adapter.community_id, world.support, Outgoing(f"x{i}"))
        assert info.value.retry_after > 0 and info.value.retryable
    finally:
        world.server.clear_ratelimit(world.bot_id)
    for ref in refs:
        await world.alice.wait_for(lambda e, r=ref: e.get("event_id") == r.message_id)
    bodies = [e["content"]["body"] for e in world.alice.messages(world.support, world.bot_id)]
    assert [b for b in bodies if b.startswith("n")] == ["n0", "n1", "n2", "n3"]


async def test_config_names_rooms_by_alias_and_name(world: World) -> None:
    """Config may name rooms by id, #alias:server or name; channel names match config."""
    bot_id = world.bot_id
    lounge = await world.mod.create_room("Lounge", invite=(bot_id,), power={bot_id: 100},
                                         alias="lounge")
    team = await world.mod.create_room("Peer team", invite=(bot_id,), power={bot_id: 100})
    bot, core = await world.recording_bot(
        channels=ChannelsConfig(moderators="#lounge:localhost", nudges="Peer team"))
    adapter = bot.adapter
    await until(lambda: {lounge, team} <= set(adapter.client.rooms), "joining the named rooms")
    assert await adapter.rooms.resolve_room("#lounge:localhost") == lounge
    assert await adapter.rooms.resolve_room("Peer team") == team
    assert core.config.is_moderators_channel(adapter.rooms.channel(lounge))
    assert "Peer team" in adapter.rooms.channel(team).names()
    ref = await adapter.send(adapter.community_id, "#lounge:localhost", Outgoing("hi mods"))
    assert ref.channel_id == lounge
    mention = adapter.channel_mention(adapter.community_id, "#lounge:localhost")
    assert mention.startswith("[#lounge:localhost](https://matrix.to/#/")
    # the moderators' power for DMs and commands now comes from the aliased room
    await world.mod.send(lounge, "!haven alerts")
    cmd = await core.wait_for(lambda e: isinstance(e, CommandInvoked))
    assert isinstance(cmd, CommandInvoked) and cmd.channel.id == lounge


async def test_password_login(world: World) -> None:
    user = world.server.register()
    core = RecordingCore(world.config(matrix=MatrixConfig(
        homeserver=world.server.base_url, user_id=user.user_id, device_id="PWLOGIN")),
        await world.store())
    adapter = MatrixAdapter(core.config, password=user.password, sync_timeout_ms=5000)
    bot = await start_adapter(adapter, core)
    world.bots.append(bot)
    assert adapter.client.device_id == "PWLOGIN" and adapter.client.access_token
    bad = MatrixAdapter(core.config, password="wrong", sync_timeout_ms=5000)
    bad.attach(core)
    # Issue 12, item 14: a failed login with the reason, not a missing permission.
    with pytest.raises(LoginFailed) as failed:
        await bad.run()
    await bad.close()
    assert not isinstance(failed.value, MissingPermission) and not failed.value.retryable
    message = str(failed.value)
    assert "login failed" in message and "HAVEN_MATRIX_PASSWORD" in message
    assert "M_FORBIDDEN" in message and "Invalid" in message
    assert "wrong" not in message  # the secret itself is never shown
    bad_token = MatrixAdapter(core.config, access_token="syt_not_a_token", sync_timeout_ms=5000)
    bad_token.attach(core)
    with pytest.raises(LoginFailed, match="HAVEN_MATRIX_TOKEN: the homeserver said M_UNKNOWN_TOKEN"):
        await bad_token.run()
    await bad_token.close()


async def test_token_wins_over_password_and_the_log_says_so(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="bot.adapters.matrix")
    core = RecordingCore(world.config(), await world.store())
    adapter = MatrixAdapter(core.config, access_token=world.bot_token, password="wrong",
                            sync_timeout_ms=5000)
    assert adapter.secret_in_use() == "HAVEN_MATRIX_TOKEN"
    world.bots.append(await start_adapter(adapter, core))
    assert "both HAVEN_MATRIX_TOKEN and HAVEN_MATRIX_PASSWORD are set: logging in with " \
        "HAVEN_MATRIX_TOKEN" in caplog.text


async def test_encrypted_room_without_e2e_is_reported(world: World) -> None:
    bot = await world.haven()  # no matrix.store_path: no encryption, whatever is installed
    adapter = bot.adapter
    assert not adapter.encryption
    secret = await world.mod.create_room("Secret", invite=(world.bot_id,), encrypted=True)
    report = await world.bot_says(world.mod, world.mods_room, "read end-to-end encrypted rooms",
                                  "encryption report")
    assert "Secret" in report["content"]["body"]
    with pytest.raises(MissingPermission):
        await adapter.send(adapter.community_id, secret, Outgoing("plaintext would leak"))
    await world.mod.send(secret, "another message")
    await asyncio.sleep(0.5)
    reports = world.from_bot(world.mod, world.mods_room, "read end-to-end encrypted rooms")
    assert len(reports) == 1  # told once, not on every message


# ---------------------------------------------------------------------------
# product scenarios (the real Haven core)
# ---------------------------------------------------------------------------


async def test_welcome_on_join(world: World) -> None:
    await world.haven()
    carol = await TestUser.create(world.server)
    try:
        await world.mod.invite(world.support, carol.user_id)
        await carol.join(world.support)
        dm = await carol.accept_invite()
        welcome = await world.bot_says(carol, dm, "Welcome to **Harbour**", "welcome DM")
        assert "house rules" in welcome["content"]["body"]
        # Issue 12, item 15: commands are named as they work on Matrix.
        assert "use the `!haven resources` command" in welcome["content"]["body"]
        assert "<strong>Harbour</strong>" in welcome["content"]["formatted_body"]
    finally:
        await carol.close()


async def test_crisis_post_alerts_moderators_and_signposts_member(world: World) -> None:
    await world.haven()
    post = await world.alice.send(world.support, "I want to end my life tonight")
    alert = await world.bot_says(world.mod, world.mods_room, "!haven claim", "crisis alert")
    body = alert["content"]["body"]
    assert world.alice.user_id in body or "user" in body
    assert post in alert["content"]["formatted_body"]  # a link to the post
    dm = await world.alice.accept_invite()
    signpost = await world.bot_says(world.alice, dm, "crisis line", "signposting DM")
    assert "Samaritans" in signpost["content"]["body"]
    await asyncio.sleep(0.5)
    assert not [e for e in world.alice.events if e.get("type") == "m.room.redaction"]
    assert not world.from_bot(world.alice, world.support)  # nothing said in public


async def test_public_moderators_room_is_warned_and_alerts_withhold_the_excerpt(
        world: World) -> None:
    from nio import RoomPutStateResponse

    async def join_rule(rule: str) -> None:
        resp = await world.mod.client.room_put_state(world.mods_room, "m.room.join_rules",
                                                     {"join_rule": rule})
        assert isinstance(resp, RoomPutStateResponse), resp

    await join_rule("public")  # misconfigured: anyone on the server could join and read
    bot = await world.haven()
    adapter = bot.adapter
    warning = await world.bot_says(world.mod, world.mods_room, "visible to everyone",
                                   "privacy warning")
    assert "made private" in warning["content"]["body"]
    assert adapter.moderators_channel_is_private(adapter.community_id) is False
    await world.alice.send(world.support, "I want to end my life tonight")
    alert = await world.bot_says(world.mod, world.mods_room, "!haven claim", "crisis alert")
    for part in ("body", "formatted_body"):
        assert "end my life" not in alert["content"][part]
    assert "Details withheld" in alert["content"]["body"]
    assert world.alice.user_id not in alert["content"]["body"]
    # Made private again: Haven follows the room state, and excerpts come back.
    await join_rule("invite")
    await until(lambda: adapter.moderators_channel_is_private(adapter.community_id) is True,
                "Haven seeing the room made private")
    await world.alice.send(world.support, "I want to kill myself")
    update = await world.bot_says(world.mod, world.mods_room, "kill myself", "alert with excerpt")
    assert "withheld" not in update["content"]["body"]
    assert len(world.from_bot(world.mod, world.mods_room, "visible to everyone")) == 1


async def test_method_post_is_redacted_and_author_gets_text_back(world: World) -> None:
    await world.haven()
    text = "how many pills would it take to not wake up"
    post = await world.alice.send(world.support, text)
    red = await world.redacted(world.alice, world.support, post)
    assert red["sender"] == world.bot_id and "t-method" in red["content"].get("reason", "")
    dm = await world.alice.accept_invite()
    back = await world.bot_says(world.alice, dm, "has been hidden", "hidden-post DM")
    assert text in back["content"]["body"]
    await world.bot_says(world.mod, world.mods_room, "!haven claim", "method alert")


async def test_unanswered_post_is_nudged_and_answered_one_is_not(world: World) -> None:
    bot = await world.haven()
    core: Haven = bot.core
    lonely = await world.alice.send(world.support, "nobody ever replies to me, rough week")
    answered = await world.alice.send(world.support, "had a hard day at work today")
    await world.mod.send(world.support, "I'm here, want to talk about it?", **{"m.relates_to": {
        "rel_type": "m.thread", "event_id": answered, "is_falling_back": True,
        "m.in_reply_to": {"event_id": answered}}})
    deadline = time.monotonic() + WAIT
    while True:
        tracked = await core.store.posts.find_tracked(bot.adapter.community_id, answered)
        if tracked is not None and tracked.answered_by == world.mod.user_id:
            break
        assert time.monotonic() < deadline, f"the reply was not seen: {tracked}"
        await asyncio.sleep(0.05)
    assert (await core.store.posts.find_tracked(bot.adapter.community_id, lonely)) is not None
    await core.advance(2 * 3600 + 60)
    nudge = await world.bot_says(world.mod, world.mods_room, "rough week", "unanswered nudge")
    assert lonely in nudge["content"]["formatted_body"]
    await asyncio.sleep(0.5)
    nudges = world.from_bot(world.mod, world.mods_room)
    assert not [n for n in nudges if answered in n["content"].get("formatted_body", "")]


async def test_cw_room_enforcement(world: World) -> None:
    await world.haven()
    alice = world.alice
    unlabelled = await alice.send(world.cw_room, "my self harm scars are itching today")
    await world.redacted(alice, world.cw_room, unlabelled)
    dm = await alice.accept_invite()
    back = await world.bot_says(alice, dm, "content-warning channel", "CW DM")
    assert "my self harm scars are itching today" in back["content"]["body"]
    labelled = await alice.send(world.cw_room, "CW: self-harm my scars are itching today")
    spoilered = await alice.send(
        world.cw_room, "self harm thoughts again", format="org.matrix.custom.html",
        formatted_body='<span data-mx-spoiler="self-harm">self harm thoughts again</span>')
    await alice.send(world.cw_room, "marker after the good posts")
    await asyncio.sleep(1.0)
    redacted = {e.get("redacts") for e in alice.events if e.get("type") == "m.room.redaction"}
    assert labelled not in redacted and spoilered not in redacted
    assert unlabelled in redacted


async def test_moderator_command_works_and_member_is_refused(world: World) -> None:
    await world.haven()
    cmd = await world.mod.send(world.mods_room, "!haven alerts")
    answer = await world.mod.wait_for(
        lambda e: e.get("sender") == world.bot_id
        and e["content"].get("m.relates_to", {}).get("event_id") == cmd, what="alerts answer")
    assert answer["content"]["m.relates_to"]["rel_type"] == "m.thread"
    assert "moderators only" not in answer["content"]["body"]
    refused = await world.alice.send(world.support, "!haven alerts")
    answer = await world.alice.wait_for(
        lambda e: e.get("sender") == world.bot_id
        and e["content"].get("m.relates_to", {}).get("event_id") == refused, what="refusal")
    assert "moderators only" in answer["content"]["body"]
    # A member's own command still works for them.
    res = await world.alice.send(world.support, "!haven resources")
    note = await world.alice.wait_for(
        lambda e: e.get("sender") == world.bot_id
        and e["content"].get("m.relates_to", {}).get("event_id") == res, what="resources")
    assert "direct message" in note["content"]["body"]
    # In a direct chat the member created, they are its creator (unlimited power there), yet
    # moderator commands are still refused: DM power comes from the moderators' room.
    dm = await world.alice.create_room("", invite=(world.bot_id,), is_direct=True)
    await until(lambda: joined(world.alice, dm, world.bot_id), "the bot joining the direct chat")
    sneaky = await world.alice.send(dm, "!haven alerts")
    answer = await world.alice.wait_for(
        lambda e: e.get("sender") == world.bot_id
        and e["content"].get("m.relates_to", {}).get("event_id") == sneaky, what="DM refusal")
    assert "moderators only" in answer["content"]["body"]
    helplines = await world.alice.send(dm, "!haven resources")
    answer = await world.alice.wait_for(
        lambda e: e.get("sender") == world.bot_id
        and e["content"].get("m.relates_to", {}).get("event_id") == helplines, what="DM answer")
    assert "Samaritans" in answer["content"]["body"]


async def test_restart_does_not_process_history_again(world: World) -> None:
    bot = await world.haven()
    await world.alice.send(world.support, "I want to end my life")
    await world.bot_says(world.mod, world.mods_room, "!haven claim", "first alert")
    await bot.stop()
    world.bots.remove(bot)
    # While Haven is down, a method post arrives: it must be handled once after the restart.
    missed = await world.alice.send(world.support, "how many pills would it take")
    bot2 = await world.haven()
    await world.redacted(world.alice, world.support, missed)
    await world.alice.send(world.support, "just saying hi after the restart")
    await asyncio.sleep(1.0)
    alerts = world.from_bot(world.mod, world.mods_room, "!haven claim")
    assert len(alerts) == 2, [a["content"]["body"][:80] for a in alerts]  # crisis once, method once
    redactions = [e for e in world.alice.events if e.get("type") == "m.room.redaction"
                  and e.get("redacts") == missed]
    assert len(redactions) == 1
    assert bot2.core.errors == 0


@pytest.mark.skipif(not e2e_available(),
                    reason="matrix-nio[e2e] (vodozemac) is not installed; see docs/matrix-setup.md")
async def test_encrypted_room_round_trip_with_e2e(world: World) -> None:
    """With matrix-nio[e2e] and a store, Haven reads encrypted rooms and answers encrypted."""
    bot = await world.haven(store_path=str(world.tmp / "bot-e2e"), device_id="HAVENTEST")
    assert bot.adapter.encryption and bot.adapter.client.olm is not None
    dana = await TestUser.create(world.server, store_path=world.tmp / "dana-e2e")
    try:
        room = await dana.create_room("Dana's room", invite=(world.bot_id,), encrypted=True)
        await until(lambda: room in bot.adapter.client.rooms and joined(dana, room, world.bot_id),
                    "the bot joining the encrypted room")
        await dana.send(room, "I want to end my life")
        await world.bot_says(world.mod, world.mods_room, "!haven claim", "alert from E2E room")
        dm = await dana.accept_invite()
        signpost = await world.bot_says(dana, dm, "crisis line", "encrypted signposting DM")
        assert signpost["decrypted"], "the DM should have been end-to-end encrypted"
    finally:
        await dana.close()


async def test_moderator_toolkit_commands(world: World) -> None:
    """Issue 6 on Matrix: warn, note, history, case, duty, quiet, handover, stats, forgetme."""
    await world.haven()
    mod, alice = world.mod, world.alice

    async def ask(user: TestUser, room: str, line: str, what: str) -> dict[str, Any]:
        cmd = await user.send(room, line)
        return await user.wait_for(
            lambda e: e.get("sender") == world.bot_id
            and e["content"].get("m.relates_to", {}).get("event_id") == cmd
            and e["content"].get("msgtype") == "m.text", what=what, timeout=WAIT)

    warned = await ask(mod, world.mods_room, f"!haven warn {alice.user_id} t-hostility name-calling",
                       "warn answer")
    assert "case #1" in warned["content"]["body"]
    dm = await alice.accept_invite()
    await world.bot_says(alice, dm, "be kind", "the warning, privately, in the rule's words")
    await ask(mod, world.mods_room, f"!haven note {alice.user_id} rough week", "note answer")
    history = await ask(mod, world.mods_room, f"!haven history {alice.user_id}", "history")
    assert "2 cases about" in history["content"]["body"]
    case = await ask(mod, world.mods_room, "!haven case 1", "case")
    assert "t-hostility" in case["content"]["body"]
    duty = await ask(mod, world.mods_room, "!haven duty on", "duty on")
    assert "on duty" in duty["content"]["body"]
    roster = await ask(mod, world.mods_room, "!haven duty list", "duty list")
    assert mod.user_id in roster["content"]["body"] or "On duty" in roster["content"]["body"]
    quiet = await ask(mod, world.mods_room, "!haven quiet 22:00-07:00", "quiet")
    assert "22:00-07:00" in quiet["content"]["body"]
    await ask(mod, world.mods_room, "!haven handover alice may need a check-in", "handover add")
    logbook = await ask(mod, world.mods_room, "!haven handover", "handover")
    assert "alice may need a check-in" in logbook["content"]["body"]
    stats = await ask(mod, world.mods_room, "!haven stats 7", "stats")
    assert "Community health" in stats["content"]["body"]
    await mod.wait_for(lambda e: e.get("sender") == world.bot_id
                       and e["content"].get("msgtype") == "m.image", what="the stats chart")
    refused = await ask(alice, world.support, "!haven history " + mod.user_id, "refusal")
    assert "moderators only" in refused["content"]["body"]
    await alice.send(dm, "!haven forgetme")
    await world.bot_says(alice, dm, "!haven forgetme confirm", "forgetme asks to confirm")
    await alice.send(dm, "!haven forgetme confirm")
    await world.bot_says(alice, dm, "deleted", "forgetme answer")


async def test_a_timeout_is_lifted_by_the_core_scheduler(world: World) -> None:
    """Matrix timeouts do not end by themselves: `timeout` mutes the member through power
    levels and the core's durable ``lift_timeout`` job gives her voice back when the time is
    up (no side loop in the adapter; virtual time here)."""
    bot = await world.haven()
    core: Haven = bot.core
    adapter = bot.adapter
    mod, alice = world.mod, world.alice
    await mod.send(world.mods_room, f"!haven timeout {alice.user_id} 1 cool down")
    # alice is in two rooms Haven moderates (support, heavy topics)
    await until(lambda: len(adapter.moderation.mutes) == 2, "alice muted in both rooms")
    await core.drain()  # the command is handled: the power levels are set
    resp = await alice.client.room_send(world.support, "m.room.message",
                                        {"msgtype": "m.text", "body": "can I talk?"})
    assert getattr(resp, "status_code", None) == "M_FORBIDDEN"
    [job] = [j for j in await core.store.jobs.pending_jobs() if j.kind == "lift_timeout"]
    assert job.key == alice.user_id
    await core.advance(30)
    assert len(adapter.moderation.mutes) == 2  # not yet
    await core.advance(31)
    assert adapter.moderation.mutes == {}  # nothing left to unmute
    assert not [j for j in await core.store.jobs.pending_jobs() if j.kind == "lift_timeout"]
    await alice.send(world.support, "free again")


# ---------------------------------------------------------------------------
# issue 12: field hardening
# ---------------------------------------------------------------------------


async def test_pending_alert_goes_out_promptly_after_start(world: World) -> None:
    """Item 1: the adapter marks the core ready once caught up, so timers start at once
    (not after the 120 s ready time-out): an alert stored but unsent before a crash is sent."""
    config = world.haven_config()
    store = await Store.open(config.database)
    now = time.time()
    alert_id = await store.alerts.create_alert(
        "localhost", "crisis", world.alice.user_id, "alice", world.support, "Support",
        "$lost", "https://matrix.to/#/!x/$lost", "I can't go on", "t-crisis", "high", now)
    await store.jobs.add_job("localhost", "alert_send", f"{alert_id}:new", now,
                        {"alert_id": alert_id, "mode": "new"}, now)
    await store.close()
    adapter = MatrixAdapter(config, access_token=world.bot_token, sync_timeout_ms=5000)
    core = await app.create(config, adapter, RealClock())
    await core.start(run_scheduler=True)
    started = time.monotonic()
    bot = await start_adapter(adapter, core, rooms=(world.mods_room, world.support))
    world.bots.append(bot)
    await world.bot_says(world.mod, world.mods_room, "!haven claim", "the pending alert")
    assert time.monotonic() - started < 30  # the ready time-out would have taken 120 s


async def test_long_outage_catch_up_reads_every_page(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Item 2: catch-up pages /messages until the saved position, however many pages."""
    caplog.set_level("INFO", logger="bot.adapters.matrix")
    bot, core = await world.recording_bot()
    await world.alice.send(world.support, "before the outage")
    await core.wait_for(posted("before the outage"))
    await bot.stop()
    world.bots.remove(bot)
    missed = [f"outage {i}" for i in range(75)]  # > 50 (one sync timeline) + several pages
    for text in missed:
        await world.alice.send(world.support, text)
    core2 = RecordingCore(world.config(), await world.store())
    adapter = MatrixAdapter(core2.config, access_token=world.bot_token, sync_timeout_ms=5000,
                            backfill_page=7)
    world.bots.append(await start_adapter(adapter, core2, rooms=(world.mods_room, world.support)))
    await core2.wait_for(posted("outage 74"))
    await asyncio.sleep(0.3)
    assert [p.text for p in core2.posts()] == missed
    pages = [r.getMessage() for r in caplog.records if "missed events" in r.getMessage()]
    assert pages and "page(s)" in pages[-1] and not pages[-1].endswith("(1 page(s))")
    assert not world.from_bot(world.mod, world.mods_room, "could not read everything")


async def test_catch_up_safety_limit_tells_moderators_what_was_not_read(world: World) -> None:
    """Item 2: if the safety limit is ever hit, moderators hear which room and span went unread."""
    bot = await world.haven()
    await world.alice.send(world.support, "before the outage")
    await asyncio.sleep(1.0)
    await bot.stop()
    world.bots.remove(bot)
    for i in range(70):
        await world.alice.send(world.support, f"outage {i}")
    config = world.haven_config()
    adapter = MatrixAdapter(config, access_token=world.bot_token, sync_timeout_ms=5000,
                            backfill_page=5, backfill_max=10)
    core = await app.create(config, adapter, VirtualClock(start=time.time()))
    await core.start(run_scheduler=False)
    world.bots.append(await start_adapter(adapter, core, rooms=(world.mods_room, world.support)))
    report = await world.bot_says(world.mod, world.mods_room, "could not read everything",
                                  "unread catch-up report")
    body = report["content"]["body"]
    assert "Support" in body and "UTC" in body and " to " in body


async def test_junk_encrypted_event_in_unencrypted_room_raises_no_alarm(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Item 13: anyone can send m.room.encrypted junk; it must not make Haven cry wolf."""
    caplog.set_level("INFO", logger="bot.adapters.matrix")
    bot = await world.haven()
    junk = await world.alice.send_content(world.support, {
        "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "bm90IHJlYWxseQ", "sender_key": "x",
        "session_id": "y", "device_id": "Z"}, event_type="m.room.encrypted")
    await world.alice.send(world.support, "marker after the junk")
    await world.alice.send(world.support, "I want to end my life tonight")
    await world.bot_says(world.mod, world.mods_room, "!haven claim", "the crisis alert after it")
    await asyncio.sleep(0.5)
    assert not world.from_bot(world.mod, world.mods_room, "permission")
    assert not world.from_bot(world.mod, world.mods_room, "encrypted")
    assert not bot.adapter.rooms.room_encrypted(world.support)
    assert f"ignoring an encrypted event in unencrypted room {world.support}" in caplog.text
    assert junk in caplog.text


async def test_direct_messages_reach_the_core_also_on_catch_up(world: World) -> None:
    """Private messages to Haven are delivered as posts in a "dm" channel (crisis detection
    runs on them in the core), live and after a restart; only the prefix makes a command."""
    bot, core = await world.recording_bot()
    dm = await world.alice.create_room("", invite=(world.bot_id,), is_direct=True)
    await world.alice.send(dm, "written before Haven joined")  # the invite is still pending
    early = await core.wait_for(posted("written before Haven joined"))
    assert isinstance(early, MessagePosted) and early.channel.kind == "dm"
    await until(lambda: joined(world.alice, dm, world.bot_id), "the bot joining the direct chat")
    await world.alice.send(dm, "Haven, I'm going to kill myself tonight, please help")
    live = await core.wait_for(lambda e: isinstance(e, MessagePosted) and "tonight" in e.text)
    assert isinstance(live, MessagePosted)
    assert live.channel.kind == "dm" and live.community_id == bot.adapter.community_id
    await bot.stop()
    world.bots.remove(bot)
    await world.alice.send(dm, "are you there? I need help")
    _bot2, core2 = await world.recording_bot()
    missed = await core2.wait_for(posted("are you there? I need help"))
    assert isinstance(missed, MessagePosted) and missed.channel.kind == "dm"
    assert not [e for e in core2.events if isinstance(e, CommandInvoked)]


async def test_a_direct_room_missing_its_member_in_nios_view_is_kept(world: World) -> None:
    """Found by the Synapse chaos test: after a restart, nio's view of a direct room made just
    before the crash lacked the invited member; Haven took that for "they left", made a new
    room and sent the (crisis signposting) message again there, where its transaction id no
    longer deduplicated it. Only a membership the server reports as gone counts."""
    bot, _core = await world.recording_bot()
    adapter = bot.adapter
    alice = world.alice.user_id
    first = await adapter.send_private(adapter.community_id, alice, Outgoing("first"))
    room_id = first.channel_id
    await until(lambda: room_id in adapter.client.rooms
                and alice in adapter.client.rooms[room_id].invited_users,
                "the bot syncing its direct room")
    adapter.client.rooms[room_id].remove_member(alice)  # the view the restart left behind
    again = await adapter.send_private(adapter.community_id, alice, Outgoing("again"))
    assert again.channel_id == room_id
    # A member who really left gets a new room.
    await world.alice.join(room_id)
    from nio import RoomLeaveResponse

    assert isinstance(await world.alice.client.room_leave(room_id), RoomLeaveResponse)
    await until(lambda: alice not in adapter.client.rooms[room_id].users, "the bot seeing her leave")
    fresh = await adapter.send_private(adapter.community_id, alice, Outgoing("new room"))
    assert fresh.channel_id != room_id


async def test_resolve_member_by_id_local_name_and_display_name(world: World) -> None:
    """Item 10: `warn bob` must find bob; the member's name is their display name."""
    bot, _core = await world.recording_bot()
    adapter = bot.adapter
    sam1 = await TestUser.create(world.server)
    sam2 = await TestUser.create(world.server)
    outsider = await TestUser.create(world.server)
    try:
        assert type(await world.alice.client.set_displayname("Alice Wonder")).__name__ \
            == "ProfileSetDisplayNameResponse"
        for sam in (sam1, sam2):
            await world.mod.invite(world.support, sam.user_id)
            await sam.join(world.support)
            await sam.client.set_displayname("Sam")
        invited = await TestUser.create(world.server)
        await world.mod.invite(world.support, invited.user_id)
        await invited.close()
        room = world.support

        def synced() -> bool:
            users = adapter.client.rooms[room].users
            return (users.get(world.alice.user_id) is not None
                    and users[world.alice.user_id].display_name == "Alice Wonder"
                    and all(users.get(s.user_id) is not None
                            and users[s.user_id].display_name == "Sam" for s in (sam1, sam2))
                    and invited.user_id in users)

        await until(synced, "the bot seeing the display names")
        community = adapter.community_id
        alice_local = world.alice.user_id[1:].split(":")[0]
        for query in (world.alice.user_id, alice_local, "@" + alice_local, "alice wonder",
                      "  Alice   Wonder ", f"https://matrix.to/#/{world.alice.user_id}",
                      f"Alice Wonder ({world.alice.user_id})"):
            found = await adapter.resolve_member(community, query)
            assert found is not None, query
            assert found.id == world.alice.user_id and found.name == "Alice Wonder", query
        assert await adapter.resolve_member(community, "Sam") is None  # two members: ambiguous
        found = await adapter.resolve_member(community, sam1.user_id)
        assert found is not None and found.name == "Sam"
        assert await adapter.resolve_member(community, "bob") is None  # nobody
        assert await adapter.resolve_member(community, outsider.user_id) is None  # not a member
        assert await adapter.resolve_member(community, invited.user_id) is None  # only invited
        assert await adapter.resolve_member(community, world.bot_id) is None
        assert await adapter.resolve_member(community, "") is None
        # Events name members by display name too (member-facing texts use Member.name).
        await world.alice.send(world.support, "hello with my new name")
        post = await _core.wait_for(posted("hello with my new name"))
        assert isinstance(post, MessagePosted) and post.author.name == "Alice Wonder"
    finally:
        for user in (sam1, sam2, outsider):
            await user.close()


async def test_check_online_reports_what_is_missing_without_running(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`haven check --online`: the real secret, every configured room, power and privacy."""
    from bot.cli import main

    bot, _core = await world.recording_bot()  # joins the rooms it was invited to
    await until(lambda: world.cw_room in bot.adapter.client.rooms, "the bot joining the CW room")
    await bot.stop()
    world.bots.remove(bot)
    data = world.haven_config_data()
    data["database"] = str(world.tmp / "check.db")
    config_file = world.tmp / "haven.yaml"
    config_file.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("HAVEN_MATRIX_TOKEN", world.bot_token)
    monkeypatch.delenv("HAVEN_MATRIX_PASSWORD", raising=False)
    assert await asyncio.to_thread(main, ["check", "--config", str(config_file), "--online"]) == 0
    assert "OK online" in capsys.readouterr().out
    assert not (world.tmp / "check.db").exists()  # the bot was not started

    # Now break things: a room Haven is not in, no power in a CW room, a knock moderators' room.
    weak = await world.mod.create_room("Weak", invite=(world.bot_id,))
    elsewhere = await world.mod.create_room("Elsewhere")
    from nio import RoomPutStateResponse

    resp = await world.mod.client.room_put_state(world.mods_room, "m.room.join_rules",
                                                 {"join_rule": "knock"})
    assert isinstance(resp, RoomPutStateResponse)
    bot2, _core2 = await world.recording_bot()
    await until(lambda: weak in bot2.adapter.client.rooms, "the bot joining Weak")
    await bot2.stop()
    world.bots.remove(bot2)
    data["content_warnings"] = {"channels": [weak], "redirect_to": world.cw_room}
    data["channels"]["welcome"] = elsewhere
    data["roles"] = {"peer_supporters": ["Sam"]}
    config = load_config_text(yaml.safe_dump(data), "check.yaml")
    problems = await MatrixAdapter(config, access_token=world.bot_token).check_online()
    text = "\n".join(problems)
    assert f"channels.welcome: Haven is not in the room {elsewhere!r}" in text
    assert "content_warnings.channels: Haven cannot hide posts in Weak" in text
    assert "Weak" in text and "too low to redact" in text and "mute" in text
    assert "channels.moderators" in text and "not private (join rule knock" in text
    assert "roles.peer_supporters: 'Sam' is not a Matrix user id" in text
    assert "Support" not in text  # fine rooms are not mentioned
    config_file.write_text(yaml.safe_dump(data))
    assert await asyncio.to_thread(main, ["check", "--config", str(config_file), "--online"]) == 1
    assert "problem(s) found online" in capsys.readouterr().err

    wrong = MatrixAdapter(config, password="wrong")
    [login] = await wrong.check_online()
    assert "login failed" in login and "HAVEN_MATRIX_PASSWORD" in login


async def test_unaccepted_dm_invitation_falls_back_to_the_welcome_room(world: World) -> None:
    """Item 15: a member who never accepts Haven's DM invitation is told in the room (once,
    also across a restart), and later private messages take the closed-DM fallback until
    they accept."""
    config = world.haven_config()

    async def start() -> tuple[Bot, MatrixAdapter]:
        adapter = MatrixAdapter(config, access_token=world.bot_token, sync_timeout_ms=5000,
                                dm_invite_timeout=1.5)
        core = await app.create(config, adapter, VirtualClock(start=time.time()))
        await core.start(run_scheduler=False)
        bot = await start_adapter(adapter, core, rooms=(world.mods_room, world.support))
        world.bots.append(bot)
        return bot, adapter

    bot, adapter = await start()
    carol = await TestUser.create(world.server)
    try:
        await world.mod.invite(world.support, carol.user_id)
        await carol.join(world.support)
        await until(lambda: carol.invites != [], "the welcome DM invitation")
        note = await world.bot_says(carol, world.support, "accept the direct chat invitation",
                                    "the pointer to the unaccepted DM")
        assert carol.user_id in note["content"]["m.mentions"]["user_ids"]
        assert "Welcome" not in note["content"]["body"]  # nothing private said in the room
        with pytest.raises(PrivateMessagesClosed):
            await adapter.send_private(adapter.community_id, carol.user_id, Outgoing("psst"))
        await bot.stop()
        world.bots.remove(bot)
        bot, adapter = await start()  # a restart remembers the waiting invitation
        with pytest.raises(PrivateMessagesClosed):
            await adapter.send_private(adapter.community_id, carol.user_id, Outgoing("psst"))
        await asyncio.sleep(2.0)
        assert len(world.from_bot(carol, world.support, "accept the direct chat")) == 1
        dm = await carol.accept_invite()
        await world.bot_says(carol, dm, "Welcome to **Harbour**", "the welcome, once accepted")
        await until(lambda: not adapter.dms.pending(dm, carol.user_id), "the bot seeing the join")
        ref = await adapter.send_private(adapter.community_id, carol.user_id, Outgoing("hello"))
        assert ref.channel_id == dm
        assert len(world.from_bot(carol, world.support, "accept the direct chat")) == 1
    finally:
        await carol.close()


async def test_crisis_in_a_notice_or_a_caption_is_alerted(world: World) -> None:
    """Item 8 end to end: text in other message types goes through the rules."""
    await world.haven()
    await world.alice.send_content(world.support, {"msgtype": "m.notice",
                                                   "body": "I want to end my life tonight"})
    await world.bot_says(world.mod, world.mods_room, "!haven claim", "alert from a notice")
    await world.alice.send_content(world.support, {
        "msgtype": "m.image", "body": "I want to kill myself", "filename": "me.png",
        "url": "mxc://localhost/nothing", "info": {"mimetype": "image/png"}})
    await world.bot_says(world.mod, world.mods_room, "kill myself", "alert from a caption")


async def test_help_names_commands_with_the_prefix(world: World) -> None:
    await world.haven()
    cmd = await world.alice.send(world.support, "!haven help")
    dm = await world.alice.accept_invite()
    answer = await world.bot_says(world.alice, dm, "Commands", "help answer")
    assert "`!haven resources`" in answer["content"]["body"]
    assert "<code>!haven resources</code>" in answer["content"]["formatted_body"]
    assert cmd


async def test_care_for_moderators_on_matrix(world: World) -> None:
    """Issue 14: a moderator's exposure choice shapes the alert; after resolving a crisis
    alert they get a private word; `checkin` asks the team quietly."""
    await world.haven()
    mod = world.mod
    await mod.send(world.mods_room, "!haven duty on")
    await world.bot_says(mod, world.mods_room, "on duty", "duty on")
    await mod.send(world.mods_room, "!haven excerpts off")
    await world.bot_says(mod, world.mods_room, "not show you the post's words", "excerpts off")
    await world.alice.send(world.support, "I want to end my life tonight")
    alert = await world.bot_says(mod, world.mods_room, "New alert", "the crisis alert")
    body = alert["content"]["body"]
    assert "end my life" not in body and "not shown here" in body
    assert "Member: " in body and "Where: " in body and "(critical)" in body  # who, where, how urgent
    await mod.send(world.mods_room, "!haven resolve 1")
    dm = await mod.accept_invite()
    await world.bot_says(mod, dm, "Thank you for looking after alert #1", "the after-care word")
    await mod.send(world.mods_room, "!haven checkin")
    ask = await world.bot_says(mod, world.mods_room, "checking in", "the quiet check-in request")
    assert "m.mentions" not in ask["content"] or not ask["content"]["m.mentions"].get("room")
    await mod.send(world.mods_room, "!haven team")
    team = await world.bot_says(mod, world.mods_room, "Who handled what", "the team's load")
    assert "resolved 1/1" in team["content"]["body"] and "crisis 1/1" in team["content"]["body"]


async def test_identifying_details_adding_up_send_the_member_a_private_note(
        world: World) -> None:
    """Issue 14, part 3: three posts naming three kinds of detail; the note comes privately."""
    await world.haven()
    for text in ("my name is Alice Marsh, hello", "I go to Kingsbridge College",
                 "I live in Tadcaster, it's tiny"):
        await world.alice.send(world.support, text)
    dm = await world.alice.accept_invite()
    note = await world.bot_says(world.alice, dm, "your town or street", "identifying-details note")
    body = note["content"]["body"]
    assert "your full name" in body and "edit or delete" in body
    for detail in ("Marsh", "Kingsbridge", "Tadcaster"):
        assert detail not in body
    assert not world.from_bot(world.alice, world.support, "privacy")  # nothing said in public

"""bot.adapters.matrix.inbound: invites, malformed payloads (fuzz), catch-up after downtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.matrix.events import SeenEvents, translate
from bot.core.events import MessagePosted
from tests.matrix_fakes import (
    ALICE,
    BOT,
    DM,
    MOD,
    ROOM,
    Ctx,
    FakeCore,
    adapter_for,
    dm_adapter,
    ev,
    settle,
)


def test_invites_only_from_allowed_servers() -> None:
    adapter = adapter_for()
    assert adapter.inbound.invite_allowed("!a:example.org", ALICE)
    assert not adapter.inbound.invite_allowed("!a:evil.org", ALICE)
    assert not adapter.inbound.invite_allowed("!v12roomid", "@eve:evil.org")
    assert adapter.inbound.invite_allowed("!v12roomid", ALICE)
    other = adapter_for(allowed_servers=("partner.org",))
    assert other.inbound.invite_allowed("!a:partner.org", "@p:partner.org")
    assert not other.inbound.invite_allowed("!a:example.org", ALICE)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=3),
                     st.dictionaries(st.text(max_size=8), inner, max_size=3))


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    _nested, max_leaves=8)


_TYPES = st.sampled_from(["m.room.message", "m.room.member", "m.room.redaction", "m.reaction",
                          "m.sticker", "m.room.create", "m.room.power_levels",
                          "m.room.encrypted", "m.room.name"]) | _ANY


_MSGTYPES = st.sampled_from(["m.text", "m.notice", "m.emote", "m.image", "m.file", "m.video",
                             "m.audio", "m.location", "x.custom"]) | _ANY


_FIELD = st.sampled_from(["body", "msgtype", "format", "formatted_body", "filename", "url",
                          "file", "m.relates_to", "m.new_content", "membership", "redacts",
                          "users", "users_default", "events", "room_version",
                          "additional_creators", "creator", "displayname"])


@st.composite
def _content(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(_ANY)
    content: dict[str, Any] = {"msgtype": draw(_MSGTYPES)}
    for key in draw(st.lists(_FIELD, max_size=5)):
        content[key] = draw(_ANY | st.text(max_size=30))
    if draw(st.booleans()):
        content["m.relates_to"] = draw(st.fixed_dictionaries({}, optional={
            "rel_type": st.sampled_from(["m.replace", "m.thread", "m.annotation"]) | _ANY,
            "event_id": st.just("$e0") | _ANY, "key": _ANY,
            "m.in_reply_to": _ANY | st.fixed_dictionaries({"event_id": _ANY})}))
    if draw(st.booleans()):
        content["body"] = draw(st.sampled_from(["!haven alerts", "!haven", "!haven warn",
                                                f"{BOT}: help", "hi"]) | st.text(max_size=30))
    return content


@st.composite
def _payload(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, value in (("type", _TYPES), ("content", _content()),
                       ("sender", st.sampled_from([ALICE, MOD, BOT]) | _ANY),
                       ("event_id", st.sampled_from(["$e0", "$e1"]) | _ANY),
                       ("origin_server_ts", st.integers() | _ANY),
                       ("state_key", st.sampled_from(["", ALICE, BOT]) | _ANY),
                       ("redacts", _ANY), ("unsigned", _ANY)):
        if draw(st.booleans()):
            raw[key] = draw(value)
    return raw


@pytest.mark.fuzz
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(_payload(), min_size=1, max_size=4))
async def test_fuzz_malformed_matrix_events_never_break_the_sync(
        events: list[dict[str, Any]]) -> None:
    """Missing and wrongly-typed fields: logged and skipped, never an exception out of the
    adapter's event entry points (state, own-join cut, timeline), and whatever is handed
    on to the core is well-formed."""
    adapter, core = dm_adapter()

    async def no_command(*_: Any) -> None:
        return None

    adapter.commands.run_command = no_command  # type: ignore[method-assign]
    for raw in events:
        for room in (ROOM, DM):
            adapter.rooms.note_state_safely(room, raw)
    adapter.inbound.after_own_join(events)
    for raw in events:
        for room in (ROOM, DM):
            adapter.inbound.on_timeline(room, raw)
    for room in (ROOM, DM):
        adapter.rooms.member(room, ALICE)  # power levels noted from junk still compute
    await settle(adapter)
    for event in core.submitted:
        if isinstance(event, MessagePosted):
            assert isinstance(event.text, str) and isinstance(event.message.message_id, str)
            assert isinstance(event.author.id, str)


@pytest.mark.fuzz
@settings(max_examples=150, deadline=None)
@given(raw=_payload())
def test_fuzz_translation_itself_never_raises(raw: dict[str, Any]) -> None:
    """The pure translation copes with any payload (the entry point's guard is a last resort)."""
    translate(raw, ROOM, Ctx(), SeenEvents())


@dataclass
class _Raw:
    source: dict[str, Any]


async def test_catch_up_that_keeps_failing_is_reported_not_silently_dropped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nio import RoomMessagesError, RoomMessagesResponse

    import bot.adapters.matrix.inbound as matrix_inbound

    monkeypatch.setattr(matrix_inbound, "BACKFILL_RETRY_DELAY", 0.0)
    adapter = adapter_for()
    asked: list[str] = []

    async def room_messages(room_id: str, start: str, **_: Any) -> Any:
        asked.append(start)
        if start == "newest":
            chunk = [_Raw(ev("m.room.message", {"msgtype": "m.text", "body": f"m{i}"},
                             event_id=f"$m{i}")) for i in range(3)]
            return RoomMessagesResponse(room_id, chunk, "newest", "older")
        return RoomMessagesError("server trouble", "M_UNKNOWN")

    adapter.client.room_messages = room_messages  # type: ignore[method-assign]
    adapter.inbound.synced_at = 1_699_990_000.0
    got = await adapter.inbound.backfill(ROOM, "newest", "saved")
    assert [e.source["event_id"] for e in got] == ["$m2", "$m1", "$m0"]  # oldest first
    assert asked == ["newest"] + ["older"] * matrix_inbound.BACKFILL_ATTEMPTS
    assert adapter.inbound.unread == [(ROOM, 1_699_990_000.0, 1_700_000_000.0)]
    core = FakeCore()
    adapter.attach(core)
    await adapter.inbound.report_unread()
    [(channel, text)] = core.notices.sent
    assert channel == adapter.config.channels.moderators
    assert "could not read everything" in text and "2023-11-14" in text and "UTC" in text
    assert adapter.inbound.unread == []


async def test_catch_up_pages_until_the_saved_position() -> None:
    from nio import RoomMessagesResponse

    adapter = adapter_for(backfill_page=2)
    pages = {"p0": ("p1", 2), "p1": ("p2", 2), "p2": (None, 1)}
    limits: list[int] = []

    async def room_messages(room_id: str, start: str, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        end, n = pages[start]
        chunk = [_Raw(ev("m.room.message", {"msgtype": "m.text", "body": "x"},
                         event_id=f"${start}-{i}")) for i in range(n)]
        return RoomMessagesResponse(room_id, chunk, start, end)

    adapter.client.room_messages = room_messages  # type: ignore[method-assign]
    got = await adapter.inbound.backfill(ROOM, "p0", "saved")
    assert len(got) == 5 and limits == [2, 2, 2] and adapter.inbound.unread == []


async def test_room_state_is_noted_in_the_same_step_as_nios_own_update() -> None:
    """A task that wakes between the sync request and its processing (an alert being sent)
    finds the power levels of a room that just appeared, creators included (room v12)."""
    from nio import SyncResponse

    adapter = adapter_for()
    room = "!new:example.org"
    state = [ev("m.room.create", {"room_version": "12"}, state_key="", sender=MOD),
             ev("m.room.power_levels", {"users": {BOT: 100}}, state_key="", sender=MOD)]
    raw = {"next_batch": "s1", "rooms": {"join": {room: {
        "state": {"events": state}, "timeline": {"events": [], "limited": False},
        "ephemeral": {"events": []}, "account_data": {"events": []}}}}}
    resp = SyncResponse.from_dict(raw)
    assert isinstance(resp, SyncResponse)

    async def sync(**_: Any) -> SyncResponse:
        return resp

    adapter.client.sync = sync  # type: ignore[method-assign]
    await adapter.session.request_sync({})
    assert adapter.rooms.power_state(room).user_level(MOD) > 100  # before process() ran

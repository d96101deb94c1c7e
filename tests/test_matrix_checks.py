"""bot.adapters.matrix.checks: the private moderators' room and the online check."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.adapters.matrix.checks import room_is_private
from bot.adapters.matrix.rooms import RoomPower
from bot.core.events import Outgoing
from tests.matrix_fakes import ALICE, BOT, ROOM, FakeCore, mods_adapter


@pytest.mark.parametrize(("join_rule", "history", "private"), [
    ("invite", "shared", True), ("private", "joined", True), (None, "shared", True),
    ("knock", "joined", False), ("restricted", "invited", False),
    ("knock_restricted", "joined", False), ("public", "shared", False), ("invite", "world_readable", False),
    ("public", "world_readable", False),
])
def test_room_privacy_rule(join_rule: str | None, history: str, private: bool) -> None:
    """Also noticed in issue 12: restricted and knock rooms let people in without an invite."""
    assert room_is_private(join_rule, history) is private


def test_moderators_room_privacy_is_read_from_the_room_state() -> None:
    assert mods_adapter("invite").moderators_channel_is_private("any") is True
    assert mods_adapter("public").moderators_channel_is_private("any") is False
    assert mods_adapter("invite", "world_readable").moderators_channel_is_private("any") is False
    assert mods_adapter("restricted").moderators_channel_is_private("any") is False
    assert mods_adapter("knock").moderators_channel_is_private("any") is False
    assert mods_adapter(None).moderators_channel_is_private("any") is None  # not in the room


async def test_public_moderators_room_gets_an_error_and_one_warning(caplog) -> None:
    sent: list[tuple[str, Outgoing]] = []

    async def deliver(room_id: str, msg: Outgoing, *_: Any, **__: Any) -> None:
        sent.append((room_id, msg))

    private = mods_adapter("invite")
    private.outbound.deliver = deliver  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        assert await private.checks.check_moderators_room(ROOM) is True
    assert sent == [] and not caplog.records

    public = mods_adapter("public", "world_readable")
    public.outbound.deliver = deliver  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        assert await public.checks.check_moderators_room(ROOM) is False
    [(room_id, msg)] = sent
    assert room_id == ROOM and "visible to everyone" in msg.text and "made private" in msg.text
    assert not msg.mention_users and not msg.mention_roles
    [error] = [r.getMessage() for r in caplog.records]
    assert "not private" in error and "anyone can join" in error and "without joining" in error


def test_check_online_notices_a_moderators_room_without_moderators() -> None:
    adapter = mods_adapter("invite")
    room = adapter.client.rooms[ROOM]
    room.add_member(ALICE, "alice", None)
    adapter.rooms.power.setdefault(ROOM, RoomPower())
    adapter.rooms.power[ROOM].power_levels = {"users": {ALICE: 0, BOT: 100}}
    [problem] = adapter.checks.check_moderators(ROOM, "Mods")
    assert "nobody in Mods has power level 50" in problem
    adapter.rooms.power[ROOM].power_levels = {"users": {ALICE: 50, BOT: 100}}
    assert adapter.checks.check_moderators(ROOM, "Mods") == []


def test_check_online_asks_only_for_the_power_haven_uses() -> None:
    """Haven hides and mutes (it does not kick or ban): only redact and power levels count."""
    adapter = mods_adapter("invite")
    adapter.rooms.power[ROOM] = RoomPower(power_levels={
        "users": {BOT: 100}, "redact": 50, "kick": 200, "ban": 200,
        "events": {"m.room.power_levels": 100}})
    assert adapter.checks.check_moderated_rooms() == []
    adapter.rooms.power[ROOM].power_levels = {"users": {BOT: 40}, "redact": 50,
                                              "events": {"m.room.power_levels": 100}}
    [problem] = adapter.checks.check_moderated_rooms()
    assert "redact (needs 50)" in problem and "mute: change power levels (needs 100)" in problem
    assert "kick" not in problem and "ban" not in problem


async def test_missing_moderators_room_names_the_config_key(caplog) -> None:
    adapter = mods_adapter(None)  # Haven is not in the room
    core = FakeCore()
    adapter.attach(core)
    with caplog.at_level(logging.ERROR):
        await adapter.session.after_first_sync()
    assert core.ready  # the core's timers may start
    [error] = [r.getMessage() for r in caplog.records]
    assert "channels.moderators" in error and ROOM in error

"""bot.adapters.matrix.power: power levels computed by Haven (v12 creators, mutes)."""

from __future__ import annotations

import pytest

from bot.adapters.matrix.power import (
    CREATOR_POWER_LEVEL,
    PowerState,
    muted_power_levels,
    privileged_creators,
    unmuted_power_levels,
)
from tests.matrix_fakes import ALICE, BOT, CREATOR, MOD, PL, v12


def test_room_v12_creators_have_unlimited_power() -> None:
    state = v12(extra_creators=("@co:example.org",))
    assert state.user_level(CREATOR) == CREATOR_POWER_LEVEL
    assert state.user_level("@co:example.org") == CREATOR_POWER_LEVEL
    assert state.is_admin(CREATOR)
    assert state.can(CREATOR, "ban")
    assert state.user_level(MOD) == 50
    assert not state.is_admin(MOD)
    assert state.user_level(ALICE) == 0


def test_older_room_versions_use_the_power_levels_only() -> None:
    state = PowerState(CREATOR, {"room_version": "10", "creator": CREATOR},
                       {**PL, "users": {**PL["users"], CREATOR: 100}})
    assert state.user_level(CREATOR) == 100
    state = PowerState(CREATOR, {"room_version": "11"}, PL)
    assert state.user_level(CREATOR) == 0  # v11: creators get nothing implicit
    assert not state.is_privileged_creator(CREATOR)


def test_no_power_levels_event_gives_the_creator_100() -> None:
    state = PowerState(CREATOR, {"room_version": "10"}, None)
    assert state.user_level(CREATOR) == 100
    assert state.user_level(ALICE) == 0
    assert state.action_level("redact") == 50


@pytest.mark.parametrize(("version", "expected"), [
    ("1", False), ("11", False), ("12", True), ("13", True),
    ("org.matrix.hydra.11", True), ("", False), (None, False),
])
def test_privileged_creator_room_versions(version: str | None, expected: bool) -> None:
    assert privileged_creators(version) is expected


def test_users_default_and_string_levels() -> None:
    state = PowerState(CREATOR, {"room_version": "10"},
                       {"users": {MOD: "75"}, "users_default": 10})
    assert state.user_level(MOD) == 75
    assert state.user_level(ALICE) == 10


def test_mute_sets_the_member_below_events_default_and_unmute_restores() -> None:
    state = v12()
    content, old = muted_power_levels(state, ALICE, BOT)
    assert old is None
    assert content["users"][ALICE] == -1
    assert PL["users"].get(ALICE) is None  # the input is not changed
    restored = unmuted_power_levels(PowerState(CREATOR, {"room_version": "12"}, content), ALICE, old)
    assert ALICE not in restored["users"]
    content, old = muted_power_levels(state, MOD, BOT)
    assert old == 50
    assert unmuted_power_levels(state, MOD, 50)["users"][MOD] == 50


def test_mute_respects_message_overrides() -> None:
    state = PowerState(CREATOR, {"room_version": "12"},
                       {**PL, "users_default": 3, "events_default": 5,
                        "events": {**PL["events"], "m.reaction": 2}})
    content, _ = muted_power_levels(state, ALICE, BOT)
    assert content["users"][ALICE] == 1
    quiet = PowerState(CREATOR, {"room_version": "12"}, {**PL, "events_default": 5})
    content, _ = muted_power_levels(quiet, ALICE, BOT)
    assert ALICE not in content["users"]  # level 0 already cannot post: nothing to change


def test_cannot_mute_creators_or_equals() -> None:
    with pytest.raises(PermissionError):
        muted_power_levels(v12(), CREATOR, BOT)
    state = PowerState(CREATOR, {"room_version": "12"}, {**PL, "users": {MOD: 100, BOT: 100}})
    with pytest.raises(PermissionError):
        muted_power_levels(state, MOD, BOT)
    weak = PowerState(CREATOR, {"room_version": "12"}, {**PL, "users": {BOT: 50}})
    with pytest.raises(PermissionError):
        muted_power_levels(weak, ALICE, BOT)  # may not send m.room.power_levels (100)


def test_users_at_least() -> None:
    assert v12().users_at_least(50, [ALICE, MOD, CREATOR, BOT]) == [CREATOR, BOT, MOD]

"""Matrix power levels, computed by Haven itself.

matrix-nio's ``has_permission()`` is unreliable (matrix-nio issue 324), and in
room version 12 (Synapse's default) the room creators -- the ``m.room.create``
sender plus ``content.additional_creators`` -- have unlimited power without
being listed in ``m.room.power_levels``; nio reports them as level 0. These pure
functions work on the raw state event contents so they are easy to test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CREATOR_POWER_LEVEL = 2**53 - 1
"""The level reported for room-version-12 creators ("infinite" power)."""

ADMIN_POWER_LEVEL = 100
"""Element's "Admin"; members at or above it are reported with ``is_admin``."""

MESSAGE_EVENT_TYPES = ("m.room.message", "m.room.encrypted", "m.reaction", "m.sticker")
"""Event types a muted member must no longer be able to send."""


def privileged_creators(room_version: str | None) -> bool:
    """Whether creators have unlimited power in this room version (12 and later)."""
    if not room_version:
        return False
    if room_version.isdigit():
        return int(room_version) >= 12
    return room_version.startswith("org.matrix.hydra")


def _int(value: Any, default: int) -> int:
    """A power level value; the spec allows integers, older rooms may carry strings."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


@dataclass(frozen=True)
class PowerState:
    """The two state events power depends on, as raw contents.

    ``create_sender`` and ``create_content`` come from ``m.room.create``;
    ``power_levels`` is the content of ``m.room.power_levels`` or ``None`` when
    the room has none.
    """

    create_sender: str | None = None
    create_content: Mapping[str, Any] | None = None
    power_levels: Mapping[str, Any] | None = None

    @property
    def room_version(self) -> str:
        """The room version (``"1"`` when the create event does not say)."""
        return str((self.create_content or {}).get("room_version", "1"))

    def creators(self) -> frozenset[str]:
        """Users who created the room: the create sender plus ``additional_creators``.

        Before room version 11 ``content.creator`` names the creator.
        """
        out: set[str] = set()
        content = self.create_content or {}
        if self.create_sender:
            out.add(self.create_sender)
        if isinstance(content.get("creator"), str):
            out.add(content["creator"])
        extra = content.get("additional_creators")
        if isinstance(extra, list):
            out.update(u for u in extra if isinstance(u, str))
        return frozenset(out)

    def is_privileged_creator(self, user_id: str) -> bool:
        """Whether ``user_id`` has unlimited power (room v12+ creator)."""
        return privileged_creators(self.room_version) and user_id in self.creators()

    def user_level(self, user_id: str) -> int:
        """The power level of ``user_id`` in this room."""
        if self.is_privileged_creator(user_id):
            return CREATOR_POWER_LEVEL
        pl = self.power_levels
        if pl is None:
            # No power levels event: the creator has 100, everyone else 0.
            return ADMIN_POWER_LEVEL if user_id in self.creators() else 0
        raw_users = pl.get("users")
        users = raw_users if isinstance(raw_users, Mapping) else {}
        default = _int(pl.get("users_default"), 0)
        if user_id in users:
            return _int(users[user_id], default)
        return default

    def is_admin(self, user_id: str) -> bool:
        """Room creators (v12) and members at Admin level (100) or above."""
        return self.is_privileged_creator(user_id) or self.user_level(user_id) >= ADMIN_POWER_LEVEL

    def action_level(self, action: str) -> int:
        """Level needed for ``ban``, ``kick``, ``redact`` or ``invite``."""
        defaults = {"ban": 50, "kick": 50, "redact": 50, "invite": 0}
        pl = self.power_levels
        if pl is None:
            return defaults.get(action, 50)
        return _int(pl.get(action), defaults.get(action, 50))

    def event_level(self, event_type: str, state: bool = False) -> int:
        """Level needed to send ``event_type`` (a state event when ``state``)."""
        pl = self.power_levels
        if pl is None:
            return 0
        raw_events = pl.get("events")
        events = raw_events if isinstance(raw_events, Mapping) else {}
        if event_type in events:
            return _int(events[event_type], 0)
        return _int(pl.get("state_default" if state else "events_default"), 50 if state else 0)

    def can(self, user_id: str, action: str) -> bool:
        """Whether ``user_id`` may ``ban``/``kick``/``redact``/``invite``."""
        return self.user_level(user_id) >= self.action_level(action)

    def can_send_state(self, user_id: str, event_type: str) -> bool:
        """Whether ``user_id`` may send a state event of ``event_type``."""
        return self.user_level(user_id) >= self.event_level(event_type, state=True)

    def mute_level(self) -> int:
        """The highest level that can no longer post messages or reactions."""
        return min(self.event_level(t) for t in MESSAGE_EVENT_TYPES) - 1

    def users_at_least(self, level: int, among: Iterable[str]) -> list[str]:
        """Those of ``among`` whose level is ``level`` or more, in a stable order."""
        return sorted(u for u in set(among) if self.user_level(u) >= level)


def muted_power_levels(
    state: PowerState, user_id: str, actor: str
) -> tuple[dict[str, Any], int | None]:
    """New ``m.room.power_levels`` content muting ``user_id``, and the user's old explicit level.

    The old level is ``None`` when the user had no entry in ``users`` (so
    unmuting removes the entry again). Raises :class:`PermissionError` when
    ``actor`` may not change the user's level (the user is a creator, at or
    above the actor's level, or the actor may not send power level events).
    """
    if state.is_privileged_creator(user_id):
        raise PermissionError(f"{user_id} created the room and cannot be muted")
    actor_level = state.user_level(actor)
    if not state.can_send_state(actor, "m.room.power_levels"):
        raise PermissionError("changing power levels")
    current = state.user_level(user_id)
    if current >= actor_level and not state.is_privileged_creator(actor):
        raise PermissionError(f"{user_id} has a power level at or above the bot's")
    content = _copy(state.power_levels)
    users = dict(content.get("users") or {})
    old = users.get(user_id)
    target = state.mute_level()
    if current <= target:
        return content, _int(old, 0) if old is not None else None  # already muted
    users[user_id] = target
    content["users"] = users
    return content, _int(old, 0) if old is not None else None


def unmuted_power_levels(state: PowerState, user_id: str, old_level: int | None) -> dict[str, Any]:
    """``m.room.power_levels`` content giving ``user_id`` back ``old_level`` (``None``: default)."""
    content = _copy(state.power_levels)
    users = dict(content.get("users") or {})
    if old_level is None:
        users.pop(user_id, None)
    else:
        users[user_id] = old_level
    content["users"] = users
    return content


def _copy(content: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy deep enough for power level contents (one level of nested mappings)."""
    out: dict[str, Any] = {}
    for key, value in (content or {}).items():
        out[key] = dict(value) if isinstance(value, Mapping) else value
    return out

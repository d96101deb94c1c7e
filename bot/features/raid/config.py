"""The ``raid:`` config section: when a wave of joins turns raid mode on, and what it does.

Off by default, so a config without the section behaves as before.

JOIN (issue 10): ``bot/core/sections.py`` was not on main when this was written, so
the section is read by the hand-written :func:`parse_raid` below and
:data:`RAID_SECTION` is a stand-in. With ``sections.py`` the reader derives everything
from :class:`RaidConfig`; the swap is::

    joins: int = field(default=10, metadata=opt(between=(2, 10000)))
    within: float = field(default=60.0, metadata=opt(duration=True, positive=True))
    lasts: float = field(default=900.0, metadata=opt(duration=True, positive=True))
    slow_seconds: int = field(default=30, metadata=opt(between=(1, 21600)))
    RAID_SECTION = Section("raid", RaidConfig, check=<problems from nothing_to_do>)

and :func:`parse_raid` with its helpers goes (the messages are the reader's own).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from bot.core.durations import parse_duration
from bot.core.errors import Problem
from bot.core.yamlsrc import LineDict

JOINS_RANGE = (2, 10000)
SLOW_SECONDS_RANGE = (1, 21600)
"""Discord allows slow mode up to six hours."""


@dataclass(frozen=True)
class RaidConfig:
    """Raid mode: ``joins`` joins within ``within`` seconds start it; it ends after ``lasts``."""

    enabled: bool = False
    """Start raid mode by itself on a wave of joins (``raid on`` works either way)."""
    joins: int = 10
    within: float = 60.0
    lasts: float = 900.0
    hold_first_posts: bool = True
    """Hold newcomers' first posts for review while raid mode is on."""
    slow_channels: tuple[str, ...] = ()
    """Channels slowed while raid mode is on (where the platform can slow channels)."""
    slow_seconds: int = 30


def nothing_to_do(cfg: RaidConfig) -> str | None:
    """Why an enabled raid mode would do nothing (``None`` when it would act)."""
    if cfg.enabled and not cfg.hold_first_posts and not cfg.slow_channels:
        return "raid mode would do nothing: set hold_first_posts or slow_channels"
    return None


# -- JOIN: hand-written reader, replaced by bot/core/sections.py ----------------------


@dataclass(frozen=True)
class PendingSection:
    """Stand-in for ``bot.core.sections.Section`` until it is on main (see module doc)."""

    key: str
    type: type[RaidConfig]
    parse: Callable[[Any, str], tuple[RaidConfig, list[Problem]]]


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return convert


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError("must be longer than zero")
    return seconds


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"expected a list of names, got {value!r}")
    return tuple(_text(v) for v in value)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "enabled": _bool,
    "joins": _int(*JOINS_RANGE),
    "within": _positive_duration,
    "lasts": _positive_duration,
    "hold_first_posts": _bool,
    "slow_channels": _names,
    "slow_seconds": _int(*SLOW_SECONDS_RANGE),
}


def parse_raid(root: Any, file: str) -> tuple[RaidConfig, list[Problem]]:
    """Read the ``raid:`` section of the top-level mapping ``root``: the section and
    every problem in it, each as ``file:line: raid.key: message``."""
    problems: list[Problem] = []
    node = root.get("raid") if isinstance(root, dict) else None
    if node is None:
        return RaidConfig(), problems
    line = root.line_of("raid") if isinstance(root, LineDict) else 0
    if not isinstance(node, LineDict):
        return RaidConfig(), [Problem(file, line, "raid", "must be a mapping of settings")]
    allowed = {f.name for f in fields(RaidConfig)}
    values: dict[str, Any] = {}
    for key, value in node.items():
        where = node.line_of(key)
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.75)
            problems.append(Problem(file, where, f"raid.{key}", "unknown key" + (
                f" (did you mean {hint[0]!r}?)" if hint else "")))
        elif value is not None:
            try:
                values[key] = _CONVERT[key](value)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(file, where, f"raid.{key}", str(exc)))
    cfg = RaidConfig(**values)
    message = nothing_to_do(cfg)
    if message and not problems:
        problems.append(Problem(file, node.line_of("enabled"), "raid.enabled", message))
    return cfg, problems


RAID_SECTION = PendingSection("raid", RaidConfig, parse_raid)
"""The ``raid`` section (JOIN: becomes a ``bot.core.sections.Section``)."""

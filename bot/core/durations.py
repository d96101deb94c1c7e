"""Parse human durations (``90s``, ``10m``, ``2h``, ``1d``, ``1h30m``) and clock times."""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number (seconds) or a string like ``2h`` / ``1h30m``.

    Raises ``ValueError`` with a readable message when it cannot be parsed.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 10m or 2h, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite duration, got {value!r}")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 10m or 2h, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("empty duration")
    pos = 0
    total = 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"expected a duration like 10m, 2h or 1h30m, got {value!r}")
    return total


def parse_clock(value: object) -> int:
    """Minutes after midnight for ``HH:MM``; raises ``ValueError`` otherwise."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError(f"expected a time like 23:00, got {value!r}")
    hours, minutes = (int(x) for x in value.strip().split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a time of day: {value!r}")
    return hours * 60 + minutes


def parse_clock_range(value: str) -> tuple[int, int]:
    """``22:00-07:00`` -> (start, end) minutes after midnight (may wrap midnight)."""
    parts = value.replace(" ", "").split("-")
    if len(parts) != 2:
        raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
    return parse_clock(parts[0]), parse_clock(parts[1])


def in_clock_range(minute_of_day: int, start: int, end: int) -> bool:
    """Whether a minute of the day falls in [start, end), wrapping midnight."""
    if start == end:
        return False
    if start < end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end

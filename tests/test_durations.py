"""bot.core.durations: human durations, clock times and ranges that wrap midnight."""

from __future__ import annotations

import pytest

from bot.core.durations import in_clock_range, parse_clock, parse_clock_range, parse_duration


@pytest.mark.parametrize(("value", "seconds"), [
    ("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800),
    ("1h30m", 5400), ("1d2h3m4s", 93784), ("1.5h", 5400), ("0.5m", 30),
    (" 2 h ", 7200), ("2H", 7200), ("1h 30m", 5400), ("0s", 0),
    (45, 45.0), (0, 0.0), (2.5, 2.5),
])
def test_parse_duration(value: object, seconds: float) -> None:
    result = parse_duration(value)
    assert result == seconds
    assert isinstance(result, float)


@pytest.mark.parametrize(("value", "message"), [
    ("", "empty duration"),
    ("   ", "empty duration"),
    ("soon", "expected a duration like 10m, 2h or 1h30m"),
    ("10", "expected a duration like 10m, 2h or 1h30m"),
    ("10x", "expected a duration"),
    ("1h30", "expected a duration"),
    ("h1", "expected a duration"),
    ("-5m", "expected a duration"),
    ("5m-", "expected a duration"),
    (-1, "cannot be negative"),
    (True, "expected a duration like 10m or 2h"),
    (None, "expected a duration like 10m or 2h"),
    ([1], "expected a duration like 10m or 2h"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
])
def test_parse_duration_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize(("value", "minutes"), [
    ("00:00", 0), ("7:05", 425), ("07:05", 425), ("23:59", 1439), (" 12:30 ", 750),
])
def test_parse_clock(value: str, minutes: int) -> None:
    assert parse_clock(value) == minutes


@pytest.mark.parametrize(("value", "message"), [
    ("24:00", "not a time of day"), ("12:60", "not a time of day"),
    ("noon", "expected a time like 23:00"), ("123:00", "expected a time"),
    ("12:5", "expected a time"), ("", "expected a time"), (1380, "expected a time"),
    (None, "expected a time"),
])
def test_parse_clock_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_clock(value)


def test_parse_clock_range() -> None:
    assert parse_clock_range("22:00-07:00") == (1320, 420)
    assert parse_clock_range(" 09:00 - 17:30 ") == (540, 1050)
    for bad in ("22:00", "22:00-07:00-08:00", "late-early"):
        with pytest.raises(ValueError):
            parse_clock_range(bad)


def test_in_clock_range_same_day() -> None:
    start, end = 9 * 60, 17 * 60
    assert not in_clock_range(9 * 60 - 1, start, end)
    assert in_clock_range(9 * 60, start, end)
    assert in_clock_range(17 * 60 - 1, start, end)
    assert not in_clock_range(17 * 60, start, end)  # end is exclusive


def test_in_clock_range_wrapping_midnight() -> None:
    start, end = 22 * 60, 7 * 60
    assert in_clock_range(22 * 60, start, end)
    assert in_clock_range(23 * 60 + 59, start, end)
    assert in_clock_range(0, start, end)
    assert in_clock_range(7 * 60 - 1, start, end)
    assert not in_clock_range(7 * 60, start, end)
    assert not in_clock_range(12 * 60, start, end)
    assert not in_clock_range(22 * 60 - 1, start, end)


def test_empty_range_is_never_in() -> None:
    assert not any(in_clock_range(m, 600, 600) for m in range(0, 1440, 7))

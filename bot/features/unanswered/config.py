"""The ``unanswered:`` section: which support places are watched for replies, when
peer supporters are nudged and when moderators hear of a post nobody answered.

Support places and quiet hours have shapes of their own, so the section is read by
hand (:func:`_parse`) on top of the fields the reader derives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.durations import parse_clock, parse_clock_range
from bot.core.errors import Problem
from bot.core.events import Channel
from bot.core.sections import Section, SectionReader, as_text, opt, positive_duration
from bot.core.yamlsrc import LineDict


@dataclass(frozen=True)
class QuietHours:
    """A daily window (UTC minutes after midnight) when nudges wait."""

    start: int
    end: int


@dataclass(frozen=True)
class SupportPlace:
    """A channel, forum or room whose posts are watched for replies."""

    channel: str
    remind_after: float
    escalate_after: float


@dataclass(frozen=True)
class UnansweredConfig:
    """Unanswered-post watch."""

    enabled: bool = True
    remind_after: float = field(default=2 * 3600.0, metadata=opt(duration=True, positive=True))
    escalate_after: float = field(default=12 * 3600.0, metadata=opt(duration=True, positive=True))
    count_next_message: bool = False
    excerpt_chars: int = field(default=120, metadata=opt(between=(0, 1000)))
    quiet_hours: QuietHours | None = field(default=None, metadata=opt(manual=True))
    places: tuple[SupportPlace, ...] = field(default=(), metadata=opt(manual=True))
    waiting_tag: str | None = field(default=None, metadata=opt(hidden=True))
    """Read from ``forum_tags: {waiting: ...}``."""
    answered_tag: str | None = field(default=None, metadata=opt(hidden=True))
    """Read from ``forum_tags: {answered: ...}``."""

    def support_place(self, channel: Channel) -> SupportPlace | None:
        """The support place covering ``channel`` (or its parent), if any."""
        names = channel.names()
        for place in self.places:
            if place.channel in names:
                return place
        return None

    def is_support_place(self, channel: Channel) -> bool:
        """Whether posts in ``channel`` are watched for replies."""
        return self.enabled and self.support_place(channel) is not None


RANGE_HINT = "(write 23:00-07:00, or start: and end: in UTC)"


def _quiet_hours(s: SectionReader) -> QuietHours | None:
    """``quiet_hours: 23:00-07:00`` or ``{start: '23:00', end: '07:00'}`` (UTC)."""
    node, r = s.node, s.reader
    value = node.get("quiet_hours")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            start, end = parse_clock_range(value)
            if start == end:
                raise ValueError("start and end must differ")
            return QuietHours(start, end)
        except ValueError as exc:
            r.problem(node, "quiet_hours", "unanswered.quiet_hours", f"{exc} {RANGE_HINT}")
            return None
    if not isinstance(value, LineDict):
        r.problem(node, "quiet_hours", "unanswered.quiet_hours",
                  "must be start: and end: times (HH:MM, UTC), or like 23:00-07:00")
        return None
    q = r.mapping(node, "quiet_hours", {"start", "end"}, "unanswered.")
    start = r.get(q, "start", "unanswered.quiet_hours", None, parse_clock)
    end = r.get(q, "end", "unanswered.quiet_hours", None, parse_clock)
    for key in ("start", "end"):
        if q.get(key) is None:
            r.problem(q, key, f"unanswered.quiet_hours.{key}",
                      "required: quiet hours need both start and end (HH:MM, UTC)")
    if start is None or end is None:
        return None
    if start == end:
        r.problem(q, "end", "unanswered.quiet_hours.end",
                  "must differ from start (remove quiet_hours to disable them)")
        return None
    return QuietHours(start, end)


def _place(s: SectionReader, item: Any, i: int, line: int, remind: float,
           escalate: float) -> SupportPlace | None:
    """Support place ``i``: a name or id, or ``{channel:, remind_after:, escalate_after:}``
    (the times default to the section's)."""
    r, path = s.reader, f"unanswered.places[{i}]"
    if isinstance(item, str | int) and not isinstance(item, bool):
        try:
            return SupportPlace(as_text(item), remind, escalate)
        except ValueError as exc:
            r.problems.append(Problem(r.file, line, path, str(exc)))
            return None
    if not isinstance(item, LineDict) or item.get("channel") is None:
        r.problems.append(Problem(r.file, line, path, "each place needs a channel"))
        return None
    r.unknown(item, {"channel", "remind_after", "escalate_after"}, path)
    p_remind = r.get(item, "remind_after", path, remind, positive_duration)
    p_escalate = r.get(item, "escalate_after", path, escalate, positive_duration)
    inherited = [f"unanswered.{k}" for k in ("remind_after", "escalate_after") if k not in item]
    if p_escalate <= p_remind and not r.failed(f"{path}.remind_after", f"{path}.escalate_after",
                                               *inherited):
        r.problem(item, "escalate_after", f"{path}.escalate_after",
                  "must be later than remind_after")
    return SupportPlace(r.get(item, "channel", path, "", as_text), p_remind, p_escalate)


def _parse(s: SectionReader) -> UnansweredConfig:
    values = s.fields()
    node, r = s.node, s.reader
    remind, escalate = values["remind_after"], values["escalate_after"]
    quiet = _quiet_hours(s)
    places: list[SupportPlace] = []
    raw_places = node.get("places") or []
    if not isinstance(raw_places, list):
        r.problem(node, "places", "unanswered.places", "must be a list of {channel: ...}")
        raw_places = []
    for i, item in enumerate(raw_places):
        line = raw_places.line_of(i) if hasattr(raw_places, "line_of") else node.line
        place = _place(s, item, i, line, remind, escalate)
        if place is not None:
            places.append(place)
    if escalate <= remind and not r.failed("unanswered.remind_after", "unanswered.escalate_after"):
        r.problem(node, "escalate_after", "unanswered.escalate_after",
                  "must be later than remind_after")
    waiting_tag = answered_tag = None
    if node.get("forum_tags") is not None:
        ft = r.mapping(node, "forum_tags", {"waiting", "answered"}, "unanswered.")
        waiting_tag = r.get(ft, "waiting", "unanswered.forum_tags", None, as_text)
        answered_tag = r.get(ft, "answered", "unanswered.forum_tags", None, as_text)
    return UnansweredConfig(**values, quiet_hours=quiet, places=tuple(places),
                            waiting_tag=waiting_tag, answered_tag=answered_tag)


UNANSWERED_SECTION = Section("unanswered", UnansweredConfig, parse=_parse,
                             extra_keys=frozenset({"forum_tags"}))

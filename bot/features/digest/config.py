"""The ``digest:`` section: when the review digest is sent and what it collects."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.durations import parse_clock
from bot.core.events import FLAG_KINDS
from bot.core.sections import Section, SectionReader, opt

FIRST_POST = "first_post"
"""The digest's own kind: a newcomer's first post still without a reply."""
DIGEST_KINDS: tuple[str, ...] = (*FLAG_KINDS, FIRST_POST)
"""Every kind the digest can list."""


@dataclass(frozen=True)
class DigestConfig:
    """The twice-daily review digest."""

    enabled: bool = True
    times: tuple[int, ...] = field(default=(9 * 60, 21 * 60), metadata=opt(manual=True))
    """When it is sent: minutes after midnight in ``community.timezone`` (``HH:MM``)."""
    max_items: int = field(default=25, metadata=opt(between=(1, 100)))
    """Items per message (more go in a second message)."""
    first_posts_after: float = field(default=2 * 3600.0,
                                     metadata=opt(duration=True, positive=True))
    """A newcomer's first post still without a reply after this long is listed."""
    kinds: tuple[str, ...] = field(default=DIGEST_KINDS, metadata=opt(manual=True))
    """Which kinds are collected."""


def _parse(s: SectionReader) -> DigestConfig:
    values = s.fields()
    node, r = s.node, s.reader
    times: list[int] = []
    raw = node.get("times", ["09:00", "21:00"])
    if not isinstance(raw, list) or not raw:
        r.problem(node, "times", "digest.times", "must be a list of times like [\"09:00\", \"21:00\"]")
        raw = []
    for value in raw:
        try:
            minute = parse_clock(value)
        except ValueError as exc:
            r.problem(node, "times", "digest.times", f"{exc} (write HH:MM, community time)")
            continue
        if minute not in times:
            times.append(minute)
    kinds: list[str] = []
    raw_kinds = node.get("kinds", list(DIGEST_KINDS))
    if isinstance(raw_kinds, str):
        raw_kinds = [raw_kinds]
    if not isinstance(raw_kinds, list):
        r.problem(node, "kinds", "digest.kinds", f"must be a list of: {', '.join(DIGEST_KINDS)}")
        raw_kinds = []
    for kind in raw_kinds:
        if kind not in DIGEST_KINDS:
            r.problem(node, "kinds", "digest.kinds",
                      f"unknown kind {kind!r} (use: {', '.join(DIGEST_KINDS)})")
        elif kind not in kinds:
            kinds.append(kind)
    return DigestConfig(**values, times=tuple(sorted(times)) or (9 * 60, 21 * 60),
                        kinds=tuple(kinds))


DIGEST_SECTION = Section("digest", DigestConfig, parse=_parse)

"""The ``care:`` section: how Haven looks after its moderators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.core.sections import Section, opt

Exposure = Literal["on", "spoiler", "off"]
"""How much of a post's text an alert shows: plainly, behind a spoiler, or not at all."""


@dataclass(frozen=True)
class CareConfig:
    """Exposure, load awareness, break notes and the after-care prompt."""

    enabled: bool = True
    excerpts: Exposure = "on"
    """The community default for alert excerpts; each moderator may choose their own."""
    break_after: int = field(default=3, metadata=opt(between=(1, 1000)))
    """Crisis alerts one moderator handles within ``break_window`` before a break note."""
    break_window: float = field(default=12 * 3600.0, metadata=opt(duration=True, positive=True))
    long_duty: float = field(default=8 * 3600.0, metadata=opt(duration=True, positive=True))
    """Unbroken time on duty before a break note."""
    night_starts: int = field(default=22 * 60, metadata=opt(clock=True))
    night_ends: int = field(default=7 * 60, metadata=opt(clock=True))
    """Alerts handled between these times (community time) count as at night."""
    after_crisis: bool = True
    """After resolving a crisis alert, a private word of thanks and where to find support."""
    resources: tuple[str, ...] = ()
    """The community's own support for moderators (one line each: a peer group, a contact)."""


CARE_SECTION = Section("care", CareConfig)

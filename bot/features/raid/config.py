"""The ``raid:`` section: when a wave of joins turns raid mode on, and what it does.

Off by default, so a config without the section behaves as before. The keys and
their conversions come from :class:`RaidConfig` (see :mod:`bot.core.sections`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.errors import Problem
from bot.core.sections import Checks, Section, opt


@dataclass(frozen=True)
class RaidConfig:
    """Raid mode: ``joins`` joins within ``within`` seconds start it; it ends after ``lasts``."""

    enabled: bool = False
    """Start raid mode by itself on a wave of joins (``raid on`` works either way)."""
    joins: int = field(default=10, metadata=opt(between=(2, 10000)))
    within: float = field(default=60.0, metadata=opt(duration=True, positive=True))
    lasts: float = field(default=900.0, metadata=opt(duration=True, positive=True))
    hold_first_posts: bool = True
    """Hold newcomers' first posts for review while raid mode is on."""
    slow_channels: tuple[str, ...] = ()
    """Channels slowed while raid mode is on (where the platform can slow channels)."""
    slow_seconds: int = field(default=30, metadata=opt(between=(1, 21600)))
    """One post per member every this many seconds (Discord allows up to six hours)."""


def nothing_to_do(cfg: RaidConfig) -> str | None:
    """Why an enabled raid mode would do nothing (``None`` when it would act)."""
    if cfg.enabled and not cfg.hold_first_posts and not cfg.slow_channels:
        return "raid mode would do nothing: set hold_first_posts or slow_channels"
    return None


def _check(cfg: RaidConfig, checks: Checks) -> list[Problem]:
    """Refuse a raid mode that is enabled but would neither hold posts nor slow channels."""
    message = nothing_to_do(cfg)
    if message is None or checks.failed("raid.enabled", "raid.hold_first_posts",
                                        "raid.slow_channels"):
        return []
    return [checks.problem("raid.enabled", message)]


RAID_SECTION = Section("raid", RaidConfig, check=_check)
"""The ``raid`` section of ``config.yaml``."""

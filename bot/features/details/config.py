"""The ``details:`` section: when identifying details adding up across posts are noted."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.events import Channel
from bot.core.sections import Section, opt


@dataclass(frozen=True)
class DetailsConfig:
    """Identifying details across posts."""

    enabled: bool = True
    window: float = field(default=30 * 86400.0, metadata=opt(duration=True, positive=True))
    """How far back a member's posts are looked at together (and rows are kept)."""
    kinds: int = field(default=3, metadata=opt(between=(2, 7)))
    """How many different kinds of detail within ``window`` make Haven send its note."""
    ignore_channels: tuple[str, ...] = ()
    """Channels (or their parents) whose posts are not looked at (introductions, say)."""

    def ignores(self, channel: Channel) -> bool:
        """Whether posts in ``channel`` are left alone."""
        names = channel.names()
        return any(c in names for c in self.ignore_channels)


DETAILS_SECTION = Section("details", DetailsConfig)

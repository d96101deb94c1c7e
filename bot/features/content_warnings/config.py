"""The ``content_warnings:`` section: channels whose posts need a content warning."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import Problem
from bot.core.events import Channel
from bot.core.sections import Checks, Section


@dataclass(frozen=True)
class ContentWarningsConfig:
    """Content-warning channels."""

    labels: tuple[str, ...] = ("CW:", "TW:")
    channels: tuple[str, ...] = ()
    redirect_to: str | None = None
    repost: bool = False
    exempt: tuple[str, ...] = ()
    """Channels whose posts are never redirected (in a config file, by default: the
    unanswered support places; see bot.app)."""

    def is_cw_channel(self, channel: Channel) -> bool:
        """Whether ``channel`` (or its parent) requires content warnings."""
        names = channel.names()
        return any(c in names for c in self.channels)

    def is_exempt(self, channel: Channel) -> bool:
        """Whether sensitive posts in ``channel`` (or its parent) stay where they are."""
        names = channel.names()
        return any(c in names for c in self.exempt)


def _check(cw: ContentWarningsConfig, checks: Checks) -> list[Problem]:
    """Reposting needs somewhere to repost to."""
    if cw.repost and not cw.redirect_to and not checks.failed("content_warnings.redirect_to"):
        return [checks.problem("content_warnings.repost", "repost needs redirect_to")]
    return []


CONTENT_WARNINGS_SECTION = Section("content_warnings", ContentWarningsConfig, check=_check)

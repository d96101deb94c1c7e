"""How a feature uses a sibling: small protocols, so no feature imports another.

A feature names the siblings it needs in its spec (``needs``) and receives them
through :meth:`bot.core.feature.Siblings.get` as one of these protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.core.events import Channel, MessagePosted
from bot.rules.engine import Rulebook
from bot.rules.model import Match


@runtime_checkable
class AlertRaiser(Protocol):
    """The alerts feature, as moderation uses it: store first, then send."""

    async def record(self, ev: MessagePosted, match: Match, kind: str, urgency: str = "now",
                     **extra: bool | int | None) -> tuple[int, int | None]:
        """Store an alert and its durable delivery job; returns (alert id, job id)."""
        ...

    async def send_recorded(self, job_id: int | None, **extra: bool | int | None) -> None:
        """Send a recorded alert now (the job stays as the retry if sending fails)."""
        ...

    async def signpost(self, ev: MessagePosted, topic: str, privately: bool | None,
                       rule: Match | None = None) -> None:
        """Send the member helplines for ``topic``."""
        ...


@runtime_checkable
class CaseKeeper(Protocol):
    """The moderation feature, as other protections use it."""

    async def hold_post(self, ev: MessagePosted, *, rule: str, explain: str,
                        private_text: str) -> int | None:
        """Keep a post for review: a case with its text first, then hide it and send the
        author ``private_text`` (which gives them their text back); the case number (in
        the community), ``None`` if the post could not be hidden."""
        ...


@runtime_checkable
class MemberDirectory(Protocol):
    """The members feature: who is new here."""

    async def is_newcomer(self, ev: MessagePosted) -> bool:
        """Whether the author is new (welcomed by Haven, or joined recently)."""
        ...


@runtime_checkable
class WarningLabels(Protocol):
    """The content-warnings feature, as unanswered tracking uses it."""

    def has_warning(self, ev: MessagePosted) -> bool:
        """Whether the post starts with a content-warning label."""
        ...

    def in_warning_channel(self, channel: Channel) -> bool:
        """Whether ``channel`` is a content-warning channel."""
        ...


@runtime_checkable
class RulesHolder(Protocol):
    """The rulebook in force (the ruleset commands reload it)."""

    def current(self) -> Rulebook:
        """The rulebook now in force."""
        ...

    def replace(self, rulebook: Rulebook) -> None:
        """Put ``rulebook`` in force."""
        ...


@runtime_checkable
class ExcerptPolicy(Protocol):
    """The care feature, as alerts use it: how much of a post's text to show."""

    async def excerpt_mode(self, community_id: str, user_ids: Sequence[str]) -> str:
        """``on``, ``spoiler`` or ``off`` for an alert that mentions ``user_ids``: the most
        protective choice among them, else the community default."""
        ...


@dataclass(frozen=True)
class ModeratorLoad:
    """What one moderator handled: alerts claimed and resolved, crisis alerts, and those
    handled at night (community time), over the last 24 hours and 7 days."""

    user_id: str
    claimed: tuple[int, int]
    resolved: tuple[int, int]
    crisis: tuple[int, int]
    night: tuple[int, int]


@runtime_checkable
class TeamLoad(Protocol):
    """The care feature, as stats uses it."""

    async def load(self, community_id: str) -> list[ModeratorLoad]:
        """Per moderator, busiest first."""
        ...


@dataclass(frozen=True)
class HealthReport:
    """The stats feature's figures for the last ``days`` days, formatted to be shown."""

    days: int
    figures: Mapping[str, str]
    """By name: ``posts``, ``answered``, ``within_2h``, ``within_24h`` (shares of posts),
    ``median_reply``, ``p90_reply``, ``median_claim`` (durations), ``alerts_opened``,
    ``alerts_resolved``, ``readers``, ``posters``, ``repliers``."""
    per_moderator: tuple[tuple[str, int], ...] = ()
    """(display name, alerts claimed), most first."""
    load: tuple[tuple[str, ModeratorLoad], ...] = ()
    """(display name, load) per moderator, busiest first (with the care feature)."""


@runtime_checkable
class HealthFigures(Protocol):
    """The stats feature, as the dashboard's Health page uses it."""

    async def health(self, community_id: str, days: int) -> HealthReport:
        """The figures for the last ``days`` days (1 to 365)."""
        ...

    async def health_chart(self, community_id: str, days: int, *, tall: bool = False
                           ) -> bytes:
        """The stats chart as SVG (``tall``: one column of panels, for a phone)."""
        ...

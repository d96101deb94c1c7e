"""How a feature uses a sibling: small protocols, so no feature imports another.

A feature names the siblings it needs in its spec (``needs``) and receives them
through :meth:`bot.core.feature.Siblings.get` as one of these protocols.
"""

from __future__ import annotations

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
                        template: str) -> int | None:
        """Keep a post for review: a case with its text first, then hide it and send the
        author their text (template ``template``); the case id, ``None`` if not hidden."""
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

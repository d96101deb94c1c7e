"""Neutral events and references shared by the core and every adapter.

Adapters turn platform events into these; the core never sees a discord.py or
matrix-nio object. All ids are strings. Timestamps are epoch seconds (UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SURROGATE = re.compile("[\ud800-\udfff\x00]")


def clean_text(text: str) -> str:
    """``text`` that can be stored and sent: lone UTF-16 surrogates and NUL become U+FFFD.

    A JSON ``"\\ud800"`` escape (legal in a Matrix event) decodes to a lone
    surrogate, which UTF-8 cannot encode: SQLite, the regex engine and every
    platform would refuse the text, and the message would go unchecked. PostgreSQL's
    text cannot hold U+0000 at all.
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


@dataclass(frozen=True)
class Member:
    """A person (or bot) as the core sees them.

    ``roles`` holds role ids *and* role names (Discord) so config may name
    either. ``power_level`` is the Matrix power level in the room, ``None``
    elsewhere. ``is_admin`` is true for server owners / administrators and
    Matrix room creators.
    """

    id: str
    name: str
    is_bot: bool = False
    roles: frozenset[str] = frozenset()
    power_level: int | None = None
    is_admin: bool = False
    joined_at: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, str):
            object.__setattr__(self, "name", clean_text(self.name))


@dataclass(frozen=True)
class Channel:
    """A place messages are posted: a text channel, forum, thread or Matrix room.

    ``parent_id``/``parent_name`` name the channel a thread or forum post lives
    in, so config written for a channel also covers its threads.
    """

    id: str
    name: str
    kind: str = "text"  # text | forum | thread | room | dm
    parent_id: str | None = None
    parent_name: str | None = None

    def names(self) -> set[str]:
        """Every id and name this channel can be referred to by in config."""
        out = {self.id, self.name, f"#{self.name}"}
        if self.parent_id:
            out.add(self.parent_id)
        if self.parent_name:
            out |= {self.parent_name, f"#{self.parent_name}"}
        return out


@dataclass(frozen=True)
class MessageRef:
    """Where a message lives; enough for any adapter to find it again."""

    community_id: str
    channel_id: str
    message_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class Event:
    """Base of every neutral event."""

    community_id: str
    at: float


@dataclass(frozen=True)
class MemberJoined(Event):
    """A member joined the community (server or space/room)."""

    member: Member
    channel: Channel | None = None  # Matrix: the room joined


@dataclass(frozen=True)
class AutomodActed(Event):
    """The platform's own automod acted on a member (Discord AutoMod).

    Recorded as a case so native blocks appear in ``history``; the matched keyword
    is kept as the reason, never the message text.
    """

    user_id: str
    action: str
    rule: str
    keyword: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class MessagePosted(Event):
    """A new message, or (``edited=True``) a new version of an existing one.

    ``reply_to`` is the id of the message this replies to; ``thread_root`` the
    id of the thread's first message (or the forum post) when it is in a thread.
    ``spoilered`` is true when the whole visible text is inside spoilers.
    ``link`` is a URL a moderator can open.
    """

    channel: Channel
    author: Member
    message: MessageRef
    text: str
    link: str = ""
    reply_to: str | None = None
    thread_root: str | None = None
    spoilered: bool = False
    edited: bool = False
    attachments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.text, str):
            object.__setattr__(self, "text", clean_text(self.text))


@dataclass(frozen=True)
class MessageDeleted(Event):
    """A message was deleted (by anyone)."""

    channel: Channel
    message: MessageRef
    by_author: bool = True


@dataclass(frozen=True)
class CommandInvoked(Event):
    """A member ran a Haven command (slash command or ``!haven ...``).

    ``args`` holds positional words; ``options`` named options (slash commands).
    ``delivery_id`` is the platform's id of this invocation (Discord interaction
    id, Matrix event id): the core acts once per id, however often it is delivered.
    """

    channel: Channel
    invoker: Member
    name: str
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    message: MessageRef | None = None
    delivery_id: str | None = None


@dataclass(frozen=True)
class ButtonPressed(Event):
    """A moderator pressed a button on an alert (``claim`` or ``resolve``; ``alert_id`` is
    the alert's number in the community)."""

    channel: Channel
    member: Member
    action: str
    alert_id: int
    delivery_id: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file to attach to an outgoing message (a chart, for example)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Outgoing:
    """A message the core wants sent.

    ``text`` is plain Markdown-ish text (bold with ``**``). Mentions are by id:
    adapters render them and allow exactly these to ping. ``spoiler`` wraps
    ``spoiler_text`` in a spoiler labelled with that reason. ``alert_id`` (the alert's
    number in the community) asks the adapter to add Claim/Resolve buttons (or command
    hints); a press comes back as ``ButtonPressed(alert_id=number)``.
    """

    text: str
    mention_users: tuple[str, ...] = ()
    mention_roles: tuple[str, ...] = ()
    spoiler: str | None = None
    spoiler_text: str = ""
    alert_id: int | None = None
    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[tuple[str, int], ...] = ()
    """More buttons, as (action, number), where the platform has them (``Capability.BUTTONS``):
    a press comes back as ``ButtonPressed(action=..., alert_id=number)``."""
    ephemeral: bool = False
    dedupe_key: str | None = None
    """Set by the core for durable sends (jobs, the outbox): the same key on a send repeated
    after a crash. Adapters may pass it as the Matrix transaction id or the Discord
    ``nonce`` (with ``enforce_nonce``) so the platform shows the message once."""


@dataclass(frozen=True)
class CommandResult:
    """What a command answers: shown to the invoker (ephemerally where possible)."""

    text: str
    ephemeral: bool = True
    ok: bool = True
    attachments: tuple[Attachment, ...] = ()


# -- what features tell each other (published through the core, handled in order) ------


@dataclass(frozen=True)
class AlertClaimed(Event):
    """A moderator claimed an alert (``alert_id``: its id; ``number``: its number in the
    community, what moderators see)."""

    alert_id: int
    kind: str
    by: str
    number: int = 0


@dataclass(frozen=True)
class AlertResolved(Event):
    """A moderator resolved an alert (``alert_id``: its id; ``number``: its number in the
    community, what moderators see)."""

    alert_id: int
    kind: str
    by: str
    urgency: str = "now"
    number: int = 0


@dataclass(frozen=True)
class DutyChanged(Event):
    """A moderator went on or off duty."""

    user_id: str
    name: str
    on: bool


FLAG_KINDS = ("checkin", "pii", "cw_redirect", "shadow", "report", "details")
"""What the review digest collects: quiet check-in notes, personal-detail nudges,
content-warning redirects, shadow-mode matches, posts members reported, and identifying
details adding up across posts."""


@dataclass(frozen=True)
class Flagged(Event):
    """Something moderators should see at the next review, though it did not alert.

    Never carries the post's text: a summary (rule id, category, kind of detail) and a
    link. ``key`` makes it idempotent (a post handled again flags nothing new).
    """

    kind: str
    key: str
    member_id: str
    member_name: str
    channel_name: str
    link: str
    summary: str

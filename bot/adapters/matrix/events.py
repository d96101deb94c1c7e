"""Matrix events (raw dicts, as in a sync response) to Haven's neutral events.

Pure translation, so it is unit-tested without a homeserver: the adapter gives
a :class:`RoomContext` that knows how to build :class:`~bot.core.events.Member` and
:class:`~bot.core.events.Channel` objects (power levels, names) and what it has seen
before (the author and thread of an earlier message, for edits and redactions).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.adapters.matrix.format import message_text
from bot.core.events import (
    Channel,
    Event,
    Member,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    MessageRef,
)

TEXT_TYPES = ("m.text", "m.notice", "m.emote")
MEDIA_TYPES = ("m.image", "m.file", "m.video", "m.audio")
STICKER = "m.sticker"
"""Stickers are their own event type; their ``body`` describes them (member text)."""

_FILENAME = re.compile(r"^[^\n]*\.[A-Za-z0-9]{2,5}$")
"""A ``body`` that is only a file name (media without a caption)."""


class RoomContext(Protocol):
    """What translation needs from the adapter."""

    community_id: str
    user_id: str
    """The bot's own user id (its events are ignored)."""

    def channel(self, room_id: str) -> Channel:
        """The neutral channel for a room."""
        ...

    def member(self, room_id: str, user_id: str, joined_at: float | None = None) -> Member:
        """The neutral member (with power level) for a user in a room."""
        ...

    def link(self, room_id: str, event_id: str) -> str:
        """A matrix.to link to an event."""
        ...


@dataclass
class Seen:
    """What Haven remembers about a message it has seen (ids only, never text)."""

    sender: str
    thread_root: str | None = None
    edits: list[str] = field(default_factory=list)


class SeenEvents:
    """A bounded memory of recent messages: author, thread and edit event ids."""

    def __init__(self, limit: int = 10000) -> None:
        self.limit = limit
        self._items: OrderedDict[str, Seen] = OrderedDict()

    def add(self, event_id: str, seen: Seen) -> None:
        """Remember a message."""
        self._items[event_id] = seen
        self._items.move_to_end(event_id)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, event_id: str) -> Seen | None:
        """What we know about a message, if anything."""
        return self._items.get(event_id)


def relation(content: dict[str, Any]) -> dict[str, Any]:
    """``content["m.relates_to"]`` as a dict (empty when absent or malformed)."""
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def thread_and_reply(content: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(thread_root, reply_to)`` of a message content.

    In a thread, ``m.in_reply_to`` with ``is_falling_back: true`` is only a
    fallback for clients without threads, not a real reply.
    """
    rel = relation(content)
    in_reply = rel.get("m.in_reply_to")
    reply_to = in_reply.get("event_id") if isinstance(in_reply, dict) else None
    if rel.get("rel_type") == "m.thread" and isinstance(rel.get("event_id"), str):
        if rel.get("is_falling_back"):
            reply_to = None
        return rel["event_id"], reply_to if isinstance(reply_to, str) else None
    return None, reply_to if isinstance(reply_to, str) else None


def translate(raw: dict[str, Any], room_id: str, ctx: RoomContext, seen: SeenEvents) -> Event | None:
    """The neutral event for one timeline event, or ``None`` if Haven does not care.

    The bot's own events are ignored. Edits (``m.replace``) become
    ``MessagePosted(edited=True)`` carrying the new text and the *original*
    event id; redactions become ``MessageDeleted``; joins ``MemberJoined``.
    Reactions give nothing (no feature uses them).
    """
    etype = raw.get("type")
    sender = raw.get("sender")
    event_id = raw.get("event_id")
    content = raw.get("content")
    if not isinstance(sender, str) or not isinstance(event_id, str) or not isinstance(content, dict):
        return None
    ts = raw.get("origin_server_ts")
    at = float(ts) / 1000.0 if isinstance(ts, int | float) and not isinstance(ts, bool) else 0.0
    community = ctx.community_id

    if etype == "m.room.member":
        return _membership(raw, room_id, ctx, at)
    if sender == ctx.user_id:
        return None

    if etype in ("m.room.message", STICKER):
        return _message(raw, room_id, ctx, seen, at)

    if etype == "m.room.redaction":
        redacts = raw.get("redacts") or content.get("redacts")
        if not isinstance(redacts, str):
            return None
        known = seen.get(redacts)
        return MessageDeleted(
            community, at, ctx.channel(room_id),
            MessageRef(community, room_id, redacts, known.thread_root if known else None),
            by_author=known is None or known.sender == sender,
        )

    return None


def _membership(raw: dict[str, Any], room_id: str, ctx: RoomContext, at: float) -> Event | None:
    content = raw["content"]
    target = raw.get("state_key")
    if content.get("membership") != "join" or not isinstance(target, str) or target == ctx.user_id:
        return None
    raw_unsigned = raw.get("unsigned")
    unsigned = raw_unsigned if isinstance(raw_unsigned, dict) else {}
    raw_prev = unsigned.get("prev_content")
    prev = raw_prev if isinstance(raw_prev, dict) else {}
    if prev.get("membership") == "join":
        return None  # a display name or avatar change, not a join
    channel = ctx.channel(room_id)
    if channel.kind == "dm":
        return None  # joining a private chat with the bot is not joining the community
    return MemberJoined(ctx.community_id, at, ctx.member(room_id, target, joined_at=at), channel)


def _message(
    raw: dict[str, Any], room_id: str, ctx: RoomContext, seen: SeenEvents, at: float
) -> MessagePosted | None:
    content = raw["content"]
    sender, event_id = raw["sender"], raw["event_id"]
    community = ctx.community_id
    rel = relation(content)
    if rel.get("rel_type") == "m.replace" and isinstance(rel.get("event_id"), str):
        original = rel["event_id"]
        new = content.get("m.new_content")
        if not isinstance(new, dict):
            return None
        known = seen.get(original)
        if known is not None:
            if known.sender != sender:
                return None  # only the author can edit; ignore forged edits
            known.edits.append(event_id)
        edited = member_text(new) or ("", False, ())
        thread_root = known.thread_root if known else None
        return MessagePosted(
            community, at, ctx.channel(room_id), ctx.member(room_id, sender),
            MessageRef(community, room_id, original, thread_root),
            text=edited[0], link=ctx.link(room_id, original), thread_root=thread_root,
            spoilered=edited[1], edited=True,
        )

    thread_root, reply_to = thread_and_reply(content)
    seen.add(event_id, Seen(sender, thread_root))
    read = member_text(content, sticker=raw.get("type") == STICKER)
    if read is None:
        return None
    text, spoilered, attachments = read
    author = ctx.member(room_id, sender)
    return MessagePosted(
        community, at, ctx.channel(room_id), author,
        MessageRef(community, room_id, event_id, thread_root),
        text=text, link=ctx.link(room_id, event_id), reply_to=reply_to,
        thread_root=thread_root, spoilered=spoilered, attachments=attachments,
    )


def member_text(content: dict[str, Any], sticker: bool = False
                ) -> tuple[str, bool, tuple[str, ...]] | None:
    """``(text, spoilered, attachment urls)`` a member wrote in a message content.

    Read like text: ``m.text``, ``m.notice``, ``m.emote``; the caption of an
    image, file, video or audio message (its ``body`` when a separate
    ``filename`` is given, or a ``body`` that is not just a file name); a
    sticker's description; and any other message type with a string ``body``.
    ``None`` when there is nothing to read (no string body, no attachment).
    """
    msgtype = content.get("msgtype")
    body = content.get("body")
    body = body if isinstance(body, str) else None
    url = content.get("url")
    file = content.get("file")
    if not isinstance(url, str) and isinstance(file, dict):
        url = file.get("url")
    attachments = (url,) if isinstance(url, str) and url else ()
    if msgtype in MEDIA_TYPES or sticker:
        filename = content.get("filename")
        if sticker:
            caption = body or ""
        elif isinstance(filename, str) and filename:
            caption = body if body and body != filename else ""
        else:
            caption = body if body and not _FILENAME.match(body.strip()) else ""
        if not caption:
            return "", False, attachments
        incoming = message_text(content)
        return incoming.text, incoming.spoilered, attachments
    if msgtype in TEXT_TYPES or body is not None:
        incoming = message_text(content)
        return incoming.text, incoming.spoilered, attachments
    return None


def source_of(event: Any) -> dict[str, Any]:
    """The raw dict of a nio event (with id, sender and time filled in after decryption)."""
    source = dict(getattr(event, "source", None) or {})
    for key, attr in (("event_id", "event_id"), ("sender", "sender"),
                      ("origin_server_ts", "server_timestamp"), ("content", "content")):
        if key not in source and getattr(event, attr, None) is not None:
            source[key] = getattr(event, attr)
    return source


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (payload fields can be anything)."""
    return value if isinstance(value, dict) else {}


def short(value: Any) -> str:
    """An id or type for a log line: a string, cut short (never message text)."""
    return value[:80] if isinstance(value, str) else type(value).__name__

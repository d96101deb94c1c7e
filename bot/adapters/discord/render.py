"""Discord text: splitting long messages, spoilers and content warnings, embeds, links.

Everything here is pure (no client, no I/O): what a member wrote is read out of a
:class:`discord.Message`, and what Haven sends is cut into pieces Discord accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import discord

MESSAGE_LIMIT = 2000
"""Discord's maximum message length in characters."""
LINK = "https://discord.com/channels/{}/{}/{}"

_SPOILERED_RE = re.compile(r"^(?:\s*\|\|(?:(?!\|\|)[\s\S])+\|\|)+\s*$")
_CW_LABEL_RE = re.compile(r"^\s*[A-Za-z]{2,3}\s*:")


def message_link(guild_id: int | str, channel_id: int | str, message_id: int | str) -> str:
    """``https://discord.com/channels/<guild>/<channel>/<message>``."""
    return LINK.format(guild_id, channel_id, message_id)


def is_spoilered(text: str, attachments: Iterable[discord.Attachment] = ()) -> bool:
    """Whether everything visible is hidden: the text wholly in ``||spoilers||``
    (and every attachment marked spoiler), or no text and only spoiler attachments."""
    files = list(attachments)
    if text.strip():
        return bool(_SPOILERED_RE.match(text)) and all(a.is_spoiler() for a in files)
    return bool(files) and all(a.is_spoiler() for a in files)


def escape_spoiler(text: str) -> str:
    """Make ``text`` safe inside ``||...||`` (a ``||`` inside would end the spoiler)."""
    return text.replace("||", "|\u200b|")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at line or word breaks.

    A code block (```) cut in two is closed at the end of one piece and reopened
    at the start of the next, so both render as code.
    """
    if len(text) <= limit:
        return [text]
    fenced = "```" in text
    room = limit - 8 if fenced else limit  # space to close and reopen a fence
    out: list[str] = []
    rest = text
    while len(rest) > room:
        cut = rest.rfind("\n", 0, room + 1)
        if cut < room // 2:
            cut = rest.rfind(" ", 0, room + 1)
        if cut < room // 2:
            cut = room
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ") if cut < len(rest) else ""
    if rest:
        out.append(rest)
    parts = [x for x in out if x] or [""]
    if fenced:
        open_fence = False
        for i, part in enumerate(parts):
            if open_fence:
                part = "```\n" + part
            if part.count("```") % 2 == 1:
                part += "\n```"
                open_fence = True
            else:
                open_fence = False
            parts[i] = part
    return parts


def render_chunks(text: str, spoiler: str | None = None, spoiler_text: str = "",
                  limit: int = MESSAGE_LIMIT) -> list[str]:
    """Message contents for ``text`` plus an optional labelled spoiler block.

    The spoiler is shown as a ``CW: <reason>`` line (kept as is when the reason
    already starts with a label like ``TW:``; left out when ``text`` already
    says it) followed by ``||text||``. Long
    content is split so that each piece fits and every spoiler piece is closed.
    """
    head = text.rstrip()
    if spoiler is None and not spoiler_text:
        return split_text(head, limit)
    reason = (spoiler or "").strip()
    if reason and reason.casefold() not in head.casefold():
        label = reason if _CW_LABEL_RE.match(reason) else f"CW: {reason}"
        head = f"{head}\n{label}" if head else label
    pieces = split_text(head, limit) if head else []
    body = escape_spoiler(spoiler_text.strip())
    for part in split_text(body, limit - 4) if body else []:
        wrapped = f"||{part}||"
        if pieces and len(pieces[-1]) + 1 + len(wrapped) <= limit:
            pieces[-1] = f"{pieces[-1]}\n{wrapped}"
        else:
            pieces.append(wrapped)
    return pieces or [""]


def embed_texts(embeds: Iterable[discord.Embed]) -> list[str]:
    """The text of ``rich`` embeds: author, title, description, fields and footer.

    Link previews (``link``, ``article``, ``video``...) are left out: Discord builds
    them from a web page, they are not what the member wrote.
    """
    out: list[str] = []
    for embed in embeds:
        if embed.type != "rich":
            continue
        parts = [embed.author.name, embed.title, embed.description]
        for f in embed.fields:
            parts += [f.name, f.value]
        parts.append(embed.footer.text)
        out += [str(x) for x in parts if isinstance(x, str) and x.strip()]
    return out


def message_text(message: discord.Message, title: str | None = None) -> str:
    """Everything a member wrote that others can read in ``message``, one paragraph each:
    a forum post's ``title``, the content, rich embeds, forwarded messages
    (``message_snapshots``), a poll's question and answers, attachments' alt text."""
    content = message.content or ""
    if title and " ".join(title.casefold().split()) in " ".join(content.casefold().split()):
        title = None  # the post repeats its title
    parts = [title or "", content]
    for snapshot in getattr(message, "message_snapshots", None) or ():
        parts.append(snapshot.content or "")
        parts += embed_texts(snapshot.embeds)
        parts += [a.description or "" for a in snapshot.attachments]
    parts += embed_texts(message.embeds)
    poll = getattr(message, "poll", None)
    if poll is not None:
        parts.append(poll.question or "")
        parts += [answer.text or "" for answer in poll.answers]
    parts += [a.description or "" for a in message.attachments]
    return "\n\n".join(x for x in parts if x and x.strip())


def post_title(message: discord.Message, channel: Any) -> str | None:
    """The title of a forum post, for its starter message (whose id is the post's id)."""
    if (isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel)
            and message.id == channel.id):
        return channel.name
    return None


def visible_files(message: discord.Message) -> list[discord.Attachment]:
    """The attachments of ``message`` and of the messages it forwards."""
    files = list(message.attachments)
    for snapshot in getattr(message, "message_snapshots", None) or ():
        files += list(snapshot.attachments)
    return files


def spoilered(message: discord.Message) -> bool:
    """Whether what the member wrote (content, else a forwarded message) is all spoilered."""
    if (message.content or "").strip() or message.attachments:
        return is_spoilered(message.content or "", message.attachments)
    for snapshot in getattr(message, "message_snapshots", None) or ():
        return is_spoilered(snapshot.content or "", snapshot.attachments)
    return False

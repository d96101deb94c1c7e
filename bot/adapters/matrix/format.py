"""Matrix message formatting: Haven's simple Markdown to HTML, pills, spoilers, and back.

Outgoing: :func:`render` turns an :class:`~bot.core.events.Outgoing` into an
``m.room.message`` content with ``body`` (plain), ``formatted_body`` (HTML) and
``m.mentions``. User mentions are Markdown links to ``https://matrix.to/#/@user``
(see :func:`user_pill`), which become pills in HTML and display names in the
plain body. Spoilers use ``<span data-mx-spoiler="reason">`` and the plain body
never carries the hidden text.

Incoming: :func:`message_text` extracts the text a member wrote (reply
fallbacks removed, spoiler contents kept so rules still see them) and whether
the whole visible text is spoilered.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote

from bot.core.commandspec import CommandSpec
from bot.core.events import Outgoing

MATRIX_TO = "https://matrix.to/#/"
HTML_FORMAT = "org.matrix.custom.html"

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
_ITALIC = re.compile(r"(?<![\w*])_(?=\S)(.+?)(?<=\S)_(?!\w)", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_USER_LINK = re.compile(re.escape(MATRIX_TO) + r"(@[^/?\s)]+)")


def user_link(user_id: str) -> str:
    """The matrix.to URL of a user (what Matrix clients turn into a pill)."""
    return MATRIX_TO + quote(user_id, safe="@:")


def room_link(room: str, event_id: str | None = None, via: str | None = None) -> str:
    """A matrix.to URL of a room (id or alias), or of an event in it."""
    url = MATRIX_TO + quote(room, safe="!#:")
    if event_id:
        url += "/" + quote(event_id, safe="$")
    if via:
        url += f"?via={quote(via)}"
    return url


def user_pill(user_id: str, display_name: str | None = None) -> str:
    """Markdown for a user mention; :func:`render` turns it into a pill."""
    label = (display_name or user_id).replace("[", "(").replace("]", ")")
    return f"[{label}]({user_link(user_id)})"


def command_words(specs: Iterable[CommandSpec]) -> frozenset[str]:
    """The first words of the commands' names (``rules test`` gives ``rules``)."""
    return frozenset(c.name.split()[0].lower() for c in specs)


def prefix_commands(text: str, prefix: str = "!haven",
                    words: frozenset[str] = frozenset()) -> str:
    """Give code spans that name a Haven command the Matrix prefix.

    Templates and help name commands the platform-neutral way (`` `resources` ``);
    on Matrix a command only works typed as ``!haven resources``, so the text
    must say so. ``words`` are the commands' first words (:func:`command_words`).
    Quoted lines (``> ...``, members' own words) are left alone.
    """
    low_prefix = prefix.lower()

    def fix(match: re.Match[str]) -> str:
        inner = match.group(1)
        first = inner.split()[0].lower() if inner.split() else ""
        if first in words and not inner.lower().startswith(low_prefix):
            return f"`{prefix} {inner}`"
        return match.group(0)

    return "\n".join(line if line.startswith(">") else _CODE.sub(fix, line)
                     for line in text.split("\n"))


def markdown_to_html(text: str) -> str:
    """Render Haven's simple Markdown (``**bold**``, ``_italic_``, ``code``, links) as HTML."""
    out: list[str] = []
    pos = 0
    # Code spans and links first, so their contents are not formatted further.
    for match in re.finditer(f"{_CODE.pattern}|{_LINK.pattern}", text):
        out.append(_inline(text[pos:match.start()]))
        if match.group(1) is not None:
            out.append(f"<code>{html.escape(match.group(1), quote=False)}</code>")
        else:
            label, url = match.group(2), match.group(3)
            out.append(f'<a href="{html.escape(url)}">{_inline(label)}</a>')
        pos = match.end()
    out.append(_inline(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def markdown_to_plain(text: str) -> str:
    """The plain body: links become their labels (a pill's fallback is the name)."""
    return _LINK.sub(lambda m: m.group(1), text)


def mentioned_in(text: str) -> set[str]:
    """User ids linked (pilled) in ``text``."""
    return {unquote(m.group(1)) for m in _USER_LINK.finditer(text)}


def render(
    msg: Outgoing,
    *,
    extra_mentions: tuple[str, ...] = (),
    names: dict[str, str] | None = None,
    prefix: str = "!haven",
    header: str = "",
    commands: bool = True,
    command_words: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """An ``m.room.message`` content for ``msg``.

    With ``commands`` (Haven's own texts), command names in code spans get the
    prefix (:func:`prefix_commands`, ``command_words`` naming them); reposts of a member's words pass ``False``.

    ``extra_mentions`` are users to ping besides ``msg.mention_users`` (members
    of a role-like group); users who should be pinged but are not pilled in the
    text get a pill appended, so clients without intentional mentions notify
    them too. ``names`` maps user ids to display names for those pills.
    ``header`` is Markdown put before the text (repost attribution).
    """
    names = names or {}
    text = prefix_commands(msg.text, prefix, command_words) if commands else msg.text
    text = f"{header}\n{text}" if header else text
    ping = list(dict.fromkeys((*msg.mention_users, *extra_mentions)))
    missing = [u for u in ping if u not in mentioned_in(text)]
    if missing:
        text += "\n" + " ".join(user_pill(u, names.get(u)) for u in missing)
    body = markdown_to_plain(text)
    formatted = markdown_to_html(text)
    if msg.spoiler is not None and msg.spoiler_text:
        reason = msg.spoiler.strip()
        label = f"Spoiler: {reason}" if reason else "Spoiler"
        body += f"\n[{label} - open the message in a Matrix client to read it]"
        inner = markdown_to_html(msg.spoiler_text)
        formatted += f'<br><span data-mx-spoiler="{html.escape(reason)}">{inner}</span>'
    return {
        "msgtype": "m.text",
        "body": body,
        "format": HTML_FORMAT,
        "formatted_body": formatted,
        "m.mentions": {"user_ids": ping} if ping else {},
    }


# ---------------------------------------------------------------------------
# incoming
# ---------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "ul", "ol"}


class _TextExtractor(HTMLParser):
    """Collects the visible text of a Matrix HTML body, noting what is spoilered."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.visible: list[str] = []  # text outside spoilers
        self.hidden: list[str] = []  # text inside spoilers
        self.links: list[str] = []
        self._stack: list[str] = []
        self._spoiler_depth = 0
        self._reply_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br",):
            self._text("\n")
            return
        if tag in ("img", "hr", "input"):
            return
        attr = dict(attrs)
        marker = ""
        if tag == "mx-reply":
            self._reply_depth += 1
            marker = "reply"
        elif "data-mx-spoiler" in attr:
            self._spoiler_depth += 1
            marker = "spoiler"
        if tag == "a" and attr.get("href"):
            self.links.append(str(attr["href"]))
        if tag in _BLOCK_TAGS and self.parts and not self.parts[-1].endswith("\n"):
            self._text("\n")
        self._stack.append(f"{tag}:{marker}")

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            entry = self._stack.pop()
            name, _, marker = entry.partition(":")
            if marker == "reply":
                self._reply_depth -= 1
            elif marker == "spoiler":
                self._spoiler_depth -= 1
            if name == tag:
                break
        if tag in _BLOCK_TAGS:
            self._text("\n")

    def handle_data(self, data: str) -> None:
        self._text(data)

    def _text(self, data: str) -> None:
        if self._reply_depth:
            return
        self.parts.append(data)
        (self.hidden if self._spoiler_depth else self.visible).append(data)


@dataclass(frozen=True)
class IncomingText:
    """What a member wrote, as the core needs it."""

    text: str
    spoilered: bool = False
    links: tuple[str, ...] = ()


def strip_reply_fallback(body: str) -> str:
    """Remove the ``> <@user> quoted text`` lines clients put before a reply's body."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    if i < len(lines) and lines[i] == "":
        i += 1
    return "\n".join(lines[i:])


def html_text(formatted_body: str) -> IncomingText:
    """Visible text of an HTML body, with spoiler contents, and whether all of it is spoilered."""
    parser = _TextExtractor()
    parser.feed(formatted_body)
    parser.close()
    text = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()
    visible = "".join(parser.visible).strip()
    hidden = "".join(parser.hidden).strip()
    return IncomingText(text, spoilered=bool(hidden) and not visible, links=tuple(parser.links))


def message_text(content: dict[str, Any]) -> IncomingText:
    """The text of an ``m.room.message`` content (or an edit's ``m.new_content``)."""
    body = content.get("body")
    body = body if isinstance(body, str) else ""
    formatted = content.get("formatted_body")
    if content.get("format") == HTML_FORMAT and isinstance(formatted, str) and formatted.strip():
        parsed = html_text(formatted)
        if parsed.text or parsed.spoilered:
            return parsed
    return IncomingText(strip_reply_fallback(body).strip())


_PILL = re.compile(r'<a\s+href="' + re.escape(MATRIX_TO) + r'(@[^"/?]+)"[^>]*>.*?</a>', re.S)


def pills_to_user_ids(formatted_body: str) -> str:
    """HTML with every user pill replaced by the plain user id (for command arguments).

    Clients put the display name in ``body`` when a member is mentioned, so
    ``!haven warn Alice ...`` is only resolvable through the pill's link.
    """
    return _PILL.sub(lambda m: html.escape(unquote(m.group(1))), formatted_body)


def command_text(
    content: dict[str, Any],
    prefix: str,
    bot_user_id: str,
    bot_names: tuple[str, ...] = (),
    mentions: bool = True,
) -> str | None:
    """The command after ``prefix`` or after a mention of the bot, else ``None``.

    With ``mentions=False`` only the prefix counts (direct chats: a member
    talking to Haven by name is talking, not giving a command).

    ``!haven rules test hello`` gives ``"rules test hello"``; ``!haven`` alone
    gives ``""`` (help). A message starting with a pill of the bot, its user id
    or its display name followed by ``:`` or ``,`` counts as well. Pills in the
    arguments become user ids.
    """
    body = content.get("body")
    if not isinstance(body, str):
        return None
    formatted = content.get("formatted_body")
    html_body = None
    if content.get("format") == HTML_FORMAT and isinstance(formatted, str):
        html_body = re.sub(r"<mx-reply>.*?</mx-reply>", "", formatted, flags=re.S).strip()
        pill = re.match(r'<a\s+href="([^"]+)"[^>]*>.*?</a>\s*[:,]?\s*', html_body, flags=re.S)
        if mentions and pill and unquote(pill.group(1)).startswith(MATRIX_TO + bot_user_id):
            return html_text(pills_to_user_ids(html_body[pill.end():])).text.strip()
    text = strip_reply_fallback(body).strip()
    if html_body is not None:
        text = html_text(pills_to_user_ids(html_body)).text.strip() or text
    low = text.lower()
    p = prefix.lower()
    if low == p or low.startswith(p + " ") or low.startswith(p + "\n"):
        return text[len(prefix):].strip()
    if not mentions:
        return None
    for name in (bot_user_id, *bot_names):
        if not name:
            continue
        n = name.lower()
        for sep in (":", ","):
            if low.startswith(n + sep):
                return text[len(name) + 1:].strip()
    return None

"""bot.adapters.matrix.events: raw Matrix events to Haven's neutral events."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.matrix.events import SeenEvents, thread_and_reply, translate
from bot.adapters.matrix.power import CREATOR_POWER_LEVEL
from bot.core.events import MemberJoined, MessageDeleted, MessagePosted
from tests.matrix_fakes import ALICE, BOT, CREATOR, MOD, ROOM, Ctx, ev


def test_plain_message() -> None:
    out = translate(ev("m.room.message", {"msgtype": "m.text", "body": "hi"}), ROOM, Ctx(),
                    SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.text == "hi" and not out.edited and out.reply_to is None
    assert out.message.message_id == "$e1" and out.message.channel_id == ROOM
    assert out.at == 1_700_000_000.0
    assert out.author.power_level == 0


def test_creator_message_is_admin() -> None:
    out = translate(ev("m.room.message", {"msgtype": "m.text", "body": "hi"}, sender=CREATOR),
                    ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.author.is_admin and out.author.power_level == CREATOR_POWER_LEVEL


def test_reply_and_thread() -> None:
    reply = {"msgtype": "m.text", "body": "yes",
             "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}}}
    out = translate(ev("m.room.message", reply), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted) and out.reply_to == "$orig" and out.thread_root is None
    in_thread = {"msgtype": "m.text", "body": "yes", "m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$latest"}}}
    out = translate(ev("m.room.message", in_thread), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.thread_root == "$root" and out.reply_to is None
    assert out.message.thread_id == "$root"
    assert thread_and_reply({"m.relates_to": {"rel_type": "m.thread", "event_id": "$r",
                                              "m.in_reply_to": {"event_id": "$x"}}}) == ("$r", "$x")


def test_edit_uses_new_content_and_original_id() -> None:
    seen = SeenEvents()
    translate(ev("m.room.message", {"msgtype": "m.text", "body": "old", "m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root"}}, event_id="$orig"), ROOM, Ctx(), seen)
    edit = {"msgtype": "m.text", "body": "* new text",
            "m.new_content": {"msgtype": "m.text", "body": "new text"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}
    out = translate(ev("m.room.message", edit, event_id="$edit"), ROOM, Ctx(), seen)
    assert isinstance(out, MessagePosted)
    assert out.edited and out.text == "new text"
    assert out.message.message_id == "$orig" and out.thread_root == "$root"
    assert seen.get("$orig").edits == ["$edit"]  # type: ignore[union-attr]
    forged = translate(ev("m.room.message", edit, sender=MOD, event_id="$f"), ROOM, Ctx(), seen)
    assert forged is None


def test_spoilered_message() -> None:
    content = {"msgtype": "m.text", "body": "hidden", "format": "org.matrix.custom.html",
               "formatted_body": '<span data-mx-spoiler="sh">hidden</span>'}
    out = translate(ev("m.room.message", content), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted) and out.spoilered and out.text == "hidden"


def test_redaction_reaction_and_notice() -> None:
    seen = SeenEvents()
    translate(ev("m.room.message", {"msgtype": "m.text", "body": "x"}, event_id="$m"), ROOM,
              Ctx(), seen)
    red = translate(ev("m.room.redaction", {"redacts": "$m"}, event_id="$r"), ROOM, Ctx(), seen)
    assert isinstance(red, MessageDeleted) and red.message.message_id == "$m" and red.by_author
    by_mod = translate(ev("m.room.redaction", {}, sender=MOD, redacts="$m"), ROOM, Ctx(), seen)
    assert isinstance(by_mod, MessageDeleted) and not by_mod.by_author
    react = translate(ev("m.reaction", {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": "$m", "key": "👍"}}), ROOM, Ctx(), seen)
    assert react is None  # no feature uses reactions: they give no event
    notice = translate(ev("m.room.message", {"msgtype": "m.notice", "body": "beep"}), ROOM,
                       Ctx(), seen)
    assert isinstance(notice, MessagePosted) and notice.text == "beep"
    assert not notice.author.is_bot  # a member's notice is read like text (issue 12, item 8)


@pytest.mark.parametrize(("etype", "content", "text"), [
    ("m.room.message", {"msgtype": "m.notice", "body": "I want to end it"}, "I want to end it"),
    ("m.room.message", {"msgtype": "m.emote", "body": "wants to end it"}, "wants to end it"),
    ("m.room.message", {"msgtype": "m.image", "body": "I want to end it", "filename": "a.png",
                        "url": "mxc://x/y"}, "I want to end it"),
    ("m.room.message", {"msgtype": "m.file", "body": "goodbye everyone", "url": "mxc://x/y"},
     "goodbye everyone"),
    ("m.room.message", {"msgtype": "m.video", "body": "last video", "filename": "v.mp4",
                        "file": {"url": "mxc://x/enc"}}, "last video"),
    ("m.room.message", {"msgtype": "m.audio", "body": "listen", "filename": "a.ogg",
                        "format": "org.matrix.custom.html",
                        "formatted_body": "<b>listen</b> please"}, "listen please"),
    ("m.sticker", {"body": "crying alone", "url": "mxc://x/s", "info": {}}, "crying alone"),
    ("m.room.message", {"msgtype": "org.example.custom", "body": "custom words"},
     "custom words"),
    ("m.room.message", {"msgtype": "m.location", "body": "where I am now",
                        "geo_uri": "geo:1,2"}, "where I am now"),
])
def test_text_in_every_message_type_is_read(etype: str, content: dict[str, Any],
                                            text: str) -> None:
    """Item 8: notices, emotes, captions, stickers and unknown types with a body are text."""
    out = translate(ev(etype, content), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.text == text and not out.author.is_bot


@pytest.mark.parametrize("content", [
    {"msgtype": "m.image", "body": "IMG_0001.jpg", "url": "mxc://x/y"},
    {"msgtype": "m.image", "body": "photo.png", "filename": "photo.png", "url": "mxc://x/y"},
    {"msgtype": "m.file", "body": "Screenshot 2026-11-30 at 10.00.00.png", "url": "mxc://x/y"},
])
def test_media_without_a_caption_has_no_text(content: dict[str, Any]) -> None:
    out = translate(ev("m.room.message", content), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.text == "" and out.attachments == ("mxc://x/y",)


def test_edited_caption_is_read() -> None:
    seen = SeenEvents()
    edit = {"msgtype": "m.image", "body": "* new caption", "m.new_content": {
        "msgtype": "m.image", "body": "new caption", "filename": "a.png", "url": "mxc://x/y"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}
    out = translate(ev("m.room.message", edit, event_id="$edit"), ROOM, Ctx(), seen)
    assert isinstance(out, MessagePosted) and out.edited and out.text == "new caption"


def test_joins_only_real_ones() -> None:
    join = ev("m.room.member", {"membership": "join"}, state_key=ALICE)
    out = translate(join, ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MemberJoined) and out.member.id == ALICE
    assert out.member.joined_at == 1_700_000_000.0
    rename = {**join, "unsigned": {"prev_content": {"membership": "join"}}}
    assert translate(rename, ROOM, Ctx(), SeenEvents()) is None
    assert translate({**join, "state_key": BOT, "sender": BOT}, ROOM, Ctx(), SeenEvents()) is None
    assert translate(join, "!dm:x", Ctx(dms={"!dm:x"}), SeenEvents()) is None
    invite = ev("m.room.member", {"membership": "invite"}, state_key=ALICE)
    assert translate(invite, ROOM, Ctx(), SeenEvents()) is None


def test_own_events_are_ignored() -> None:
    out = translate(ev("m.room.message", {"msgtype": "m.text", "body": "x"}, sender=BOT), ROOM,
                    Ctx(), SeenEvents())
    assert out is None

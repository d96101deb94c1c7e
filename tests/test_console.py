"""The console adapter used by the demo."""

from __future__ import annotations

import pytest

from bot.adapters.console import ConsolePlatform
from bot.core.errors import PrivateMessagesClosed
from bot.core.events import Attachment, Member, MessageRef, Outgoing


async def test_console_prints_actions() -> None:
    lines: list[str] = []
    p = ConsolePlatform(out=lines.append, names={"u": "Uma"})
    await p.send("c", "#general", Outgoing("hello", alert_id=3,
                                           attachments=(Attachment("a.png", b"x"),)))
    await p.send_private("c", "u", Outgoing("psst"))
    await p.hide(MessageRef("c", "general", "m1"), "rule")
    await p.repost("c", "cw", Member("u", "Uma"), Outgoing("CW: x", spoiler="CW: x",
                                                           spoiler_text="body"))
    out = "\n".join(lines)
    assert "#general" in out and "[ Claim #3 ]" in out and "a.png" in out
    assert "privately to Uma" in out and "hides message m1" in out and "||body||" in out
    p.closed_dms.add("u")
    with pytest.raises(PrivateMessagesClosed):
        await p.send_private("c", "u", Outgoing("psst"))
    assert p.user_mention("u") == "@Uma" and p.channel_mention("c", "#x") == "#x"

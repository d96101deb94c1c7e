"""bot.adapters.matrix.commands: `!haven` commands and direct chats (issue 12, items 7 and 9)."""

from __future__ import annotations

from typing import Any

from bot.core.clock import VirtualClock
from bot.core.events import MessagePosted, Outgoing
from bot.core.ports import AdapterServices
from bot.core.templates import Templates
from tests.golden import COMMANDS
from tests.matrix_fakes import BOT, DM, MOD, ROOM, MemoryKV, dm_adapter, ev, settle


async def test_a_replayed_command_runs_once_and_carries_its_event_id() -> None:
    adapter, core = dm_adapter()
    cmd = ev("m.room.message", {"msgtype": "m.text", "body": "!haven alerts"}, sender=MOD,
             event_id="$cmd")
    adapter.inbound.on_timeline(ROOM, cmd)
    adapter.inbound.on_timeline(ROOM, cmd)  # a sync or catch-up delivers it again
    await settle(adapter)
    assert [c.name for c in core.handled] == ["alerts"]
    assert core.handled[0].delivery_id == "$cmd"
    assert core.submitted == []  # a command is not a post


async def test_direct_messages_are_posts_unless_they_start_with_the_prefix() -> None:
    adapter, core = dm_adapter()
    for i, body in enumerate(("I'm going to kill myself tonight, please help",
                              "Haven, I can't go on", f"{BOT}: help me")):
        adapter.inbound.on_timeline(DM, ev("m.room.message", {"msgtype": "m.text", "body": body},
                                    event_id=f"$dm{i}"))
    adapter.inbound.on_timeline(DM, ev("m.room.message", {"msgtype": "m.text",
                                                   "body": "!haven resources"}, event_id="$r"))
    await settle(adapter)
    posts = [e for e in core.submitted if isinstance(e, MessagePosted)]
    assert [p.text for p in posts] == ["I'm going to kill myself tonight, please help",
                                       "Haven, I can't go on", f"{BOT}: help me"]
    assert all(p.channel.kind == "dm" and p.community_id == adapter.community_id for p in posts)
    assert [c.name for c in core.handled] == ["resources"]


async def test_text_that_names_no_command_is_still_read() -> None:
    adapter, core = dm_adapter()
    adapter.ctx.display_name = "Haven"
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "Haven, I want to die"}))
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "!haven I want to die"},
                                  event_id="$e2"))
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "Haven, help me, I want to die"},
                                  event_id="$e3"))
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "Haven: alerts"}, event_id="$e4"))
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "!haven claim"}, event_id="$e5"))
    await settle(adapter)
    assert [p.text for p in core.submitted] == ["Haven, I want to die", "!haven I want to die",
                                                "Haven, help me, I want to die"]
    assert [c.name for c in core.handled] == ["alerts"]  # `!haven claim` only gets a usage hint


async def test_commands_come_from_the_core_services() -> None:
    """The command list is the core's (``services.commands``), not a copy in the adapter:
    a command a new feature adds works as `!haven ...` at once, and is named with the
    prefix in Haven's texts."""
    from bot.core.commandspec import CommandSpec, Param

    lull = CommandSpec("lull", "Lull mode", (Param("mode", "choice", choices=("on", "off")),))
    adapter, core = dm_adapter()
    core.services = AdapterServices(kv=MemoryKV(), clock=VirtualClock(), templates=Templates(),
                                    notices=core.notices, commands=(*COMMANDS, lull))
    adapter.ctx.display_name = "Haven"
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                            "body": "!haven lull on"},
                                         sender=MOD, event_id="$lull"))
    adapter.inbound.on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                            "body": "Haven: lull on"},
                                         sender=MOD, event_id="$lull2"))
    await settle(adapter)
    assert [(c.name, c.options) for c in core.handled] == [("lull", {"mode": "on"})] * 2
    assert core.submitted == []
    sent: list[dict[str, Any]] = []

    async def send_content(room_id: str, content: dict[str, Any], **_: Any) -> str:
        sent.append(content)
        return "$sent"

    adapter.outbound.send_content = send_content  # type: ignore[method-assign]
    await adapter.outbound.deliver(ROOM, Outgoing("Use `lull off` when it is over."))
    assert "`!haven lull off`" in sent[0]["body"]

"""The console adapter: prints what the bot does, for ``haven demo``.

Channels are named by name. Private messages, hidden posts and mentions are
shown in a form a newcomer can follow.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable

from bot.core.errors import PrivateMessagesClosed
from bot.core.events import Member, MessageRef, Outgoing
from bot.core.ports import Capability


class ConsolePlatform:
    """A Platform that writes every action to the terminal."""

    name = "console"
    capabilities = frozenset({Capability.ATTACHMENTS, Capability.BUTTONS, Capability.TIMEOUT_EXPIRES})
    command_prefix = "/"

    def __init__(self, out: Callable[[str], None] = print, community: str = "Harbour",
                 names: dict[str, str] | None = None) -> None:
        self.out = out
        self.community = community
        self.names = names or {}
        self.closed_dms: set[str] = set()
        self.attachments: list[tuple[str, bytes]] = []
        self._ids = itertools.count(1)
        self.core: object | None = None

    def attach(self, core: object) -> None:
        """Remember the core (the demo drives events itself)."""
        self.core = core

    async def run(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def _name(self, user_id: str) -> str:
        return self.names.get(user_id, user_id)

    def _show(self, head: str, msg: Outgoing) -> None:
        body = msg.text
        if msg.spoiler:
            body += f"\n[spoiler: {msg.spoiler}] ||{msg.spoiler_text}||"
        if msg.alert_id is not None:
            body += f"\n[ Claim #{msg.alert_id} ] [ Resolve #{msg.alert_id} ]"
        for a in msg.attachments:
            self.attachments.append((a.filename, a.data))
            body += f"\n[attachment: {a.filename}, {len(a.data):,} bytes]"
        self.out(f"  🤖 {head}")
        for line in body.splitlines():
            self.out(textwrap.indent(textwrap.fill(line, 96, replace_whitespace=False) or "", "     │ "))

    def _ref(self, community_id: str, channel: str) -> MessageRef:
        return MessageRef(community_id, channel, f"bot{next(self._ids)}")

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        self._show(f"Haven posts in #{channel.lstrip('#')}:", msg)
        return self._ref(community_id, channel)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        self._show(f"Haven replies in #{to.channel_id}:", msg)
        return self._ref(to.community_id, to.channel_id)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        if user_id in self.closed_dms:
            self.out(f"  🤖 (a private message to {self._name(user_id)} was refused: DMs closed)")
            raise PrivateMessagesClosed(user_id)
        self._show(f"Haven privately to {self._name(user_id)}:", msg)
        return self._ref(community_id, f"dm-{user_id}")

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        first = msg.text.splitlines()[-1] if msg.text else ""
        self.out(f"  🤖 Haven updates its alert message in #{ref.channel_id}: {first}")

    async def hide(self, ref: MessageRef, reason: str) -> None:
        self.out(f"  🤖 Haven hides message {ref.message_id} in #{ref.channel_id} ({reason})")

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        self.out(f"  🤖 Haven times out {self._name(user_id)} for {int(seconds // 60)} min ({reason})")

    async def kick(self, community_id: str, user_id: str, reason: str) -> None:
        self.out(f"  🤖 Haven removes {self._name(user_id)} ({reason})")

    async def ban(self, community_id: str, user_id: str, reason: str) -> None:
        self.out(f"  🤖 Haven bans {self._name(user_id)} ({reason})")

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        self._show(f"Haven reposts in #{channel.lstrip('#')} as {author.name}:", msg)
        return self._ref(community_id, channel)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        changes = [f"+{t}" for t in add] + [f"-{t}" for t in remove]
        self.out(f"  🤖 Haven tags the post in #{ref.channel_id}: {' '.join(changes)}")

    def user_mention(self, user_id: str) -> str:
        return f"@{self._name(user_id)}"

    def role_mention(self, community_id: str, role: str) -> str:
        return f"@{role}"

    def channel_mention(self, community_id: str, channel: str) -> str:
        return f"#{channel.lstrip('#')}"

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """A demo member by id, ``@name`` or name (from the names the demo gave)."""
        q = query.strip().removeprefix("<@").removesuffix(">").lstrip("@").casefold()
        for uid, name in self.names.items():
            if q in (uid.casefold(), name.casefold()):
                return Member(id=uid, name=name)
        return None

    def community_name(self, community_id: str) -> str:
        return self.community

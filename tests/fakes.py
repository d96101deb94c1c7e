"""Test doubles: a FakePlatform that records everything the bot would do,
and event factories for neutral events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import PlatformError, PrivateMessagesClosed
from bot.core.events import (
    Channel,
    CommandInvoked,
    Member,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    MessageRef,
    Outgoing,
)
from bot.core.ports import Capability

COMMUNITY = "c1"


@dataclass
class Call:
    """One recorded platform call."""

    verb: str
    community_id: str
    target: str
    msg: Outgoing | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message text (empty for non-message verbs)."""
        return self.msg.text if self.msg else ""


class FakePlatform:
    """Records every call; can be told to refuse DMs or fail a verb."""

    name = "fake"
    capabilities = frozenset(Capability)
    """Everything (tests remove what they need gone)."""
    command_prefix = "/"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.closed_dms: set[str] = set()
        self.failures: dict[str, list[Exception]] = {}
        self.private_mods: bool | None = None
        """What :meth:`moderators_channel_is_private` answers (``None``: unknown)."""
        self._ids = itertools.count(1000)
        self.members: dict[str, Member] = {}
        """Members :meth:`resolve_member` knows; add with :meth:`add_member`."""
        self.lists_roles = True
        """Whether :meth:`role_member_ids` can list a role's members."""

    # -- helpers for tests ---------------------------------------------------

    def fail(self, verb: str, exc: Exception, times: int = 1) -> None:
        """Make the next ``times`` calls of ``verb`` raise ``exc``."""
        self.failures.setdefault(verb, []).extend([exc] * times)

    def of(self, verb: str) -> list[Call]:
        """Calls of one verb."""
        return [c for c in self.calls if c.verb == verb]

    def sent_to(self, channel: str) -> list[Call]:
        """Messages sent to a channel (by name or id)."""
        return [c for c in self.calls if c.verb == "send" and c.target == channel]

    def private_to(self, user_id: str) -> list[Call]:
        """Private messages delivered to a user."""
        return [c for c in self.calls if c.verb == "send_private" and c.target == user_id]

    def add_member(self, *people: Member) -> None:
        """Make members known to :meth:`resolve_member`."""
        for m in people:
            self.members[m.id] = m

    def clear(self) -> None:
        """Forget recorded calls."""
        self.calls.clear()

    def _maybe_fail(self, verb: str) -> None:
        queue = self.failures.get(verb)
        if queue:
            raise queue.pop(0)

    def _ref(self, community_id: str, channel: str) -> MessageRef:
        return MessageRef(community_id, channel, f"m{next(self._ids)}")

    # -- the Platform protocol -------------------------------------------------

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        self._maybe_fail("send")
        self.calls.append(Call("send", community_id, channel, msg))
        return self._ref(community_id, channel)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        self._maybe_fail("reply")
        self.calls.append(Call("reply", to.community_id, to.message_id, msg,
                               {"channel": to.channel_id}))
        return self._ref(to.community_id, to.channel_id)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        if user_id in self.closed_dms:
            raise PrivateMessagesClosed(f"{user_id} does not accept DMs")
        self._maybe_fail("send_private")
        self.calls.append(Call("send_private", community_id, user_id, msg))
        return self._ref(community_id, f"dm-{user_id}")

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        self._maybe_fail("edit")
        self.calls.append(Call("edit", ref.community_id, ref.message_id, msg))

    async def hide(self, ref: MessageRef, reason: str) -> None:
        self._maybe_fail("hide")
        self.calls.append(Call("hide", ref.community_id, ref.message_id, None, {"reason": reason}))

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        self._maybe_fail("timeout")
        self.calls.append(Call("timeout", community_id, user_id, None,
                               {"seconds": seconds, "reason": reason}))

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        self._maybe_fail("repost")
        self.calls.append(Call("repost", community_id, channel, msg, {"author": author.id}))
        return self._ref(community_id, channel)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        self._maybe_fail("tag_post")
        self.calls.append(Call("tag_post", ref.community_id, ref.message_id, None,
                               {"add": add, "remove": remove}))

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        self._maybe_fail("resolve_member")
        q = query.strip()
        if q.startswith("<@") and q.endswith(">"):
            q = q[2:-1].lstrip("!")
        if q in self.members:
            return self.members[q]
        named = [m for m in self.members.values() if m.name.casefold() == q.casefold()]
        return named[0] if len(named) == 1 else None

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """Members holding ``role`` (from :attr:`members`); ``None`` while
        :attr:`lists_roles` is false, like a platform whose member list is incomplete."""
        self._maybe_fail("role_member_ids")
        if not self.lists_roles:
            return None
        return tuple(m.id for m in self.members.values() if role in m.roles)

    async def set_slow_mode(self, community_id: str, channel: str, seconds: int) -> None:
        """Capability ``SLOW_MODE``: recorded as a ``slow_mode`` call."""
        self._maybe_fail("set_slow_mode")
        self.calls.append(Call("slow_mode", community_id, channel, None, {"seconds": seconds}))

    async def lift_timeout(self, community_id: str, user_id: str) -> None:
        """Used only when a test removes ``TIMEOUT_EXPIRES``: recorded as ``lift_timeout``."""
        self._maybe_fail("lift_timeout")
        self.calls.append(Call("lift_timeout", community_id, user_id, None))

    def user_mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def role_mention(self, community_id: str, role: str) -> str:
        return f"<@&{role}>"

    def channel_mention(self, community_id: str, channel: str) -> str:
        return f"#{channel.lstrip('#')}"

    def community_name(self, community_id: str) -> str:
        return "Harbour"

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """The optional privacy check of real adapters; set :attr:`private_mods` to choose."""
        return self.private_mods


# -- event factories ------------------------------------------------------------

_msg_ids = itertools.count(1)


def member(uid: str = "u1", name: str | None = None, *, roles: tuple[str, ...] = (),
           bot: bool = False, admin: bool = False, power: int | None = None,
           joined_at: float | None = None) -> Member:
    """A member."""
    return Member(id=uid, name=name or uid, is_bot=bot, roles=frozenset(roles), is_admin=admin,
                  power_level=power, joined_at=joined_at)


MOD = member("mod1", "Mo", roles=("Moderators",))


def channel(name: str = "general", cid: str | None = None, **kw: Any) -> Channel:
    """A channel whose id is ``id-<name>`` unless given."""
    return Channel(id=cid or f"id-{name}", name=name, **kw)


def post(text: str, at: float, *, author: Member | None = None, where: str = "general",
         msg_id: str | None = None, reply_to: str | None = None, thread_root: str | None = None,
         edited: bool = False, spoilered: bool = False, chan: Channel | None = None) -> MessagePosted:
    """A MessagePosted event."""
    chan = chan or channel(where)
    mid = msg_id or f"msg{next(_msg_ids)}"
    return MessagePosted(COMMUNITY, at, channel=chan, author=author or member(),
                         message=MessageRef(COMMUNITY, chan.id, mid),
                         text=text, link=f"https://chat.example/{chan.id}/{mid}",
                         reply_to=reply_to, thread_root=thread_root, edited=edited,
                         spoilered=spoilered)


def joined(m: Member, at: float) -> MemberJoined:
    """A MemberJoined event."""
    return MemberJoined(COMMUNITY, at, member=m)


def deleted(ev: MessagePosted, at: float) -> MessageDeleted:
    """The deletion of a posted message."""
    return MessageDeleted(COMMUNITY, at, channel=ev.channel, message=ev.message)


def command(name: str, at: float, invoker: Member | None = None, where: str = "mod-alerts",
            **options: str) -> CommandInvoked:
    """A CommandInvoked event."""
    return CommandInvoked(COMMUNITY, at, channel=channel(where), invoker=invoker or MOD, name=name,
                          options=options)


class FlakyError(PlatformError):
    """A retryable platform failure for tests."""


def record_published(core: Any, kind: type) -> list[Any]:
    """Collect the events of type ``kind`` features publish (a handler like any feature's)."""
    seen: list[Any] = []

    async def record(event: Any) -> None:
        seen.append(event)

    core._handlers.setdefault(kind, []).append(record)
    return seen

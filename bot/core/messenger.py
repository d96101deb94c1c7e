"""Sending on behalf of the core: private messages with fallbacks, hiding with the
text sent back, and reporting missing permissions to moderators once.

Every method here handles platform errors itself and says what happened, so
features stay simple and the bot keeps going.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.core.bounded import delivery
from bot.core.errors import MissingPermission, PlatformError, PrivateMessagesClosed
from bot.core.events import MessagePosted, MessageRef, Outgoing

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.core.ports import KeyValue, Platform
    from bot.core.templates import Templates
    from bot.storage.repositories.ledger import LedgerRepository

log = logging.getLogger(__name__)


def quote(text: str, limit: int | None = None) -> str:
    """Text as a Markdown quote block, shortened to ``limit`` characters if given."""
    text = text.strip()
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return "\n".join("> " + line for line in text.splitlines()) or "> "


class Messenger:
    """Platform calls with error handling, shared by every feature."""

    def __init__(self, platform: Platform, ledger: LedgerRepository, kv: KeyValue, clock: Clock,
                 templates: Templates, moderators_channel: str,
                 explain_in_channel: bool = True) -> None:
        self.platform = platform
        """The platform (time-bounded)."""
        self.ledger = ledger
        self.kv = kv
        self.clock = clock
        self.templates = templates
        self.moderators_channel = moderators_channel
        self.explain_in_channel = explain_in_channel

    async def once(self, community_id: str, key: str, send: Callable[[], Awaitable[str]]) -> str:
        """Make a delivery at most once per ``key`` (an event and a purpose), via the outbox.

        The delivery is recorded before ``send`` runs and marked made after, so work
        repeated after a crash (a post handled again) does not message anyone twice.
        ``send`` returns a result word; ``"failed"`` (or an exception) leaves no mark,
        so a later attempt tries again. A delivery made before returns its old result.
        """
        store = self.ledger
        earlier = await store.outbox_begin(community_id, key, self.clock.now())
        if earlier is not None:
            log.info("delivery %s was made before; not making it again", key)
            return earlier
        try:
            with delivery(f"outbox:{community_id}:{key}"):
                result = await send()
        except BaseException:
            await store.outbox_forget(community_id, key)
            raise
        if result == "failed":
            await store.outbox_forget(community_id, key)
        else:
            await store.outbox_done(community_id, key, result, self.clock.now())
        return result

    async def delivered(self, community_id: str, key: str) -> str | None:
        """The outbox state of delivery ``key`` (``sent``, ``pending``...), ``None`` if never begun."""
        return await self.ledger.outbox_state(community_id, key)

    async def report_missing(self, community_id: str, exc: MissingPermission) -> None:
        """Log a missing permission and tell the moderators, once per permission and place."""
        key = f"missing:{community_id}:{exc.permission}:{exc.where}"
        if await self.kv.get(key):
            log.debug("missing permission already reported: %s", key)
            return
        await self.kv.set(key, str(self.clock.now()))
        log.error("Haven is missing a permission in community %s: %s", community_id, exc)
        try:
            text = self.templates.render("missing_permission", permission=exc.permission,
                                         where=f" in {exc.where}" if exc.where else "")
            await self.platform.send(community_id, self.moderators_channel, Outgoing(text))
        except PlatformError as err:
            log.error("could not report the missing permission to moderators: %s", err)

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef | None:
        """Send to a channel; ``None`` (logged) on a platform error."""
        try:
            return await self.platform.send(community_id, channel, msg)
        except MissingPermission as exc:
            await self.report_missing(community_id, exc)
        except PlatformError as exc:
            log.warning("could not send to %s in %s: %s", channel, community_id, exc)
        return None

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef | None:
        """Reply to a message; ``None`` (logged) on a platform error."""
        try:
            return await self.platform.reply(to, msg)
        except MissingPermission as exc:
            await self.report_missing(to.community_id, exc)
        except PlatformError as exc:
            log.warning("could not reply to %s: %s", to.message_id, exc)
        return None

    async def private(self, community_id: str, user_id: str, msg: Outgoing,
                      fallback_to: MessageRef | None = None,
                      fallback: Outgoing | None = None,
                      fallback_channel: str | None = None) -> str:
        """Send privately; if refused, post ``fallback`` as a reply or in a channel.

        Returns ``"private"``, ``"fallback"`` or ``"failed"``.
        """
        try:
            await self.platform.send_private(community_id, user_id, msg)
            return "private"
        except PrivateMessagesClosed:
            log.info("member %s does not accept private messages; using the fallback", user_id)
        except PlatformError as exc:
            log.warning("private message to %s failed: %s", user_id, exc)
        if fallback is None:
            return "failed"
        sent = None
        if fallback_to is not None:
            sent = await self.reply(fallback_to, fallback)
        elif fallback_channel:
            sent = await self.send(community_id, fallback_channel, fallback)
        return "fallback" if sent is not None else "failed"

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...] = (),
                       remove: tuple[str, ...] = ()) -> bool:
        """Tag a forum post; ``False`` (logged, missing permissions reported) on error."""
        if not add and not remove:
            return True
        try:
            await self.platform.tag_post(ref, add, remove)
            return True
        except MissingPermission as exc:
            await self.report_missing(ref.community_id, exc)
        except PlatformError as exc:
            log.warning("could not tag post %s: %s", ref.message_id, exc)
        return False

    async def hide(self, ev: MessagePosted, reason: str) -> bool:
        """Hide a message; ``False`` (reported) when the platform refuses."""
        try:
            await self.platform.hide(ev.message, reason)
            return True
        except MissingPermission as exc:
            await self.report_missing(ev.community_id, exc)
        except PlatformError as exc:
            log.warning("could not hide message %s: %s", ev.message.message_id, exc)
        return False

    async def hide_and_return(self, ev: MessagePosted, *, rule: str, explain: str,
                              private_text: str, notice: str | None,
                              notice_no_dm: str | None) -> tuple[bool, bool]:
        """Hide a post, send its author their text, and say so briefly in the channel.

        Returns ``(hidden, returned)``: whether the post was hidden and whether the
        author got their text privately. If the post cannot be hidden nothing is
        sent to the author (their post is still there).
        """
        if not await self.hide(ev, f"Haven: {rule}"):
            return False, False
        returned = await self.private(ev.community_id, ev.author.id, Outgoing(private_text)) == "private"
        text = notice if returned else notice_no_dm
        if text and self.explain_in_channel:
            await self.send(ev.community_id, ev.channel.id,
                            Outgoing(text, mention_users=(ev.author.id,)))
        return True, returned

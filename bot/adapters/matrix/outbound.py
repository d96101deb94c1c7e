"""What Haven sends: messages, replies, threads, edits, redactions, uploads, reposts.

Every send carries a transaction id; one derived from
:attr:`~bot.core.events.Outgoing.dedupe_key` makes a send repeated after a crash
the same transaction, so the homeserver keeps one event. Without encryption
Haven refuses to send plaintext into encrypted rooms.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import uuid
from typing import Any

from nio import RoomSendResponse

from bot.adapters.matrix.api import Api, upload_call
from bot.adapters.matrix.context import MatrixContext
from bot.adapters.matrix.format import HTML_FORMAT, command_words, render, user_pill
from bot.adapters.matrix.rooms import Rooms
from bot.core.errors import MissingPermission, PlatformError
from bot.core.events import Attachment, Member, MessageRef, Outgoing

TEXT_LIMIT = 30000
"""Keep outgoing bodies below Matrix's 64 KiB event limit."""


def transaction_id(dedupe_key: str | None) -> str | None:
    """A Matrix transaction id for a send that must happen once (``None``: a fresh one)."""
    if not dedupe_key:
        return None
    return "haven-" + hashlib.sha256(dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Outbound:
    """The sending verbs of the Platform port (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, api: Api, rooms: Rooms) -> None:
        self.ctx = ctx
        self.api = api
        self.rooms = rooms
        self.client = ctx.client

    def _command_words(self) -> frozenset[str]:
        return command_words(self.ctx.services.commands)

    def guard_encrypted(self, room_id: str) -> None:
        """Refuse to send plaintext into an encrypted room (no encryption support loaded)."""
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted and self.client.olm is None:
            raise MissingPermission(
                "send to end-to-end encrypted rooms (install matrix-nio[e2e] and set "
                "matrix.store_path)", self.rooms.channel(room_id).name)

    async def send_content(self, room_id: str, content: dict[str, Any],
                           event_type: str = "m.room.message", tx_id: str | None = None) -> str:
        """Send one event (same transaction id on every retry); returns its event id.

        ``tx_id`` derived from an :attr:`Outgoing.dedupe_key` makes a send repeated after a
        crash the same transaction, so the homeserver keeps one event.
        """
        self.guard_encrypted(room_id)
        if event_type == "m.room.message" and len(content.get("body", "")) > TEXT_LIMIT:
            content = {**content, "body": content["body"][:TEXT_LIMIT] + "…"}
            content.pop("formatted_body", None)
            content.pop("format", None)
        resp = await self.api.call(
            "sending a message", self.rooms.room_name(room_id), self.client.room_send,
            room_id, event_type, content, tx_id=tx_id or str(uuid.uuid4()),
            ignore_unverified_devices=True,
        )
        assert isinstance(resp, RoomSendResponse)
        return str(resp.event_id)

    async def deliver(self, room_id: str, msg: Outgoing, relates: dict[str, Any] | None = None,
                      header: str = "", extra_mentions: tuple[str, ...] = (),
                      commands: bool = True) -> MessageRef:
        """Render and send ``msg`` (then its attachments) in a room."""
        roles_users = self.rooms.role_users(msg.mention_roles)
        mentions = (*extra_mentions, *roles_users)
        names = {u: self.rooms.display(u, room_id) for u in (*msg.mention_users, *mentions)}
        content = render(msg, extra_mentions=mentions, names=names,
                         prefix=self.ctx.mx.command_prefix, header=header, commands=commands,
                         command_words=self._command_words())
        if relates:
            content["m.relates_to"] = relates
        tx = transaction_id(msg.dedupe_key)
        event_id = await self.send_content(room_id, content, tx_id=tx)
        thread = relates.get("event_id") if relates and relates.get("rel_type") == "m.thread" else None
        for i, attachment in enumerate(msg.attachments):
            media = await self.upload(room_id, attachment)
            if relates:
                media["m.relates_to"] = relates
            await self.send_content(room_id, media, tx_id=f"{tx}-{i}" if tx else None)
        return MessageRef(self.ctx.community_id, room_id, event_id, thread)

    async def upload(self, room_id: str, attachment: Attachment) -> dict[str, Any]:
        """Upload a file; the ``m.image``/``m.file`` content that shows it."""
        room = self.client.rooms.get(room_id)
        encrypt = bool(room is not None and room.encrypted and self.client.olm is not None)
        data = attachment.data

        def provider(_got_429: int, _got_timeouts: int) -> io.BytesIO:
            return io.BytesIO(data)

        resp, keys = await self.api.call(
            "uploading a file", self.rooms.room_name(room_id), upload_call, self.client, provider,
            attachment.content_type, attachment.filename, encrypt, len(data))
        is_image = attachment.content_type.startswith("image/")
        content: dict[str, Any] = {
            "msgtype": "m.image" if is_image else "m.file",
            "body": attachment.filename,
            "filename": attachment.filename,
            "info": {"mimetype": attachment.content_type, "size": len(data)},
        }
        if keys:
            content["file"] = {**keys, "url": resp.content_uri}
        else:
            content["url"] = resp.content_uri
        return content

    async def send_thread(self, ref: MessageRef, msg: Outgoing) -> MessageRef:
        """Post in the thread under ``ref`` (the thread it is in, or a new one rooted at it)."""
        root = ref.thread_id or ref.message_id
        relates = {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                   "m.in_reply_to": {"event_id": ref.message_id}}
        return await self.deliver(ref.channel_id, msg, relates)

    # ------------------------------------------------------------------
    # Platform verbs
    # ------------------------------------------------------------------

    async def send(self, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in a room named by config (id, alias, name or ``#name``)."""
        room_id = await self.rooms.resolve_room(channel)
        return await self.deliver(room_id, msg)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message; inside its thread when it is in one."""
        if to.thread_id:
            relates = {"rel_type": "m.thread", "event_id": to.thread_id, "is_falling_back": False,
                       "m.in_reply_to": {"event_id": to.message_id}}
        else:
            relates = {"m.in_reply_to": {"event_id": to.message_id}}
        return await self.deliver(to.channel_id, msg, relates)

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text of a message the bot sent (``m.replace``)."""
        new = render(msg, prefix=self.ctx.mx.command_prefix,
                     names={u: self.rooms.display(u, ref.channel_id) for u in msg.mention_users},
                     command_words=self._command_words())
        content = {
            "msgtype": "m.text",
            "body": "* " + new["body"],
            "format": HTML_FORMAT,
            "formatted_body": "* " + new["formatted_body"],
            "m.new_content": new,
            "m.mentions": {},
            "m.relates_to": {"rel_type": "m.replace", "event_id": ref.message_id},
        }
        await self.send_content(ref.channel_id, content)

    async def hide(self, ref: MessageRef, reason: str) -> None:
        """Redact a message (and any edits of it Haven has seen), with a reason."""
        where = self.rooms.room_name(ref.channel_id)
        await self.api.call("removing a message (redact)", where, self.client.room_redact,
                            ref.channel_id, ref.message_id, reason=reason,
                            tx_id=str(uuid.uuid4()))
        known = self.ctx.seen.get(ref.message_id)
        for edit_id in known.edits if known else []:
            with contextlib.suppress(PlatformError):
                await self.api.call("removing an edit (redact)", where, self.client.room_redact,
                                    ref.channel_id, edit_id, reason=reason,
                                    tx_id=str(uuid.uuid4()))

    async def repost(self, channel: str, author: Member, msg: Outgoing) -> MessageRef:
        """Post on the author's behalf, naming them (Matrix has no webhooks)."""
        room_id = await self.rooms.resolve_room(channel)
        header = f"Posted on behalf of {user_pill(author.id, author.name)}:"
        return await self.deliver(room_id, msg, header=header, extra_mentions=(author.id,),
                                  commands=False)

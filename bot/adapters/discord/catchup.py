"""Catch-up: support-place messages posted while Haven was offline, read in order at start."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import discord

from bot.adapters.discord.errors import error_place
from bot.adapters.discord.state import DiscordState, remember, to_channel
from bot.core.errors import MissingPermission
from bot.core.events import Event, MessagePosted

log = logging.getLogger(__name__)

LAST_SEEN_KEY = "discord:last_seen:{}"
"""Store key of the last handled message id of a support place."""

ToEvent = Callable[[discord.Message], Awaitable[MessagePosted | None]]
"""Reads a message into its event (``None`` for what Haven ignores)."""


class CatchUp:
    """Where each support place was read up to, and reading what was missed at start-up."""

    catch_up_limit: int | None = None
    """At most this many messages per channel or thread are read at start-up (``None``:
    all of them, however long Haven was offline)."""

    def __init__(self, state: DiscordState, to_event: ToEvent) -> None:
        self.state = state
        self.to_event = to_event
        self.caught_up: OrderedDict[int, None] = OrderedDict()
        """Messages fed by catch-up (their live delivery is skipped)."""
        self._last_seen: dict[str, int] = {}
        self._held: set[str] = set()
        self._stored_seen: dict[str, int] = {}

    async def deliver(self, event: Event, place: str | None = None,
                       message_id: int | None = None) -> None:
        """Give ``event`` to the core. Support-place messages are awaited so the
        last-seen id is written only once they are handled."""
        if place is None or message_id is None:
            self.state.core.submit(event)
            return
        try:
            await self.state.core.handle(event)
        except Exception:
            log.exception("core failed on message %s", message_id)
        await self.mark_seen(place, message_id)

    async def mark_seen(self, place: str, message_id: int) -> None:
        """Handled up to ``message_id`` in ``place``; stored unless the place is held."""
        if message_id > self._last_seen.get(place, 0):
            self._last_seen[place] = message_id
            if place in self._held:
                return  # part of this place was not read: keep the stored position
            await self.state.kv_set(LAST_SEEN_KEY.format(place), str(message_id))

    def support_channels(self, guild: discord.Guild) -> list[Any]:
        """The channels and forums of ``guild`` that are support places."""
        out = []
        for ch in [*guild.text_channels, *guild.forums]:
            if self.state.place_of(to_channel(ch)) is not None:
                out.append(ch)
        return out

    async def catch_up(self) -> int:
        """Feed support-place messages posted while Haven was offline, oldest first.

        Per server, the messages of every support channel, its threads and forum
        posts (active, and archived since) after the last handled id are merged in
        id (= time) order and handed to the core one by one, each awaited, with its
        original timestamp. Returns how many were handed over. The first time a
        support place is seen only its newest message id is recorded (no replay).

        Every failure is handled per item (a server, a channel, the list of archived
        threads, one thread's history, one message) and logged; the rest goes on. A
        place where something could not be read keeps its stored position until the
        next start (see :meth:`hold`), so what was missed is read again then; not
        for a missing permission (403), which is logged once instead.
        """
        total = 0
        self._held.clear()
        for guild in self.state.client.guilds:
            if not self.state.allowed_guild(guild.id):
                continue
            try:
                total += await self._catch_up_guild(guild)
            except Exception as exc:
                log.error("catch-up of %s failed (%s at %s)", guild.name, type(exc).__name__,
                          error_place(exc))
        if total:
            log.info("caught up on %d message(s) posted while Haven was offline", total)
        return total

    async def _catch_up_guild(self, guild: discord.Guild) -> int:
        backlog: list[tuple[discord.Message, str]] = []
        for channel in self.support_channels(guild):
            place = str(channel.id)
            try:
                backlog += [(m, place) for m in await self._missed(guild, channel)]
            except (discord.Forbidden, MissingPermission):
                self.state.warn_once(f"history:{channel.id}", "Haven cannot read the history of "
                                "#%s (Read Message History); posts made while it was offline "
                                "there are not caught up", channel.name)
            except discord.HTTPException as exc:
                self.hold(place)
                log.warning("catch-up of #%s failed: %s %s", channel.name, exc.status, exc.code)
            except Exception as exc:
                self.hold(place)
                log.error("catch-up of #%s failed (%s at %s)", channel.name, type(exc).__name__,
                          error_place(exc))
        backlog.sort(key=lambda item: item[0].id)
        total = 0
        for message, place in backlog:
            try:
                event = await self.to_event(message)
            except Exception as exc:
                log.error("could not read missed message %s (%s at %s); skipped", message.id,
                          type(exc).__name__, error_place(exc))
                continue
            if event is None:
                await self.mark_seen(place, message.id)
                continue
            remember(self.caught_up, message.id)
            await self.deliver(event, place, message.id)
            total += 1
        return total

    hold_max_age: float = 3 * 86400.0
    """A place is held (:meth:`hold`) at most this long after its stored position; the core
    recognises messages it handled again for 7 days."""

    def hold_all(self) -> None:
        """Hold every support place of every served server (catch-up was cut short)."""
        for guild in self.state.client.guilds:
            if self.state.allowed_guild(guild.id):
                for channel in self.support_channels(guild):
                    self.hold(str(channel.id))

    def hold(self, place: str) -> None:
        """Keep the stored position of ``place`` where it is until the next catch-up.

        Part of the place could not be read; advancing its position past the
        messages handled meanwhile would lose the unread ones for good. The core
        drops the messages it sees again (it handles each message version once).
        A position older than :attr:`hold_max_age` is let go (logged as an error):
        a part that stays unreadable must not make every start re-read ever more.
        """
        stored = self._stored_seen.get(place)
        if stored is not None:
            since = discord.utils.snowflake_time(stored).timestamp()
            if self.state.now() - since > self.hold_max_age:
                if f"hold:{place}" not in self.state.warned:
                    self.state.warned.add(f"hold:{place}")
                    log.error("part of <#%s> has not been readable since %s; Haven stops waiting "
                              "for it and moves on (posts in that part were not read)", place,
                              datetime.fromtimestamp(since, UTC).isoformat(timespec="minutes"))
                return
        self._held.add(place)

    async def _missed(self, guild: discord.Guild, channel: Any) -> list[discord.Message]:
        """Messages of a support place (and its threads) after its last handled id.

        A failure to list archived threads or to read one thread is logged and the
        place is held (:meth:`hold`); the channel's other sources are still read.
        """
        place = str(channel.id)
        raw = await self.state.kv_get(LAST_SEEN_KEY.format(place))
        if raw is None or not raw.isdigit():
            newest = max([channel.last_message_id or 0,
                          *[t.last_message_id or t.id for t in guild.threads if t.parent_id == channel.id]])
            if not newest:
                newest = discord.utils.time_snowflake(datetime.fromtimestamp(self.state.now(), UTC))
            await self.mark_seen(place, newest)
            return []
        after = int(raw)
        self._stored_seen[place] = after
        self._last_seen[place] = max(self._last_seen.get(place, 0), after)
        sources: list[Any] = []
        if not isinstance(channel, discord.ForumChannel) and (
            channel.last_message_id is None or channel.last_message_id > after
        ):
            sources.append(channel)
        threads: dict[int, discord.Thread] = {
            t.id: t for t in guild.threads
            if t.parent_id == channel.id and (t.last_message_id or t.id) > after
        }
        since = discord.utils.snowflake_time(after)
        # Public archived threads (and forum posts); in text channels also private ones,
        # which Haven sees with Manage Threads (a private support thread is still support).
        kinds = [False] if isinstance(channel, discord.ForumChannel) else [False, True]
        for private in kinds:
            what = "private archived threads" if private else "archived threads"
            try:
                listing = (channel.archived_threads(limit=None, private=True) if private
                           else channel.archived_threads(limit=None))
                async for thread in listing:
                    if thread.archive_timestamp < since:
                        break
                    if (thread.last_message_id or thread.id) > after:
                        threads.setdefault(thread.id, thread)
            except Exception as exc:
                if not isinstance(exc, discord.Forbidden):  # a missing permission stays missing
                    self.hold(place)
                status = getattr(exc, "status", None)
                self.state.warn_once(f"archived:{private}:{channel.id}:{status or type(exc).__name__}",
                                "could not list the %s of #%s (%s%s); reading its active threads "
                                "and messages, and trying again at the next start", what,
                                channel.name, type(exc).__name__, f" {status}" if status else "")
        sources.extend(threads.values())
        messages: list[discord.Message] = []
        for source in sources:
            try:
                messages += await self._read_source(source, after)
            except (discord.Forbidden, MissingPermission):
                # Not held: a missing permission stays missing until an admin grants it.
                self.state.warn_once(f"history:{source.id}", "Haven cannot read the history of "
                                "#%s (Read Message History); posts made while it was offline "
                                "there are not caught up", getattr(source, "name", source.id))
            except Exception as exc:
                self.hold(place)
                status = getattr(exc, "status", None)
                log.warning("catch-up could not read #%s (%s%s); the rest of #%s is read, and "
                            "this part again at the next start", getattr(source, "name", source.id),
                            type(exc).__name__, f" {status}" if status else "", channel.name)
        return messages

    async def _read_source(self, source: Any, after: int) -> list[discord.Message]:
        """Every message of one channel or thread after ``after``, oldest first.

        Complete by default (:attr:`catch_up_limit` ``None``); with a limit set and
        reached, the place is held and the span not read is logged as an error.
        """
        out: list[discord.Message] = []
        async for message in source.history(limit=self.catch_up_limit, after=discord.Object(after),
                                            oldest_first=True):
            out.append(message)
        if self.catch_up_limit is not None and len(out) >= self.catch_up_limit:
            place = str(getattr(source, "parent_id", None) or source.id)
            self.hold(place)
            log.error("catch-up of #%s stopped after %d messages: messages after %s were not "
                      "read now (they are read at the next start)", source.name, len(out),
                      out[-1].created_at.isoformat())
        return out

"""The SQLite store (aiosqlite): numbered migrations, WAL mode, typed methods.

No SQL lives outside this module. Every row carries its ``community_id`` so
work can later be split by shard. Message text is kept only where a human needs
it (alert and case excerpts, the excerpt of a post waiting for a reply) and is
purged after the retention period or as soon as it is no longer needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: everything the first release needs
    """
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE members (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        first_seen REAL NOT NULL, welcomed_at REAL, first_post_at REAL, greeted_at REAL,
        posts INTEGER NOT NULL DEFAULT 0, replies INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, user_id));
    CREATE TABLE tracked_posts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        channel_id TEXT NOT NULL, channel_name TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL, thread_id TEXT, author_id TEXT NOT NULL,
        posted_at REAL NOT NULL, link TEXT NOT NULL DEFAULT '', excerpt TEXT,
        state TEXT NOT NULL DEFAULT 'open', answered_at REAL, answered_by TEXT,
        reminded_at REAL, escalated_at REAL,
        UNIQUE (community_id, message_id));
    CREATE INDEX tracked_open ON tracked_posts (community_id, state, posted_at);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        member_id TEXT NOT NULL, member_name TEXT NOT NULL DEFAULT '',
        channel_id TEXT NOT NULL DEFAULT '', channel_name TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '', link TEXT NOT NULL DEFAULT '', excerpt TEXT,
        rule_id TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT 'high',
        state TEXT NOT NULL DEFAULT 'open', count INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        claimed_by TEXT, claimed_at REAL, resolved_by TEXT, resolved_at REAL, note TEXT,
        escalations INTEGER NOT NULL DEFAULT 0, messages TEXT NOT NULL DEFAULT '[]');
    CREATE INDEX alerts_state ON alerts (community_id, state);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, due_at REAL NOT NULL, payload TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        state TEXT NOT NULL DEFAULT 'pending', created_at REAL NOT NULL, done_at REAL);
    CREATE UNIQUE INDEX jobs_key ON jobs (kind, key) WHERE state = 'pending';
    CREATE INDEX jobs_due ON jobs (state, due_at);
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, action TEXT NOT NULL,
        rule_id TEXT, reason TEXT NOT NULL DEFAULT '', actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL DEFAULT '', target_id TEXT NOT NULL,
        target_name TEXT NOT NULL DEFAULT '', channel_id TEXT, message_id TEXT, excerpt TEXT,
        created_at REAL NOT NULL);
    CREATE INDEX cases_target ON cases (community_id, target_id);
    CREATE TABLE cooldowns (
        community_id TEXT NOT NULL, rule_id TEXT NOT NULL, user_id TEXT NOT NULL,
        until REAL NOT NULL, PRIMARY KEY (community_id, rule_id, user_id));
    CREATE TABLE duty (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        on_duty INTEGER NOT NULL DEFAULT 0, since REAL, quiet_start INTEGER, quiet_end INTEGER,
        last_alerted_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (community_id, user_id));
    CREATE TABLE handover (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        author_id TEXT NOT NULL, author_name TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE signposts (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, topic TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (community_id, user_id, topic));
    """,
    # 2: messages already handled (ids and a digest, never text), so a platform that
    # delivers an event twice (a replayed sync after a crash, history catch-up) is
    # handled exactly once.
    """
    CREATE TABLE seen_messages (
        community_id TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT NOT NULL,
        at REAL NOT NULL, PRIMARY KEY (community_id, message_id, digest));
    CREATE INDEX seen_at ON seen_messages (at);
    """,
    # 3: field hardening. Each alert keeps the place of every post (channel and link) and
    # its urgency (``quiet`` notes are never pinged or re-escalated); the outbox makes
    # member-facing deliveries idempotent (stored before sending, marked after); deliveries
    # holds command and button delivery ids so each is acted on once.
    """
    ALTER TABLE alerts ADD COLUMN places TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE alerts ADD COLUMN urgency TEXT NOT NULL DEFAULT 'now';
    CREATE TABLE outbox (
        community_id TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
        result TEXT, created_at REAL NOT NULL, done_at REAL,
        PRIMARY KEY (community_id, key));
    CREATE INDEX outbox_at ON outbox (created_at);
    CREATE TABLE deliveries (
        community_id TEXT NOT NULL, delivery_id TEXT NOT NULL, state TEXT NOT NULL,
        at REAL NOT NULL, PRIMARY KEY (community_id, delivery_id));
    CREATE INDEX deliveries_at ON deliveries (at);
    """,
)


@dataclass(frozen=True)
class MemberRow:
    """What Haven knows about a member."""

    community_id: str
    user_id: str
    name: str
    first_seen: float
    welcomed_at: float | None
    first_post_at: float | None
    greeted_at: float | None
    posts: int
    replies: int


@dataclass(frozen=True)
class TrackedPost:
    """A support post watched for a reply."""

    id: int
    community_id: str
    channel_id: str
    channel_name: str
    message_id: str
    thread_id: str | None
    author_id: str
    posted_at: float
    link: str
    excerpt: str | None
    state: str
    answered_at: float | None
    answered_by: str | None
    reminded_at: float | None
    escalated_at: float | None


@dataclass(frozen=True)
class Alert:
    """A crisis or safety alert for moderators."""

    id: int
    community_id: str
    kind: str
    member_id: str
    member_name: str
    channel_id: str
    channel_name: str
    message_id: str
    link: str
    excerpt: str | None
    rule_id: str
    severity: str
    state: str
    count: int
    created_at: float
    updated_at: float
    claimed_by: str | None
    claimed_at: float | None
    resolved_by: str | None
    resolved_at: float | None
    note: str | None
    escalations: int
    messages: str
    places: str = "[]"
    urgency: str = "now"

    def places_list(self) -> list[dict[str, Any]]:
        """Where each post behind this alert was made, oldest first: ``channel_id``,
        ``channel_name``, ``link``, ``message_id`` and ``private`` (a message to Haven)."""
        return list(json.loads(self.places or "[]"))

    @property
    def private(self) -> bool:
        """Whether the first post behind this alert was a private message to Haven."""
        places = self.places_list()
        return bool(places and places[0].get("private"))

    def message_refs(self) -> list[dict[str, Any]]:
        """The alert messages sent so far (to edit them when the state changes)."""
        return list(json.loads(self.messages or "[]"))


@dataclass(frozen=True)
class Job:
    """A persisted timer or delivery: runs once when due, retried on failure."""

    id: int
    community_id: str
    kind: str
    key: str
    due_at: float
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    state: str
    created_at: float
    done_at: float | None


@dataclass(frozen=True)
class Case:
    """A recorded moderation action."""

    id: int
    community_id: str
    action: str
    rule_id: str | None
    reason: str
    actor_id: str
    actor_name: str
    target_id: str
    target_name: str
    channel_id: str | None
    message_id: str | None
    excerpt: str | None
    created_at: float


@dataclass(frozen=True)
class DutyRow:
    """A moderator's duty status and quiet hours."""

    community_id: str
    user_id: str
    name: str
    on_duty: bool
    since: float | None
    quiet_start: int | None
    quiet_end: int | None
    last_alerted_at: float


@dataclass(frozen=True)
class HandoverEntry:
    """One entry of the shift logbook."""

    id: int
    community_id: str
    author_id: str
    author_name: str
    text: str
    created_at: float


def _place(channel_id: str, channel_name: str, message_id: str, link: str,
           private: bool) -> dict[str, Any]:
    return {"channel_id": channel_id, "channel_name": channel_name, "message_id": message_id,
            "link": "" if private else link, "private": private}


def _row(cls: type, row: aiosqlite.Row | None) -> Any:
    if row is None:
        return None
    data = dict(row)
    if cls is Job:
        data["payload"] = json.loads(data["payload"])
    if cls is DutyRow:
        data["on_duty"] = bool(data["on_duty"])
    return cls(**data)


class Store:
    """Async access to Haven's SQLite database. Open with :meth:`open`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at ``path``."""
        store = cls(str(path))
        if store.path != ":memory:":
            Path(store.path).parent.mkdir(parents=True, exist_ok=True)
        store._db = await aiosqlite.connect(store.path)
        try:
            store._db.row_factory = aiosqlite.Row
            await store._db.execute("PRAGMA journal_mode=WAL")
            await store._db.execute("PRAGMA foreign_keys=ON")
            await store._db.execute("PRAGMA busy_timeout=5000")
            await store.migrate()
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database {self.path} has schema version {version}, newer than this Haven "
                f"understands ({len(MIGRATIONS)}); upgrade Haven or use a backup")
        for number, script in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            log.info("applying store migration %d", number)
            await self.db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            version = number
        return version

    async def _one(self, sql: str, args: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, tuple(args)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, args: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, tuple(args)) as cur:
            return list(await cur.fetchall())

    async def _write(self, sql: str, args: Iterable[Any] = ()) -> int:
        async with self.db.execute(sql, tuple(args)) as cur:
            rowid = cur.lastrowid or 0
            changed = cur.rowcount
        await self.db.commit()
        return rowid if sql.lstrip().upper().startswith("INSERT") else changed

    # -- key/value -------------------------------------------------------------

    async def get_kv(self, key: str) -> str | None:
        """A stored value (sync tokens, last-seen ids, flags)."""
        row = await self._one("SELECT value FROM kv WHERE key = ?", (key,))
        return row["value"] if row else None

    async def set_kv(self, key: str, value: str) -> None:
        """Store a value under ``key``."""
        await self._write("INSERT INTO kv (key, value) VALUES (?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    async def delete_kv(self, key: str) -> None:
        """Forget ``key``."""
        await self._write("DELETE FROM kv WHERE key = ?", (key,))

    # -- members ---------------------------------------------------------------

    async def get_member(self, community_id: str, user_id: str) -> MemberRow | None:
        """The member row, if Haven has seen this member."""
        row = await self._one("SELECT * FROM members WHERE community_id = ? AND user_id = ?",
                              (community_id, user_id))
        return _row(MemberRow, row)

    async def touch_member(self, community_id: str, user_id: str, name: str, at: float) -> None:
        """Record that a member exists (first sight)."""
        await self._write(
            "INSERT INTO members (community_id, user_id, name, first_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(community_id, user_id) DO UPDATE SET name = excluded.name",
            (community_id, user_id, name, at))

    async def mark_welcomed(self, community_id: str, user_id: str, name: str, at: float) -> bool:
        """Mark a member welcomed; ``False`` if they already were (welcome once)."""
        await self.touch_member(community_id, user_id, name, at)
        changed = await self._write(
            "UPDATE members SET welcomed_at = ? WHERE community_id = ? AND user_id = ? "
            "AND welcomed_at IS NULL", (at, community_id, user_id))
        return changed > 0

    async def record_post(self, community_id: str, user_id: str, name: str, at: float,
                          is_reply_to_other: bool) -> bool:
        """Count a post; returns ``True`` when it is the member's first post."""
        await self.touch_member(community_id, user_id, name, at)
        await self._write(
            "UPDATE members SET posts = posts + 1, replies = replies + ? "
            "WHERE community_id = ? AND user_id = ?",
            (1 if is_reply_to_other else 0, community_id, user_id))
        first = await self._write(
            "UPDATE members SET first_post_at = ? WHERE community_id = ? AND user_id = ? "
            "AND first_post_at IS NULL", (at, community_id, user_id))
        return first > 0

    async def mark_greeted(self, community_id: str, user_id: str, at: float) -> bool:
        """Mark a member's first post greeted; ``False`` if already greeted."""
        changed = await self._write(
            "UPDATE members SET greeted_at = ? WHERE community_id = ? AND user_id = ? "
            "AND greeted_at IS NULL", (at, community_id, user_id))
        return changed > 0

    async def member_activity(self, community_id: str) -> list[MemberRow]:
        """Every member row of a community (for stats)."""
        rows = await self._all("SELECT * FROM members WHERE community_id = ?", (community_id,))
        return [_row(MemberRow, r) for r in rows]

    # -- unanswered posts ---------------------------------------------------------

    async def track_post(self, community_id: str, channel_id: str, channel_name: str,
                         message_id: str, thread_id: str | None, author_id: str,
                         posted_at: float, link: str, excerpt: str | None) -> int | None:
        """Start tracking a support post; ``None`` if it was already tracked."""
        async with self.db.execute(
            "INSERT OR IGNORE INTO tracked_posts (community_id, channel_id, channel_name, "
            "message_id, thread_id, author_id, posted_at, link, excerpt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, channel_id, channel_name, message_id, thread_id, author_id, posted_at,
             link, excerpt)) as cur:
            rowid = cur.lastrowid if cur.rowcount else None
        await self.db.commit()
        return rowid

    async def get_tracked(self, post_id: int) -> TrackedPost | None:
        """A tracked post by its row id."""
        return _row(TrackedPost, await self._one("SELECT * FROM tracked_posts WHERE id = ?",
                                                 (post_id,)))

    async def find_tracked(self, community_id: str, message_id: str) -> TrackedPost | None:
        """A tracked post by its message id (or thread id)."""
        row = await self._one(
            "SELECT * FROM tracked_posts WHERE community_id = ? AND (message_id = ? OR thread_id = ?)",
            (community_id, message_id, message_id))
        return _row(TrackedPost, row)

    async def open_posts_in_channel(self, community_id: str, channel_id: str,
                                    before: float) -> list[TrackedPost]:
        """Open tracked posts in a channel posted before ``before``."""
        rows = await self._all(
            "SELECT * FROM tracked_posts WHERE community_id = ? AND channel_id = ? "
            "AND state = 'open' AND posted_at <= ? ORDER BY posted_at", (community_id, channel_id,
                                                                           before))
        return [_row(TrackedPost, r) for r in rows]

    async def answer_post(self, post_id: int, by: str, at: float) -> bool:
        """Mark a post answered (dropping its excerpt); ``False`` if it was not open."""
        changed = await self._write(
            "UPDATE tracked_posts SET state = 'answered', answered_at = ?, answered_by = ?, "
            "excerpt = NULL WHERE id = ? AND state IN ('open', 'crisis')", (at, by, post_id))
        return changed > 0

    async def set_post_state(self, post_id: int, state: str) -> None:
        """Set a post's state (``deleted``, ``crisis``); deleted posts lose their excerpt."""
        drop = ", excerpt = NULL" if state in ("deleted", "crisis") else ""
        await self._write(f"UPDATE tracked_posts SET state = ?{drop} WHERE id = ?", (state, post_id))

    async def mark_post_reminded(self, post_id: int, at: float) -> None:
        """Record the nudge to peer supporters."""
        await self._write("UPDATE tracked_posts SET reminded_at = ? WHERE id = ?", (at, post_id))

    async def mark_post_escalated(self, post_id: int, at: float) -> None:
        """Record the escalation to moderators."""
        await self._write("UPDATE tracked_posts SET escalated_at = ? WHERE id = ?", (at, post_id))

    async def open_posts(self, community_id: str) -> list[TrackedPost]:
        """Posts still waiting for a reply, longest waiting first."""
        rows = await self._all("SELECT * FROM tracked_posts WHERE community_id = ? AND state = 'open' "
                               "ORDER BY posted_at", (community_id,))
        return [_row(TrackedPost, r) for r in rows]

    async def posts_since(self, community_id: str, since: float) -> list[TrackedPost]:
        """Tracked posts posted since ``since`` (for stats)."""
        rows = await self._all("SELECT * FROM tracked_posts WHERE community_id = ? AND posted_at >= ? "
                               "ORDER BY posted_at", (community_id, since))
        return [_row(TrackedPost, r) for r in rows]

    # -- alerts ------------------------------------------------------------------

    async def create_alert(self, community_id: str, kind: str, member_id: str, member_name: str,
                           channel_id: str, channel_name: str, message_id: str, link: str,
                           excerpt: str | None, rule_id: str, severity: str, at: float,
                           urgency: str = "now", private: bool = False) -> int:
        """Open a new alert; returns its id. ``private``: the post was a message to Haven."""
        place = _place(channel_id, channel_name, message_id, link, private)
        return await self._write(
            "INSERT INTO alerts (community_id, kind, member_id, member_name, channel_id, "
            "channel_name, message_id, link, excerpt, rule_id, severity, created_at, updated_at, "
            "places, urgency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, kind, member_id, member_name, channel_id, channel_name, message_id,
             link, excerpt, rule_id, severity, at, at, json.dumps([place]), urgency))

    async def get_alert(self, alert_id: int) -> Alert | None:
        """An alert by id."""
        return _row(Alert, await self._one("SELECT * FROM alerts WHERE id = ?", (alert_id,)))

    async def open_alert_for(self, community_id: str, member_id: str, kind: str) -> Alert | None:
        """The member's alert of this kind still open or claimed, if any."""
        row = await self._one(
            "SELECT * FROM alerts WHERE community_id = ? AND member_id = ? AND kind = ? "
            "AND state IN ('open', 'claimed') ORDER BY id DESC LIMIT 1",
            (community_id, member_id, kind))
        return _row(Alert, row)

    async def update_alert_with_post(self, alert_id: int, excerpt: str | None, link: str,
                                     rule_id: str, severity: str, at: float,
                                     channel_id: str = "", channel_name: str = "",
                                     message_id: str = "", private: bool = False) -> None:
        """A further post by the same member: count it, keep the latest excerpt, and add
        its place (channel and link) to the alert's places."""
        alert = await self.get_alert(alert_id)
        places = alert.places_list() if alert is not None else []
        places.append(_place(channel_id, channel_name, message_id, link, private))
        await self._write(
            "UPDATE alerts SET count = count + 1, excerpt = ?, link = ?, rule_id = ?, "
            "severity = ?, updated_at = ?, places = ? WHERE id = ?",
            (excerpt, link, rule_id, severity, at, json.dumps(places), alert_id))

    async def upgrade_alert(self, alert_id: int, kind: str, urgency: str) -> None:
        """Raise an alert to a more urgent kind (a quiet concern note becoming a crisis alert)."""
        await self._write("UPDATE alerts SET kind = ?, urgency = ? WHERE id = ?",
                          (kind, urgency, alert_id))

    async def update_alert_excerpt(self, alert_id: int, excerpt: str | None, at: float) -> None:
        """The post behind an alert was edited: keep its latest words."""
        await self._write("UPDATE alerts SET excerpt = ?, updated_at = ? WHERE id = ?",
                          (excerpt, at, alert_id))

    async def anonymise_alert(self, alert_id: int, alias: str) -> None:
        """Replace the member on an alert by ``alias`` and drop its text."""
        await self._write("UPDATE alerts SET member_id = ?, member_name = ?, excerpt = NULL "
                          "WHERE id = ?", (alias, alias, alert_id))

    async def claim_alert(self, alert_id: int, by: str, at: float) -> bool:
        """Claim an open alert; ``False`` if it was not open."""
        return await self._write(
            "UPDATE alerts SET state = 'claimed', claimed_by = ?, claimed_at = ?, updated_at = ? "
            "WHERE id = ? AND state = 'open'", (by, at, at, alert_id)) > 0

    async def resolve_alert(self, alert_id: int, by: str, note: str | None, at: float) -> bool:
        """Resolve an alert; ``False`` if it was already resolved."""
        return await self._write(
            "UPDATE alerts SET state = 'resolved', resolved_by = ?, resolved_at = ?, note = ?, "
            "updated_at = ?, claimed_by = COALESCE(claimed_by, ?), "
            "claimed_at = COALESCE(claimed_at, ?) WHERE id = ? AND state != 'resolved'",
            (by, at, note, at, by, at, alert_id)) > 0

    async def bump_alert_escalation(self, alert_id: int) -> None:
        """Count a re-escalation."""
        await self._write("UPDATE alerts SET escalations = escalations + 1 WHERE id = ?",
                          (alert_id,))

    async def add_alert_message(self, alert_id: int, ref: dict[str, Any]) -> None:
        """Remember an alert message we sent (to edit later)."""
        alert = await self.get_alert(alert_id)
        if alert is None:
            return
        refs = [*alert.message_refs(), ref]
        await self._write("UPDATE alerts SET messages = ? WHERE id = ?", (json.dumps(refs), alert_id))

    async def alerts_by_state(self, community_id: str, states: tuple[str, ...]) -> list[Alert]:
        """Alerts in any of ``states``, oldest first."""
        marks = ",".join("?" for _ in states)
        rows = await self._all(f"SELECT * FROM alerts WHERE community_id = ? AND state IN ({marks}) "
                               "ORDER BY id", (community_id, *states))
        return [_row(Alert, r) for r in rows]

    async def alerts_since(self, community_id: str, since: float) -> list[Alert]:
        """Alerts created since ``since``."""
        rows = await self._all("SELECT * FROM alerts WHERE community_id = ? AND created_at >= ? "
                               "ORDER BY id", (community_id, since))
        return [_row(Alert, r) for r in rows]

    # -- jobs (timers and durable deliveries) -------------------------------------

    async def add_job(self, community_id: str, kind: str, key: str, due_at: float,
                      payload: dict[str, Any], at: float) -> int | None:
        """Schedule a job; ``None`` if a pending job with the same kind and key exists."""
        async with self.db.execute(
            "INSERT OR IGNORE INTO jobs (community_id, kind, key, due_at, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (community_id, kind, key, due_at, json.dumps(payload), at)) as cur:
            rowid = cur.lastrowid if cur.rowcount else None
        await self.db.commit()
        return rowid

    async def due_jobs(self, now: float, limit: int = 100) -> list[Job]:
        """Pending jobs due at or before ``now``, earliest first."""
        rows = await self._all("SELECT * FROM jobs WHERE state = 'pending' AND due_at <= ? "
                               "ORDER BY due_at, id LIMIT ?", (now, limit))
        return [_row(Job, r) for r in rows]

    async def next_due_at(self) -> float | None:
        """When the next pending job is due."""
        row = await self._one("SELECT MIN(due_at) AS due FROM jobs WHERE state = 'pending'")
        return row["due"] if row and row["due"] is not None else None

    async def pending_job(self, kind: str, key: str) -> Job | None:
        """The pending job of ``kind`` with ``key``, if any."""
        return _row(Job, await self._one("SELECT * FROM jobs WHERE state = 'pending' AND kind = ? "
                                         "AND key = ?", (kind, key)))

    async def set_job_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        """Replace a pending job's payload (what it will do when it runs)."""
        await self._write("UPDATE jobs SET payload = ? WHERE id = ?", (json.dumps(payload), job_id))

    async def get_job(self, job_id: int) -> Job | None:
        """A job by id."""
        return _row(Job, await self._one("SELECT * FROM jobs WHERE id = ?", (job_id,)))

    async def finish_job(self, job_id: int, at: float, state: str = "done") -> None:
        """Mark a job done (or ``failed``/``cancelled``)."""
        await self._write("UPDATE jobs SET state = ?, done_at = ? WHERE id = ?", (state, at, job_id))

    async def retry_job(self, job_id: int, due_at: float, error: str) -> None:
        """Count a failed attempt and try again at ``due_at``."""
        await self._write("UPDATE jobs SET attempts = attempts + 1, last_error = ?, due_at = ? "
                          "WHERE id = ?", (error[:500], due_at, job_id))

    async def bring_forward_jobs(self, kind: str, due_at: float) -> int:
        """Make pending jobs of ``kind`` due no later than ``due_at``; returns how many moved."""
        return await self._write("UPDATE jobs SET due_at = ? WHERE state = 'pending' AND kind = ? "
                                 "AND due_at > ?", (due_at, kind, due_at))

    async def cancel_jobs(self, kind: str, key_prefix: str) -> int:
        """Cancel pending jobs of ``kind`` whose key starts with ``key_prefix``.

        The comparison is exact and case-sensitive (Matrix ids differ only by
        case); ``LIKE`` would ignore case and treat ``%`` and ``_`` specially.
        """
        return await self._write(
            "UPDATE jobs SET state = 'cancelled' WHERE state = 'pending' AND kind = ? "
            "AND substr(key, 1, length(?)) = ?", (kind, key_prefix, key_prefix))

    async def pending_jobs(self, community_id: str | None = None) -> list[Job]:
        """Every pending job (optionally of one community)."""
        if community_id is None:
            rows = await self._all("SELECT * FROM jobs WHERE state = 'pending' ORDER BY due_at")
        else:
            rows = await self._all("SELECT * FROM jobs WHERE state = 'pending' AND community_id = ? "
                                   "ORDER BY due_at", (community_id,))
        return [_row(Job, r) for r in rows]

    # -- cases ----------------------------------------------------------------------

    async def add_case(self, community_id: str, action: str, rule_id: str | None, reason: str,
                       actor_id: str, actor_name: str, target_id: str, target_name: str,
                       at: float, channel_id: str | None = None, message_id: str | None = None,
                       excerpt: str | None = None) -> int:
        """Record a moderation action; returns the case number."""
        return await self._write(
            "INSERT INTO cases (community_id, action, rule_id, reason, actor_id, actor_name, "
            "target_id, target_name, channel_id, message_id, excerpt, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, action, rule_id, reason, actor_id, actor_name, target_id, target_name,
             channel_id, message_id, excerpt, at))

    async def get_case(self, community_id: str, case_id: int) -> Case | None:
        """A case by number, within a community."""
        return _row(Case, await self._one("SELECT * FROM cases WHERE community_id = ? AND id = ?",
                                          (community_id, case_id)))

    async def find_case(self, community_id: str, message_id: str, action: str) -> Case | None:
        """The case recorded for ``action`` on a message, if any (acting once per post)."""
        return _row(Case, await self._one(
            "SELECT * FROM cases WHERE community_id = ? AND message_id = ? AND action = ? "
            "ORDER BY id LIMIT 1", (community_id, message_id, action)))

    async def set_case_excerpt(self, case_id: int, excerpt: str | None) -> None:
        """Replace the text kept in a case (shortened once the author has their text)."""
        await self._write("UPDATE cases SET excerpt = ? WHERE id = ?", (excerpt, case_id))

    async def delete_case(self, case_id: int) -> None:
        """Drop a case recorded ahead of an action that then did not happen."""
        await self._write("DELETE FROM cases WHERE id = ?", (case_id,))

    async def cases_for(self, community_id: str, target_id: str) -> list[Case]:
        """Every case about a member, oldest first."""
        rows = await self._all("SELECT * FROM cases WHERE community_id = ? AND target_id = ? "
                               "ORDER BY id", (community_id, target_id))
        return [_row(Case, r) for r in rows]

    async def cases_since(self, community_id: str, since: float) -> list[Case]:
        """Cases recorded since ``since``."""
        rows = await self._all("SELECT * FROM cases WHERE community_id = ? AND created_at >= ? "
                               "ORDER BY id", (community_id, since))
        return [_row(Case, r) for r in rows]

    # -- cooldowns and signposting memory --------------------------------------------

    async def cooldown_active(self, community_id: str, rule_id: str, user_id: str,
                              now: float) -> bool:
        """Whether a rule is cooling down for this member."""
        row = await self._one("SELECT until FROM cooldowns WHERE community_id = ? AND rule_id = ? "
                              "AND user_id = ?", (community_id, rule_id, user_id))
        return bool(row and row["until"] > now)

    async def start_cooldown(self, community_id: str, rule_id: str, user_id: str,
                             until: float) -> None:
        """Start a rule's cooldown for a member."""
        await self._write("INSERT INTO cooldowns VALUES (?, ?, ?, ?) ON CONFLICT(community_id, "
                          "rule_id, user_id) DO UPDATE SET until = excluded.until",
                          (community_id, rule_id, user_id, until))

    async def last_signposted(self, community_id: str, user_id: str, topic: str) -> float | None:
        """When this member was last sent signposting on ``topic``."""
        row = await self._one("SELECT at FROM signposts WHERE community_id = ? AND user_id = ? "
                              "AND topic = ?", (community_id, user_id, topic))
        return row["at"] if row else None

    async def mark_signposted(self, community_id: str, user_id: str, topic: str, at: float) -> None:
        """Remember that signposting on ``topic`` was sent."""
        await self._write("INSERT INTO signposts VALUES (?, ?, ?, ?) ON CONFLICT(community_id, "
                          "user_id, topic) DO UPDATE SET at = excluded.at",
                          (community_id, user_id, topic, at))

    # -- duty roster and handover ------------------------------------------------------

    async def set_duty(self, community_id: str, user_id: str, name: str, on: bool,
                       at: float) -> None:
        """Put a moderator on or off duty."""
        await self._write(
            "INSERT INTO duty (community_id, user_id, name, on_duty, since) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(community_id, user_id) DO UPDATE SET name = excluded.name, "
            "on_duty = excluded.on_duty, since = excluded.since",
            (community_id, user_id, name, int(on), at if on else None))

    async def set_quiet_hours(self, community_id: str, user_id: str, name: str,
                              start: int | None, end: int | None) -> None:
        """Set (or clear, with ``None``) a moderator's quiet hours."""
        await self._write(
            "INSERT INTO duty (community_id, user_id, name, quiet_start, quiet_end) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(community_id, user_id) DO UPDATE SET "
            "name = excluded.name, quiet_start = excluded.quiet_start, "
            "quiet_end = excluded.quiet_end", (community_id, user_id, name, start, end))

    async def duty_roster(self, community_id: str) -> list[DutyRow]:
        """Every moderator with a duty row, least recently alerted first."""
        rows = await self._all("SELECT * FROM duty WHERE community_id = ? "
                               "ORDER BY last_alerted_at, user_id", (community_id,))
        return [_row(DutyRow, r) for r in rows]

    async def mark_alerted(self, community_id: str, user_ids: Iterable[str], at: float) -> None:
        """Record that these moderators were just mentioned on an alert."""
        for uid in user_ids:
            await self._write("UPDATE duty SET last_alerted_at = ? WHERE community_id = ? "
                              "AND user_id = ?", (at, community_id, uid))

    async def add_handover(self, community_id: str, author_id: str, author_name: str, text: str,
                           at: float) -> int:
        """Add a logbook entry."""
        return await self._write("INSERT INTO handover (community_id, author_id, author_name, text, "
                                 "created_at) VALUES (?, ?, ?, ?, ?)",
                                 (community_id, author_id, author_name, text, at))

    async def latest_handover(self, community_id: str, limit: int = 5) -> list[HandoverEntry]:
        """The newest logbook entries, newest first."""
        rows = await self._all("SELECT * FROM handover WHERE community_id = ? "
                               "ORDER BY created_at DESC, id DESC LIMIT ?", (community_id, limit))
        return [_row(HandoverEntry, r) for r in rows]

    # -- delivered-once ----------------------------------------------------------

    async def mark_message_seen(self, community_id: str, message_id: str, digest: str,
                                at: float) -> bool:
        """Remember a message version; ``False`` if it was handled before."""
        async with self.db.execute(
            "INSERT OR IGNORE INTO seen_messages VALUES (?, ?, ?, ?)",
            (community_id, message_id, digest, at)) as cur:
            fresh = cur.rowcount > 0
        await self.db.commit()
        return fresh

    async def message_seen(self, community_id: str, message_id: str, digest: str) -> bool:
        """Whether this version of a message was handled already."""
        row = await self._one("SELECT 1 FROM seen_messages WHERE community_id = ? AND "
                              "message_id = ? AND digest = ?", (community_id, message_id, digest))
        return row is not None

    async def prune_seen_before(self, cutoff: float) -> int:
        """Forget handled-message markers older than ``cutoff``."""
        return await self._write("DELETE FROM seen_messages WHERE at < ?", (cutoff,))

    # -- outbox: deliveries made once --------------------------------------------

    async def outbox_begin(self, community_id: str, key: str, at: float) -> str | None:
        """Record that a delivery is about to be made; returns the stored result if it was
        made before (then it must not be made again), else ``None`` (go ahead)."""
        await self._write("INSERT OR IGNORE INTO outbox (community_id, key, created_at) "
                          "VALUES (?, ?, ?)", (community_id, key, at))
        row = await self._one("SELECT state, result FROM outbox WHERE community_id = ? AND key = ?",
                              (community_id, key))
        if row is not None and row["state"] == "sent":
            return str(row["result"] or "")
        return None

    async def outbox_done(self, community_id: str, key: str, result: str, at: float) -> None:
        """Mark a delivery made, with its result (``private``, ``fallback``, ...)."""
        await self._write("UPDATE outbox SET state = 'sent', result = ?, done_at = ? "
                          "WHERE community_id = ? AND key = ?", (result, at, community_id, key))

    async def outbox_forget(self, community_id: str, key: str) -> None:
        """A delivery failed: forget it, so a later attempt is made."""
        await self._write("DELETE FROM outbox WHERE community_id = ? AND key = ? "
                          "AND state = 'pending'", (community_id, key))

    async def outbox_state(self, community_id: str, key: str) -> str | None:
        """``pending``, ``sent`` or ``None`` (tests and diagnostics)."""
        row = await self._one("SELECT state FROM outbox WHERE community_id = ? AND key = ?",
                              (community_id, key))
        return str(row["state"]) if row else None

    async def prune_outbox_before(self, cutoff: float) -> int:
        """Forget outbox rows older than ``cutoff``."""
        return await self._write("DELETE FROM outbox WHERE created_at < ?", (cutoff,))

    # -- command and button deliveries ---------------------------------------------

    async def begin_delivery(self, community_id: str, delivery_id: str, at: float) -> str | None:
        """Claim a command/button delivery id; ``None`` when it is new (act on it), else the
        state of the earlier delivery (``running`` or ``done``): do nothing again."""
        async with self.db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, 'running', ?)",
                (community_id, delivery_id, at)) as cur:
            fresh = cur.rowcount > 0
        await self.db.commit()
        if fresh:
            return None
        row = await self._one("SELECT state FROM deliveries WHERE community_id = ? AND "
                              "delivery_id = ?", (community_id, delivery_id))
        return str(row["state"]) if row else "done"

    async def finish_delivery(self, community_id: str, delivery_id: str) -> None:
        """Mark a command/button delivery handled."""
        await self._write("UPDATE deliveries SET state = 'done' WHERE community_id = ? AND "
                          "delivery_id = ?", (community_id, delivery_id))

    async def prune_deliveries_before(self, cutoff: float) -> int:
        """Forget delivery ids older than ``cutoff``."""
        return await self._write("DELETE FROM deliveries WHERE at < ?", (cutoff,))

    # -- privacy ---------------------------------------------------------------------

    async def purge_text_before(self, cutoff: float) -> int:
        """Drop text older than ``cutoff``: excerpts in alerts, cases and tracked posts,
        and whole handover notes (which exist only as text). Returns rows changed."""
        total = 0
        total += await self._write("UPDATE alerts SET excerpt = NULL WHERE excerpt IS NOT NULL "
                                   "AND updated_at < ?", (cutoff,))
        total += await self._write("UPDATE cases SET excerpt = NULL WHERE excerpt IS NOT NULL "
                                   "AND created_at < ?", (cutoff,))
        total += await self._write("UPDATE tracked_posts SET excerpt = NULL WHERE excerpt IS NOT NULL "
                                   "AND posted_at < ?", (cutoff,))
        total += await self._write("DELETE FROM handover WHERE created_at < ?", (cutoff,))
        return total

    async def member_data(self, community_id: str, user_id: str) -> dict[str, Any]:
        """Everything Haven stores about a member (for ``mydata``)."""
        def rows_as_dicts(rows: list[aiosqlite.Row]) -> list[dict[str, Any]]:
            return [dict(r) for r in rows]

        return {
            "member": rows_as_dicts(await self._all(
                "SELECT * FROM members WHERE community_id = ? AND user_id = ?",
                (community_id, user_id))),
            "support_posts": rows_as_dicts(await self._all(
                "SELECT channel_name, posted_at, state, answered_at, excerpt FROM tracked_posts "
                "WHERE community_id = ? AND author_id = ?", (community_id, user_id))),
            "alerts_about_you": rows_as_dicts(await self._all(
                "SELECT id, kind, created_at, state, excerpt FROM alerts WHERE community_id = ? "
                "AND member_id = ?", (community_id, user_id))),
            "cases_about_you": rows_as_dicts(await self._all(
                "SELECT id, action, rule_id, reason, created_at, excerpt FROM cases "
                "WHERE community_id = ? AND target_id = ? AND action != 'note'",
                (community_id, user_id))),
            "duty": rows_as_dicts(await self._all(
                "SELECT on_duty, quiet_start, quiet_end FROM duty WHERE community_id = ? "
                "AND user_id = ?", (community_id, user_id))),
            "signposting": rows_as_dicts(await self._all(
                "SELECT topic, at FROM signposts WHERE community_id = ? AND user_id = ?",
                (community_id, user_id))),
        }

    async def forget_member(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete what Haven stores about a member.

        Moderation cases are kept (a moderator may need them) but anonymised:
        the member's id is replaced by ``alias`` and text is dropped. Alerts that
        are still open keep the member until they are resolved.
        """
        counts: dict[str, int] = {}
        args = (community_id, user_id)
        counts["member"] = await self._write(
            "DELETE FROM members WHERE community_id = ? AND user_id = ?", args)
        counts["support_posts"] = await self._write(
            "DELETE FROM tracked_posts WHERE community_id = ? AND author_id = ?", args)
        counts["signposting"] = await self._write(
            "DELETE FROM signposts WHERE community_id = ? AND user_id = ?", args)
        counts["cooldowns"] = await self._write(
            "DELETE FROM cooldowns WHERE community_id = ? AND user_id = ?", args)
        counts["duty"] = await self._write(
            "DELETE FROM duty WHERE community_id = ? AND user_id = ?", args)
        # Alerts still open or claimed keep the member until resolved: moderators must
        # still be able to reach someone who may be in crisis. They are anonymised when
        # resolved (see the ``forgotten:`` key).
        counts["alerts"] = await self._write(
            "UPDATE alerts SET member_id = ?, member_name = ?, excerpt = NULL "
            "WHERE community_id = ? AND member_id = ? AND state = 'resolved'",
            (alias, alias, community_id, user_id))
        async with self.db.execute(
                "SELECT COUNT(*) FROM alerts WHERE community_id = ? AND member_id = ? "
                "AND state != 'resolved'", args) as cur:
            row = await cur.fetchone()
        counts["open_alerts_kept"] = int(row[0]) if row else 0
        if counts["open_alerts_kept"]:
            await self.set_kv(f"forgotten:{community_id}:{user_id}", alias)
        counts["cases"] = await self._write(
            "UPDATE cases SET target_id = ?, target_name = ?, excerpt = NULL "
            "WHERE community_id = ? AND target_id = ?", (alias, alias, community_id, user_id))
        # A moderator forgetting themselves: their actions stay, without their id.
        await self._write("UPDATE cases SET actor_id = ?, actor_name = ? "
                          "WHERE community_id = ? AND actor_id = ?",
                          (alias, alias, community_id, user_id))
        await self._write("UPDATE alerts SET claimed_by = ? WHERE community_id = ? "
                          "AND claimed_by = ?", (alias, community_id, user_id))
        await self._write("UPDATE alerts SET resolved_by = ? WHERE community_id = ? "
                          "AND resolved_by = ?", (alias, community_id, user_id))
        await self._write("UPDATE tracked_posts SET answered_by = ? WHERE community_id = ? "
                          "AND answered_by = ?", (alias, community_id, user_id))
        await self._write("UPDATE handover SET author_id = ?, author_name = ? "
                          "WHERE community_id = ? AND author_id = ?",
                          (alias, alias, community_id, user_id))
        return counts

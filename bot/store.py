"""The store facade: :class:`Store` opens Haven's database and hands out its repositories.

The SQL lives in :mod:`bot.storage` (a :class:`~bot.storage.database.Database` with
transactions and one repository per concern). ``Store`` keeps every method callers know,
each delegating to its repository (``store.alerts.get_alert`` is ``store.get_alert``),
until callers use the repositories directly. Every row carries its ``community_id`` so
work can later be split by shard. Message text is kept only where a human needs it
(alert and case excerpts, the excerpt of a post waiting for a reply) and is purged after
the retention period or as soon as it is no longer needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.database import BASE_MIGRATIONS, Database
from bot.storage.privacy import Privacy
from bot.storage.repositories import (
    AlertsRepository,
    CasesRepository,
    DutyRepository,
    JobsRepository,
    KeyValueRepository,
    LedgerRepository,
    MembersRepository,
    TrackedPostsRepository,
)
from bot.storage.rows import (
    Alert,
    Case,
    DutyRow,
    HandoverEntry,
    Job,
    JobState,
    MemberRow,
    NewJob,
    PostState,
    TrackedPost,
)

__all__ = ["MIGRATIONS", "Alert", "Case", "DutyRow", "HandoverEntry", "Job", "MemberRow", "NewJob",
           "Store", "TrackedPost"]

MIGRATIONS = BASE_MIGRATIONS
"""Haven's numbered schema (re-exported from :mod:`bot.storage.database`)."""


class Store:
    """Haven's database and its repositories. Open with :meth:`open`.

    Attributes ``kv``, ``members``, ``posts``, ``alerts``, ``jobs``, ``cases``, ``duty``
    and ``ledger`` are the repositories, ``privacy`` composes their ``mydata``/``forgetme``/
    retention parts; the methods below delegate to them under their old names.
    """

    kv: KeyValueRepository
    members: MembersRepository
    posts: TrackedPostsRepository
    alerts: AlertsRepository
    jobs: JobsRepository
    cases: CasesRepository
    duty: DutyRepository
    ledger: LedgerRepository
    privacy: Privacy

    def __init__(self, path: str) -> None:
        self.path = path
        self._database: Database | None = None

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at ``path``."""
        store = cls(str(path))
        store._attach(await Database.open(path))
        return store

    def _attach(self, database: Database) -> None:
        self._database = database
        self.kv = KeyValueRepository(database)
        self.members = MembersRepository(database)
        self.posts = TrackedPostsRepository(database)
        self.alerts = AlertsRepository(database)
        self.jobs = JobsRepository(database)
        self.cases = CasesRepository(database)
        self.duty = DutyRepository(database)
        self.ledger = LedgerRepository(database)
        self.privacy = Privacy(database, [self.members, self.posts, self.alerts, self.cases,
                                          self.duty])

    @property
    def database(self) -> Database:
        """The open :class:`~bot.storage.database.Database` (transactions live there)."""
        if self._database is None:
            raise RuntimeError("store is not open")
        return self._database

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        return self.database.connection

    async def close(self) -> None:
        """Close the connection."""
        if self._database is not None:
            await self._database.close()
            self._database = None

    async def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        return await self.database.migrate()

    # -- kv ------------------------------------------------------------------
    async def get_kv(self, key: str) -> str | None:
        return await self.kv.get(key)

    async def set_kv(self, key: str, value: str) -> None:
        return await self.kv.set(key, value)

    async def delete_kv(self, key: str) -> None:
        return await self.kv.delete(key)

    # -- members -------------------------------------------------------------
    async def get_member(self, community_id: str, user_id: str) -> MemberRow | None:
        return await self.members.get_member(community_id, user_id)

    async def touch_member(self, community_id: str, user_id: str, name: str, at: float) -> None:
        return await self.members.touch_member(community_id, user_id, name, at)

    async def mark_welcomed(self, community_id: str, user_id: str, name: str, at: float) -> bool:
        return await self.members.mark_welcomed(community_id, user_id, name, at)

    async def record_post(self, community_id: str, user_id: str, name: str, at: float,
                          is_reply_to_other: bool) -> bool:
        return await self.members.record_post(community_id, user_id, name, at, is_reply_to_other)

    async def mark_greeted(self, community_id: str, user_id: str, at: float) -> bool:
        return await self.members.mark_greeted(community_id, user_id, at)

    async def member_activity(self, community_id: str) -> list[MemberRow]:
        return await self.members.member_activity(community_id)

    # -- posts ---------------------------------------------------------------
    async def track_post(self, community_id: str, channel_id: str, channel_name: str,
                         message_id: str, thread_id: str | None, author_id: str,
                         posted_at: float, link: str, excerpt: str | None) -> int | None:
        return await self.posts.track_post(community_id, channel_id, channel_name, message_id,
                                           thread_id, author_id, posted_at, link, excerpt)

    async def get_tracked(self, post_id: int) -> TrackedPost | None:
        return await self.posts.get_tracked(post_id)

    async def find_tracked(self, community_id: str, message_id: str) -> TrackedPost | None:
        return await self.posts.find_tracked(community_id, message_id)

    async def open_posts_in_channel(self, community_id: str, channel_id: str,
                                    before: float) -> list[TrackedPost]:
        return await self.posts.open_posts_in_channel(community_id, channel_id, before)

    async def answer_post(self, post_id: int, by: str, at: float) -> bool:
        return await self.posts.answer_post(post_id, by, at)

    async def set_post_state(self, post_id: int, state: PostState) -> None:
        return await self.posts.set_post_state(post_id, state)

    async def mark_post_reminded(self, post_id: int, at: float) -> None:
        return await self.posts.mark_post_reminded(post_id, at)

    async def mark_post_escalated(self, post_id: int, at: float) -> None:
        return await self.posts.mark_post_escalated(post_id, at)

    async def open_posts(self, community_id: str) -> list[TrackedPost]:
        return await self.posts.open_posts(community_id)

    async def posts_since(self, community_id: str, since: float) -> list[TrackedPost]:
        return await self.posts.posts_since(community_id, since)

    # -- alerts --------------------------------------------------------------
    async def create_alert(self, community_id: str, kind: str, member_id: str, member_name: str,
                           channel_id: str, channel_name: str, message_id: str, link: str,
                           excerpt: str | None, rule_id: str, severity: str, at: float,
                           urgency: str = "now", private: bool = False) -> int:
        return await self.alerts.create_alert(community_id, kind, member_id, member_name,
                                              channel_id, channel_name, message_id, link, excerpt,
                                              rule_id, severity, at, urgency, private)

    async def get_alert(self, alert_id: int) -> Alert | None:
        return await self.alerts.get_alert(alert_id)

    async def open_alert_for(self, community_id: str, member_id: str, kind: str) -> Alert | None:
        return await self.alerts.open_alert_for(community_id, member_id, kind)

    async def update_alert_with_post(self, alert_id: int, excerpt: str | None, link: str,
                                     rule_id: str, severity: str, at: float,
                                     channel_id: str = "", channel_name: str = "",
                                     message_id: str = "", private: bool = False) -> None:
        return await self.alerts.update_alert_with_post(alert_id, excerpt, link, rule_id, severity,
                                                        at, channel_id, channel_name, message_id,
                                                        private)

    async def upgrade_alert(self, alert_id: int, kind: str, urgency: str) -> None:
        return await self.alerts.upgrade_alert(alert_id, kind, urgency)

    async def update_alert_excerpt(self, alert_id: int, excerpt: str | None, at: float) -> None:
        return await self.alerts.update_alert_excerpt(alert_id, excerpt, at)

    async def anonymise_alert(self, alert_id: int, alias: str) -> None:
        return await self.alerts.anonymise_alert(alert_id, alias)

    async def claim_alert(self, alert_id: int, by: str, at: float) -> bool:
        return await self.alerts.claim_alert(alert_id, by, at)

    async def resolve_alert(self, alert_id: int, by: str, note: str | None, at: float) -> bool:
        return await self.alerts.resolve_alert(alert_id, by, note, at)

    async def bump_alert_escalation(self, alert_id: int) -> None:
        return await self.alerts.bump_alert_escalation(alert_id)

    async def add_alert_message(self, alert_id: int, ref: dict[str, Any]) -> None:
        return await self.alerts.add_alert_message(alert_id, ref)

    async def alerts_by_state(self, community_id: str, states: tuple[str, ...]) -> list[Alert]:
        return await self.alerts.alerts_by_state(community_id, states)

    async def alerts_since(self, community_id: str, since: float) -> list[Alert]:
        return await self.alerts.alerts_since(community_id, since)

    async def last_signposted(self, community_id: str, user_id: str, topic: str) -> float | None:
        return await self.alerts.last_signposted(community_id, user_id, topic)

    async def mark_signposted(self, community_id: str, user_id: str, topic: str, at: float) -> None:
        return await self.alerts.mark_signposted(community_id, user_id, topic, at)

    # -- jobs ----------------------------------------------------------------
    async def add_job(self, community_id: str, kind: str, key: str, due_at: float,
                      payload: dict[str, Any], at: float) -> int | None:
        return await self.jobs.add_job(community_id, kind, key, due_at, payload, at)

    async def due_jobs(self, now: float, limit: int = 100) -> list[Job]:
        return await self.jobs.due_jobs(now, limit)

    async def next_due_at(self) -> float | None:
        return await self.jobs.next_due_at()

    async def pending_job(self, kind: str, key: str) -> Job | None:
        return await self.jobs.pending_job(kind, key)

    async def set_job_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        return await self.jobs.set_job_payload(job_id, payload)

    async def get_job(self, job_id: int) -> Job | None:
        return await self.jobs.get_job(job_id)

    async def finish_job(self, job_id: int, at: float, state: JobState = "done") -> None:
        return await self.jobs.finish_job(job_id, at, state)

    async def retry_job(self, job_id: int, due_at: float, error: str) -> None:
        return await self.jobs.retry_job(job_id, due_at, error)

    async def bring_forward_jobs(self, kind: str, due_at: float) -> int:
        """Make pending jobs of ``kind`` due no later than ``due_at``; returns how many moved."""
        return await self.jobs.bring_forward_jobs(kind, due_at)

    async def cancel_jobs(self, kind: str, key_prefix: str) -> int:
        return await self.jobs.cancel_jobs(kind, key_prefix)

    async def pending_jobs(self, community_id: str | None = None) -> list[Job]:
        return await self.jobs.pending_jobs(community_id)

    async def finish_and_schedule(self, job_id: int, at: float, next_job: NewJob | None,
                                  state: JobState = "done") -> int | None:
        return await self.jobs.finish_and_schedule(job_id, at, next_job, state)

    # -- cases ---------------------------------------------------------------
    async def add_case(self, community_id: str, action: str, rule_id: str | None, reason: str,
                       actor_id: str, actor_name: str, target_id: str, target_name: str,
                       at: float, channel_id: str | None = None, message_id: str | None = None,
                       excerpt: str | None = None) -> int:
        return await self.cases.add_case(community_id, action, rule_id, reason, actor_id,
                                         actor_name, target_id, target_name, at, channel_id,
                                         message_id, excerpt)

    async def get_case(self, community_id: str, case_id: int) -> Case | None:
        return await self.cases.get_case(community_id, case_id)

    async def find_case(self, community_id: str, message_id: str, action: str) -> Case | None:
        return await self.cases.find_case(community_id, message_id, action)

    async def set_case_excerpt(self, case_id: int, excerpt: str | None) -> None:
        return await self.cases.set_case_excerpt(case_id, excerpt)

    async def delete_case(self, case_id: int) -> None:
        return await self.cases.delete_case(case_id)

    async def cases_for(self, community_id: str, target_id: str) -> list[Case]:
        return await self.cases.cases_for(community_id, target_id)

    async def cases_since(self, community_id: str, since: float) -> list[Case]:
        return await self.cases.cases_since(community_id, since)

    async def cooldown_active(self, community_id: str, rule_id: str, user_id: str,
                              now: float) -> bool:
        return await self.cases.cooldown_active(community_id, rule_id, user_id, now)

    async def start_cooldown(self, community_id: str, rule_id: str, user_id: str,
                             until: float) -> None:
        return await self.cases.start_cooldown(community_id, rule_id, user_id, until)

    # -- duty ----------------------------------------------------------------
    async def set_duty(self, community_id: str, user_id: str, name: str, on: bool,
                       at: float) -> None:
        return await self.duty.set_duty(community_id, user_id, name, on, at)

    async def set_quiet_hours(self, community_id: str, user_id: str, name: str,
                              start: int | None, end: int | None) -> None:
        return await self.duty.set_quiet_hours(community_id, user_id, name, start, end)

    async def duty_roster(self, community_id: str) -> list[DutyRow]:
        return await self.duty.duty_roster(community_id)

    async def mark_alerted(self, community_id: str, user_ids: Iterable[str], at: float) -> None:
        return await self.duty.mark_alerted(community_id, user_ids, at)

    async def add_handover(self, community_id: str, author_id: str, author_name: str, text: str,
                           at: float) -> int:
        return await self.duty.add_handover(community_id, author_id, author_name, text, at)

    async def latest_handover(self, community_id: str, limit: int = 5) -> list[HandoverEntry]:
        return await self.duty.latest_handover(community_id, limit)

    # -- ledger --------------------------------------------------------------
    async def mark_message_seen(self, community_id: str, message_id: str, digest: str,
                                at: float) -> bool:
        return await self.ledger.mark_message_seen(community_id, message_id, digest, at)

    async def message_seen(self, community_id: str, message_id: str, digest: str) -> bool:
        return await self.ledger.message_seen(community_id, message_id, digest)

    async def prune_seen_before(self, cutoff: float) -> int:
        return await self.ledger.prune_seen_before(cutoff)

    async def outbox_begin(self, community_id: str, key: str, at: float) -> str | None:
        return await self.ledger.outbox_begin(community_id, key, at)

    async def outbox_done(self, community_id: str, key: str, result: str, at: float) -> None:
        return await self.ledger.outbox_done(community_id, key, result, at)

    async def outbox_forget(self, community_id: str, key: str) -> None:
        return await self.ledger.outbox_forget(community_id, key)

    async def outbox_state(self, community_id: str, key: str) -> str | None:
        return await self.ledger.outbox_state(community_id, key)

    async def prune_outbox_before(self, cutoff: float) -> int:
        return await self.ledger.prune_outbox_before(cutoff)

    async def begin_delivery(self, community_id: str, delivery_id: str, at: float) -> str | None:
        return await self.ledger.begin_delivery(community_id, delivery_id, at)

    async def finish_delivery(self, community_id: str, delivery_id: str) -> None:
        return await self.ledger.finish_delivery(community_id, delivery_id)

    async def prune_deliveries_before(self, cutoff: float) -> int:
        return await self.ledger.prune_deliveries_before(cutoff)

    # -- privacy --------------------------------------------------------------------------

    async def purge_text_before(self, cutoff: float) -> int:
        """Drop text older than ``cutoff``: excerpts in alerts, cases and tracked posts,
        and whole handover notes (which exist only as text). Returns rows changed."""
        return await self.privacy.purge_text(cutoff)

    async def member_data(self, community_id: str, user_id: str) -> dict[str, Any]:
        """Everything Haven stores about a member (for ``mydata``)."""
        return dict(await self.privacy.export(community_id, user_id))

    async def forget_member(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete what Haven stores about a member, in one transaction (see
        :meth:`bot.storage.privacy.Privacy.forget`)."""
        return await self.privacy.forget(community_id, user_id, alias)

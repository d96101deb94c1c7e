"""JobsRepository: persisted timers and durable deliveries (the scheduler's queue)."""

from __future__ import annotations

import json
from typing import Any

from bot.storage.repositories.base import Repository
from bot.storage.rows import Job, JobState, NewJob, from_row


class JobsRepository(Repository):
    """Persisted timers and durable deliveries (the scheduler's queue)."""

    async def add_job(self, community_id: str, kind: str, key: str, due_at: float,
                      payload: dict[str, Any], at: float) -> int | None:
        """Schedule a job; ``None`` if a pending job with the same kind and key exists."""
        written = await self.db.execute(
            "INSERT OR IGNORE INTO jobs (community_id, kind, key, due_at, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (community_id, kind, key, due_at, json.dumps(payload), at))
        return written.rowid if written.rowcount else None

    async def due_jobs(self, now: float, limit: int = 100) -> list[Job]:
        """Pending jobs due at or before ``now``, earliest first."""
        rows = await self.db.all("SELECT * FROM jobs WHERE state = 'pending' AND due_at <= ? "
                                 "ORDER BY due_at, id LIMIT ?", (now, limit))
        return [from_row(Job, r) for r in rows]

    async def next_due_at(self) -> float | None:
        """When the next pending job is due."""
        row = await self.db.one("SELECT MIN(due_at) AS due FROM jobs WHERE state = 'pending'")
        return row["due"] if row and row["due"] is not None else None

    async def pending_job(self, kind: str, key: str) -> Job | None:
        """The pending job of ``kind`` with ``key``, if any."""
        return from_row(Job, await self.db.one("SELECT * FROM jobs WHERE state = 'pending' AND kind = ? "
                                               "AND key = ?", (kind, key)))

    async def set_job_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        """Replace a pending job's payload (what it will do when it runs)."""
        await self.db.write("UPDATE jobs SET payload = ? WHERE id = ?", (json.dumps(payload), job_id))

    async def get_job(self, job_id: int) -> Job | None:
        """A job by id."""
        return from_row(Job, await self.db.one("SELECT * FROM jobs WHERE id = ?", (job_id,)))

    async def finish_job(self, job_id: int, at: float, state: JobState = "done") -> None:
        """Mark a job done (or ``failed``/``cancelled``)."""
        await self.db.write("UPDATE jobs SET state = ?, done_at = ? WHERE id = ?", (state, at, job_id))

    async def retry_job(self, job_id: int, due_at: float, error: str) -> None:
        """Count a failed attempt and try again at ``due_at``."""
        await self.db.write("UPDATE jobs SET attempts = attempts + 1, last_error = ?, due_at = ? "
                            "WHERE id = ?", (error[:500], due_at, job_id))

    async def bring_forward_jobs(self, kind: str, due_at: float) -> int:
        """Make pending jobs of ``kind`` due no later than ``due_at``; returns how many moved."""
        return await self.db.write("UPDATE jobs SET due_at = ? WHERE state = 'pending' AND kind = ? "
                                   "AND due_at > ?", (due_at, kind, due_at))

    async def cancel_jobs(self, kind: str, key_prefix: str) -> int:
        """Cancel pending jobs of ``kind`` whose key starts with ``key_prefix``.

        The comparison is exact and case-sensitive (Matrix ids differ only by
        case); ``LIKE`` would ignore case and treat ``%`` and ``_`` specially.
        """
        return await self.db.write(
            "UPDATE jobs SET state = 'cancelled' WHERE state = 'pending' AND kind = ? "
            "AND substr(key, 1, length(?)) = ?", (kind, key_prefix, key_prefix))

    async def pending_jobs(self, community_id: str | None = None) -> list[Job]:
        """Every pending job (optionally of one community)."""
        if community_id is None:
            rows = await self.db.all("SELECT * FROM jobs WHERE state = 'pending' ORDER BY due_at")
        else:
            rows = await self.db.all("SELECT * FROM jobs WHERE state = 'pending' AND community_id = ? "
                                     "ORDER BY due_at", (community_id,))
        return [from_row(Job, r) for r in rows]

    async def finish_and_schedule(self, job_id: int, at: float, next_job: NewJob | None,
                                  state: JobState = "done") -> int | None:
        """Finish a job and schedule the next one (a daily purge, the next re-escalation)
        in one transaction: a crash between the two leaves the job still pending, never
        finished without its successor. Returns the new job's id (``None`` if a pending
        job with its kind and key exists, or there is no next job)."""
        async with self.db.transaction():
            await self.finish_job(job_id, at, state)
            if next_job is None:
                return None
            return await self.add_job(next_job.community_id, next_job.kind, next_job.key,
                                      next_job.due_at, dict(next_job.payload), at)

"""JobsRepository: persisted timers and durable deliveries (the scheduler's queue).

Several Haven processes may share one database. A process *claims* a due job before it
runs it: the claim writes the process's id (``claimed_by``) and a lease (``lease_until``)
in one statement, so two processes never hold the same job. A job whose holder died is
taken over by another process once its lease has run out; finishing (or retrying) a job
checks that the lease is still ours. On PostgreSQL the claim picks its rows with
``FOR UPDATE SKIP LOCKED`` (claimers never wait for each other); on SQLite the claim is
one ``BEGIN IMMEDIATE`` transaction (the database's write lock serialises claimers).
The two columns come with the base schema's migration 5.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from bot.storage.repositories.base import Repository
from bot.storage.rows import Job, JobState, NewJob, from_row

FREE = "(lease_until IS NULL OR lease_until <= ?)"
"""A job nobody holds: never claimed, released, or its holder's lease has run out."""


class JobsRepository(Repository):
    """Persisted timers and durable deliveries (the scheduler's queue), claimed with leases."""

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

    async def ping(self) -> None:
        """Raise if the database does not answer (the operators' ``/readyz``)."""
        await self.db.one("SELECT 1 AS ok")

    async def claim_due(self, holder: str, now: float, lease_until: float, limit: int = 20,
                        communities: Collection[str] | None = None) -> list[Job]:
        """Claim up to ``limit`` due jobs nobody holds for ``holder`` until ``lease_until``;
        earliest first. ``communities`` limits the claim to those communities' jobs (a
        process serving some Discord shards), ``None`` claims any."""
        scope = ""
        picked: list[Any] = [now, now]
        if communities is not None:
            if not communities:
                return []
            scope = f" AND community_id IN ({', '.join('?' for _ in communities)})"
            picked += list(communities)
        picked.append(limit)
        pick = (f"SELECT id FROM jobs WHERE state = 'pending' AND due_at <= ? AND {FREE}{scope} "
                "ORDER BY due_at, id LIMIT ?")
        async with self.db.transaction():
            if self.db.engine == "postgresql":
                # picked once, in a CTE: a LIMIT subquery inside ``IN`` may be run again
                rows = await self.db.all(
                    f"WITH picked AS ({pick} FOR UPDATE SKIP LOCKED) UPDATE jobs SET "
                    "claimed_by = ?, lease_until = ? FROM picked WHERE jobs.id = picked.id "
                    "RETURNING jobs.*", [*picked, holder, lease_until])
            else:  # the transaction holds SQLite's write lock: nobody claims meanwhile
                rows = await self.db.all(
                    f"UPDATE jobs SET claimed_by = ?, lease_until = ? WHERE id IN ({pick}) "
                    "RETURNING *", [holder, lease_until, *picked])
        return sorted((from_row(Job, r) for r in rows), key=lambda j: (j.due_at, j.id))

    async def acquire(self, job_id: int, holder: str, now: float, lease_until: float) -> Job | None:
        """Claim (or renew our claim on) one pending job; ``None`` if it is not pending or
        another process holds a lease on it that has not run out. One statement, atomic
        on its own (no transaction around it: a ``BEGIN`` and ``COMMIT`` less)."""
        row = await self.db.one(
            "UPDATE jobs SET claimed_by = ?, lease_until = ? WHERE id = ? AND state = 'pending' "
            f"AND (claimed_by = ? OR {FREE}) RETURNING *",
            (holder, lease_until, job_id, holder, now))
        return from_row(Job, row)

    async def release_instance(self, prefix: str, holder: str) -> int:
        """Free the pending jobs claimed by holders starting with ``prefix`` other than
        ``holder``: earlier runs of the same process (dead, since it restarted)."""
        return await self.db.write(
            "UPDATE jobs SET claimed_by = NULL, lease_until = NULL WHERE state = 'pending' "
            "AND claimed_by IS NOT NULL AND substr(claimed_by, 1, ?) = ? AND claimed_by <> ?",
            (len(prefix), prefix, holder))

    async def release_job(self, job_id: int, holder: str) -> None:
        """Give up our claim on a pending job without running it (any process may claim it)."""
        await self.db.write("UPDATE jobs SET claimed_by = NULL, lease_until = NULL WHERE id = ? "
                            "AND claimed_by = ? AND state = 'pending'", (job_id, holder))

    async def next_due_at(self) -> float | None:
        """When the next pending job can run: when it is due, or when its lease runs out."""
        row = await self.db.one(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at "
            "THEN lease_until ELSE due_at END) AS due FROM jobs WHERE state = 'pending'")
        return row["due"] if row and row["due"] is not None else None

    async def due_counts(self, now: float, late_after: float) -> tuple[int, int]:
        """How many pending jobs are due now, and how many of them are more than
        ``late_after`` seconds overdue (for the operators' metrics)."""
        row = await self.db.one(
            "SELECT COUNT(*) AS due, COALESCE(SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END), 0) "
            "AS late FROM jobs WHERE state = 'pending' AND due_at <= ?", (now - late_after, now))
        return (int(row["due"]), int(row["late"])) if row else (0, 0)

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

    async def finish_job(self, job_id: int, at: float, state: JobState = "done",
                         holder: str | None = None) -> bool:
        """Mark a job done (or ``failed``/``cancelled``). With ``holder``, only while that
        process still holds the job: returns ``False`` if another process took it over
        (its lease ran out), ``True`` if it is finished (also by its own handler)."""
        if holder is None:
            await self.db.write("UPDATE jobs SET state = ?, done_at = ? WHERE id = ?",
                                (state, at, job_id))
            return True
        changed = await self.db.write(
            "UPDATE jobs SET state = ?, done_at = ? WHERE id = ? AND claimed_by = ? "
            "AND state = 'pending'", (state, at, job_id, holder))
        if changed:
            return True
        job = await self.get_job(job_id)
        return job is not None and job.claimed_by == holder and job.state != "pending"

    async def retry_job(self, job_id: int, due_at: float, error: str,
                        holder: str | None = None) -> bool:
        """Count a failed attempt, release the job and try again at ``due_at`` (any process
        may then claim it). With ``holder``, only while that process still holds it."""
        sql = ("UPDATE jobs SET attempts = attempts + 1, last_error = ?, due_at = ?, "
               "claimed_by = NULL, lease_until = NULL WHERE id = ?")
        args: tuple[Any, ...] = (error[:500], due_at, job_id)
        if holder is not None:
            sql += " AND claimed_by = ?"
            args += (holder,)
        return bool(await self.db.write(sql, args))

    async def bring_forward_jobs(self, kind: str, due_at: float) -> int:
        """Make pending jobs of ``kind`` due no later than ``due_at``; returns how many moved."""
        return await self.db.write("UPDATE jobs SET due_at = ? WHERE state = 'pending' AND kind = ? "
                                   "AND due_at > ?", (due_at, kind, due_at))

    async def cancel_jobs(self, kind: str, key_prefix: str) -> int:
        """Cancel pending jobs of ``kind`` whose key starts with ``key_prefix``.

        The comparison is exact and case-sensitive (Matrix ids differ only by
        case); ``LIKE`` would ignore case and treat ``%`` and ``_`` specially.
        """
        exact = "substr(key, 1, length(?)) = ?"
        upper = _after_prefix(key_prefix) if self.db.engine == "sqlite" else None
        if upper is None:
            return await self.db.write(
                f"UPDATE jobs SET state = 'cancelled' WHERE state = 'pending' AND kind = ? "
                f"AND {exact}", (kind, key_prefix, key_prefix))
        # SQLite compares text byte by byte (UTF-8 order is code point order), so the keys
        # starting with the prefix are exactly those in [prefix, upper): the pending-key
        # index is searched instead of every pending job of the kind being read.
        return await self.db.write(
            f"UPDATE jobs SET state = 'cancelled' WHERE state = 'pending' AND kind = ? "
            f"AND key >= ? AND key < ? AND {exact}",
            (kind, key_prefix, upper, key_prefix, key_prefix))

    async def cancel_job(self, kind: str, key: str) -> int:
        """Cancel the pending job of ``kind`` whose key is exactly ``key`` (not the jobs whose
        keys merely start with it: case 12's key is a prefix of case 120's)."""
        return await self.db.write(
            "UPDATE jobs SET state = 'cancelled' WHERE state = 'pending' AND kind = ? AND key = ?",
            (kind, key))

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


def _after_prefix(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix`` (its last
    character's successor), or ``None`` when there is none to write (an empty prefix, a
    last character with no encodable successor)."""
    if not prefix:
        return None
    nxt = ord(prefix[-1]) + 1
    if nxt > 0x10FFFF or 0xD800 <= nxt <= 0xDFFF:
        return None
    return prefix[:-1] + chr(nxt)


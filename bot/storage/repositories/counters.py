"""Numbers readable per community: each community's alerts, cases and digests count
1, 2, 3 ... on their own, also when several processes share one database.

The ``counters`` table (base migration 6) holds the last number given per community and
kind. :func:`next_number` bumps it with one upsert, inside the transaction that inserts
the numbered row: the bump holds the counter's row (PostgreSQL) or the whole database
(SQLite) until that transaction ends, so two processes never get the same number, and a
rolled-back insert gives its number back (no gap).
"""

from __future__ import annotations

from typing import Literal

from bot.storage.database import Database

CounterKind = Literal["alert", "case", "digest"]
"""What is numbered per community."""


MAX_NUMBER = 2**63 - 1
"""The largest number either engine stores (a 64-bit integer)."""


def valid_number(number: int) -> bool:
    """Whether ``number`` could be a row's number (typed numbers are checked before a
    lookup: 0, negatives and numbers beyond 64 bits find nothing, they never fail)."""
    return 0 < number <= MAX_NUMBER


async def next_number(db: Database, community_id: str, kind: CounterKind) -> int:
    """The next number of ``kind`` in ``community_id`` (1 for the first). Call inside the
    transaction that inserts the numbered row."""
    row = await db.one(
        "INSERT INTO counters (community_id, kind, value) VALUES (?, ?, 1) "
        "ON CONFLICT (community_id, kind) DO UPDATE SET value = counters.value + 1 "
        "RETURNING value", (community_id, kind))
    if row is None:  # pragma: no cover - an upsert with RETURNING always returns its row
        raise RuntimeError(f"counter {kind} of {community_id} returned nothing")
    return int(row["value"])


async def last_number(db: Database, community_id: str, kind: CounterKind) -> int:
    """The last number of ``kind`` given in ``community_id`` (0: none yet)."""
    row = await db.one("SELECT value FROM counters WHERE community_id = ? AND kind = ?",
                       (community_id, kind))
    return int(row["value"]) if row is not None else 0

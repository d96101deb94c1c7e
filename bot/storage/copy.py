"""``haven db copy``: every row of one Haven database into another (SQLite to PostgreSQL).

Both are opened with the same migrations, so their tables match; the source is brought
up to date first, exactly as starting Haven on it would. The target must hold no rows
(a fresh database): the copy is one transaction there, so a failure half-way leaves it
empty. Rows keep their ids (alert and case numbers stay what moderators know), and new
ids continue after them. Run it with Haven stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.storage.database import Database, Migration

log = logging.getLogger(__name__)

BOOKKEEPING = frozenset({"schema_versions", "haven_schema"})
"""Each engine's record of applied migrations: made by opening, never copied."""


class CopyRefused(RuntimeError):
    """The copy cannot be made (the target holds data); nothing was written."""


async def copy_rows(source: Database, target: Database) -> dict[str, int]:
    """Copy every Haven table's rows from ``source`` into the empty ``target``, in one
    transaction there; returns the rows copied per table."""
    tables = [t for t in await source.tables() if t not in BOOKKEEPING]
    missing = sorted(set(tables) - set(await target.tables()))
    if missing:
        raise CopyRefused(f"the target has no table(s) {', '.join(missing)}: open both with "
                          "the same Haven version")
    for table in tables:
        if await target.one(f"SELECT 1 FROM {table} LIMIT 1") is not None:
            raise CopyRefused(f"the target already holds data (table {table}): copy only into "
                              "a new, empty database")
    copied: dict[str, int] = {}
    async with target.transaction():
        for table in tables:
            rows = await source.all(f"SELECT * FROM {table}")
            copied[table] = len(rows)
            if not rows:
                continue
            columns = list(rows[0].keys())
            marks = ", ".join("?" for _ in columns)
            await target.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                [tuple(r[c] for c in columns) for r in rows])
            log.info("copied %d row(s) of %s", len(rows), table)
        await target.after_copy()
    return copied


async def copy_database(source: str, target: str,
                        migrations: Sequence[Migration] = ()) -> dict[str, int]:
    """Open ``source`` and ``target`` (paths or URLs) with ``migrations``, copy every
    row across (:func:`copy_rows`) and close both."""
    src = await Database.open(source, migrations)
    try:
        dst = await Database.open(target, migrations)
        try:
            return await copy_rows(src, dst)
        finally:
            await dst.close()
    finally:
        await src.close()

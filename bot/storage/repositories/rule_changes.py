"""RuleChangesRepository: every change to the community's rule file, who made it and the diff.

The dashboard's rule editor saves a change only after the new rules validated and their
examples passed; each saved change is stored here (who, when, the unified diff, lines
added and removed, the file's SHA-256 before and after). Rule files hold no member text,
so the diff is kept; a moderator who asks to be forgotten stays in the history as an alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bot.storage.database import Migration
from bot.storage.repositories.base import Repository, as_dicts

MIGRATIONS: tuple[Migration, ...] = (
    Migration("ruleset", 1, """
    CREATE TABLE rule_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        file TEXT NOT NULL, actor_id TEXT NOT NULL, actor_name TEXT NOT NULL DEFAULT '',
        changed_at REAL NOT NULL, diff TEXT NOT NULL, added INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0, sha_before TEXT NOT NULL DEFAULT '',
        sha_after TEXT NOT NULL DEFAULT '', rules INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX rule_changes_recent ON rule_changes (community_id, id);
    """),
)
"""The ruleset feature's own table (owner ``ruleset``)."""


@dataclass(frozen=True)
class RuleChange:
    """One saved change of a rule file: who, when, and the unified diff."""

    id: int
    community_id: str
    file: str
    actor_id: str
    actor_name: str
    changed_at: float
    diff: str
    added: int
    removed: int
    sha_before: str
    sha_after: str
    rules: int
    """How many rules were in force after the change."""


class RuleChangesRepository(Repository):
    """The history of rule-file changes (the ruleset feature)."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS

    async def add(self, community_id: str, file: str, actor_id: str, actor_name: str, at: float,
                  diff: str, added: int, removed: int, sha_before: str, sha_after: str,
                  rules: int) -> int:
        """Record a saved change; returns its number."""
        return await self.db.write(
            "INSERT INTO rule_changes (community_id, file, actor_id, actor_name, changed_at, "
            "diff, added, removed, sha_before, sha_after, rules) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, file, actor_id, actor_name, at, diff, added, removed, sha_before,
             sha_after, rules))

    async def recent(self, community_id: str, limit: int = 20) -> list[RuleChange]:
        """The latest changes, newest first."""
        rows = await self.db.all("SELECT * FROM rule_changes WHERE community_id = ? "
                                 "ORDER BY id DESC LIMIT ?", (community_id, limit))
        return [RuleChange(**dict(r)) for r in rows]

    async def get(self, community_id: str, change_id: int) -> RuleChange | None:
        """One change by number, within a community."""
        row = await self.db.one("SELECT * FROM rule_changes WHERE community_id = ? AND id = ?",
                                (community_id, change_id))
        return RuleChange(**dict(row)) if row is not None else None

    # -- privacy: a moderator's changes ---------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The rule changes the member made (``mydata``), without the diffs."""
        rows = await self.db.all(
            "SELECT id, file, changed_at, added, removed FROM rule_changes "
            "WHERE community_id = ? AND actor_id = ? ORDER BY id", (community_id, user_id))
        return {"rule_changes_by_you": as_dicts(rows)} if rows else {}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Keep the history of the rules, with ``alias`` in place of the member."""
        changed = await self.db.write(
            "UPDATE rule_changes SET actor_id = ?, actor_name = ? "
            "WHERE community_id = ? AND actor_id = ?", (alias, alias, community_id, user_id))
        return {"rule_changes": changed} if changed else {}

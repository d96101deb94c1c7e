"""CasesRepository: moderation cases and rule cooldowns."""

from __future__ import annotations

from typing import Any

from bot.storage.repositories.base import Repository, as_dicts
from bot.storage.repositories.counters import next_number, valid_number
from bot.storage.rows import Case, from_row


class CasesRepository(Repository):
    """Moderation cases and rule cooldowns."""

    async def record_case(self, community_id: str, action: str, rule_id: str | None,
                          reason: str, actor_id: str, actor_name: str, target_id: str,
                          target_name: str, at: float, channel_id: str | None = None,
                          message_id: str | None = None, excerpt: str | None = None) -> Case:
        """Record a moderation action with the community's next case number; returns the
        case. The number and the row are stored together."""
        async with self.db.transaction():
            number = await next_number(self.db, community_id, "case")
            row = await self.db.one(
                "INSERT INTO cases (community_id, action, rule_id, reason, actor_id, "
                "actor_name, target_id, target_name, channel_id, message_id, excerpt, "
                "created_at, number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (community_id, action, rule_id, reason, actor_id, actor_name, target_id,
                 target_name, channel_id, message_id, excerpt, at, number))
        case: Case = from_row(Case, row)
        return case

    async def add_case(self, community_id: str, action: str, rule_id: str | None, reason: str,
                       actor_id: str, actor_name: str, target_id: str, target_name: str,
                       at: float, channel_id: str | None = None, message_id: str | None = None,
                       excerpt: str | None = None) -> int:
        """Record a moderation action (:meth:`record_case`); returns the case's id (its
        key in the store; ``Case.number`` is what moderators see)."""
        case = await self.record_case(community_id, action, rule_id, reason, actor_id,
                                      actor_name, target_id, target_name, at, channel_id,
                                      message_id, excerpt)
        return case.id

    async def get_case(self, community_id: str, case_id: int) -> Case | None:
        """A case by id, within a community."""
        return from_row(Case, await self.db.one("SELECT * FROM cases WHERE community_id = ? AND id = ?",
                                                (community_id, case_id)))

    async def case_by_number(self, community_id: str, number: int) -> Case | None:
        """A case by the number moderators see, within ``community_id`` only (a number no
        case can have finds none)."""
        if not valid_number(number):
            return None
        return from_row(Case, await self.db.one(
            "SELECT * FROM cases WHERE community_id = ? AND number = ?", (community_id, number)))

    async def find_case(self, community_id: str, message_id: str, action: str) -> Case | None:
        """The case recorded for ``action`` on a message, if any (acting once per post)."""
        return from_row(Case, await self.db.one(
            "SELECT * FROM cases WHERE community_id = ? AND message_id = ? AND action = ? "
            "ORDER BY id LIMIT 1", (community_id, message_id, action)))

    async def set_case_excerpt(self, case_id: int, excerpt: str | None) -> None:
        """Replace the text kept in a case (shortened once the author has their text)."""
        await self.db.write("UPDATE cases SET excerpt = ? WHERE id = ?", (excerpt, case_id))

    async def delete_case(self, case_id: int) -> None:
        """Drop a case recorded ahead of an action that then did not happen."""
        await self.db.write("DELETE FROM cases WHERE id = ?", (case_id,))

    async def cases_for(self, community_id: str, target_id: str) -> list[Case]:
        """Every case about a member, oldest first."""
        rows = await self.db.all("SELECT * FROM cases WHERE community_id = ? AND target_id = ? "
                                 "ORDER BY id", (community_id, target_id))
        return [from_row(Case, r) for r in rows]

    async def cases_since(self, community_id: str, since: float) -> list[Case]:
        """Cases recorded since ``since``."""
        rows = await self.db.all("SELECT * FROM cases WHERE community_id = ? AND created_at >= ? "
                                 "ORDER BY id", (community_id, since))
        return [from_row(Case, r) for r in rows]

    async def cooldown_active(self, community_id: str, rule_id: str, user_id: str,
                              now: float) -> bool:
        """Whether a rule is cooling down for this member."""
        row = await self.db.one("SELECT until FROM cooldowns WHERE community_id = ? AND rule_id = ? "
                                "AND user_id = ?", (community_id, rule_id, user_id))
        return bool(row and row["until"] > now)

    async def start_cooldown(self, community_id: str, rule_id: str, user_id: str,
                             until: float) -> None:
        """Start a rule's cooldown for a member."""
        await self.db.write("INSERT INTO cooldowns VALUES (?, ?, ?, ?) ON CONFLICT(community_id, "
                            "rule_id, user_id) DO UPDATE SET until = excluded.until",
                            (community_id, rule_id, user_id, until))

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``cases_about_you`` (moderators' private notes are not shown)."""
        return {"cases_about_you": as_dicts(await self.db.all(
            "SELECT number AS id, action, rule_id, reason, created_at, excerpt FROM cases "
            "WHERE community_id = ? AND target_id = ? AND action != 'note'",
            (community_id, user_id)))}

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete cooldowns; keep cases for moderators but as ``alias`` and without text."""
        counts: dict[str, int] = {}
        counts["cooldowns"] = await self.db.write(
            "DELETE FROM cooldowns WHERE community_id = ? AND user_id = ?", (community_id, user_id))
        counts["cases"] = await self.db.write(
            "UPDATE cases SET target_id = ?, target_name = ?, excerpt = NULL "
            "WHERE community_id = ? AND target_id = ?", (alias, alias, community_id, user_id))
        # A moderator forgetting themselves: their actions stay, without their id.
        await self.db.write("UPDATE cases SET actor_id = ?, actor_name = ? "
                            "WHERE community_id = ? AND actor_id = ?",
                            (alias, alias, community_id, user_id))
        return counts

    async def purge_text(self, cutoff: float) -> int:
        """Drop case excerpts older than ``cutoff``."""
        return await self.db.write("UPDATE cases SET excerpt = NULL WHERE excerpt IS NOT NULL "
                                   "AND created_at < ?", (cutoff,))

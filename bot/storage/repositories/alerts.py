"""AlertsRepository: crisis and safety alerts for moderators, and the signposting memory."""

from __future__ import annotations

import json
from typing import Any

from bot.storage.repositories.base import Repository, as_dicts
from bot.storage.repositories.counters import next_number, valid_number
from bot.storage.repositories.kv import KeyValueRepository
from bot.storage.rows import Alert, from_row, place_of


class AlertsRepository(Repository):
    """Crisis and safety alerts for moderators, and the signposting memory."""

    async def open_alert(self, community_id: str, kind: str, member_id: str, member_name: str,
                         channel_id: str, channel_name: str, message_id: str, link: str,
                         excerpt: str | None, rule_id: str, severity: str, at: float,
                         urgency: str = "now", private: bool = False,
                         reason: str | None = None) -> Alert:
        """Open a new alert with the community's next number; returns it. ``private``: the
        post was a message to Haven; ``reason``: why the semantic stage raised it. The number
        and the row are stored together."""
        place = place_of(channel_id, channel_name, message_id, link, private)
        async with self.db.transaction():
            number = await next_number(self.db, community_id, "alert")
            row = await self.db.one(
                "INSERT INTO alerts (community_id, kind, member_id, member_name, channel_id, "
                "channel_name, message_id, link, excerpt, rule_id, severity, created_at, "
                "updated_at, places, urgency, number, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (community_id, kind, member_id, member_name, channel_id, channel_name,
                 message_id, link, excerpt, rule_id, severity, at, at, json.dumps([place]),
                 urgency, number, reason))
        alert: Alert = from_row(Alert, row)
        return alert

    async def create_alert(self, community_id: str, kind: str, member_id: str, member_name: str,
                           channel_id: str, channel_name: str, message_id: str, link: str,
                           excerpt: str | None, rule_id: str, severity: str, at: float,
                           urgency: str = "now", private: bool = False) -> int:
        """Open a new alert (:meth:`open_alert`); returns its id (not its number)."""
        alert = await self.open_alert(community_id, kind, member_id, member_name, channel_id,
                                      channel_name, message_id, link, excerpt, rule_id,
                                      severity, at, urgency, private)
        return alert.id

    async def get_alert(self, alert_id: int) -> Alert | None:
        """An alert by id."""
        return from_row(Alert, await self.db.one("SELECT * FROM alerts WHERE id = ?", (alert_id,)))

    async def alert_by_number(self, community_id: str, number: int) -> Alert | None:
        """An alert by the number moderators see, within ``community_id`` only (a number
        typed in one community never reaches another's alert). A number no alert can have
        (0, negative, beyond 64 bits) finds none."""
        if not valid_number(number):
            return None
        return from_row(Alert, await self.db.one(
            "SELECT * FROM alerts WHERE community_id = ? AND number = ?", (community_id, number)))

    async def _alert_for_update(self, alert_id: int) -> Alert | None:
        """An alert by id, locked until the open transaction ends (read-modify-write)."""
        return from_row(Alert, await self.db.one_for_update("SELECT * FROM alerts WHERE id = ?",
                                                            (alert_id,)))

    async def open_alert_for(self, community_id: str, member_id: str, kind: str) -> Alert | None:
        """The member's alert of this kind still open or claimed, if any."""
        row = await self.db.one(
            "SELECT * FROM alerts WHERE community_id = ? AND member_id = ? AND kind = ? "
            "AND state IN ('open', 'claimed') ORDER BY id DESC LIMIT 1",
            (community_id, member_id, kind))
        return from_row(Alert, row)

    async def update_alert_with_post(self, alert_id: int, excerpt: str | None, link: str,
                                     rule_id: str, severity: str, at: float,
                                     channel_id: str = "", channel_name: str = "",
                                     message_id: str = "", private: bool = False,
                                     reason: str | None = None) -> None:
        """A further post by the same member: count it, keep the latest excerpt, rule and
        reason (``None`` for a rule's match), and add its place (channel and link) to the
        alert's places. One transaction."""
        async with self.db.transaction():
            alert = await self._alert_for_update(alert_id)
            places = alert.places_list() if alert is not None else []
            places.append(place_of(channel_id, channel_name, message_id, link, private))
            await self.db.write(
                "UPDATE alerts SET count = count + 1, excerpt = ?, link = ?, rule_id = ?, "
                "severity = ?, updated_at = ?, places = ?, reason = ? WHERE id = ?",
                (excerpt, link, rule_id, severity, at, json.dumps(places), reason, alert_id))

    async def upgrade_alert(self, alert_id: int, kind: str, urgency: str) -> None:
        """Raise an alert to a more urgent kind (a quiet concern note becoming a crisis alert)."""
        await self.db.write("UPDATE alerts SET kind = ?, urgency = ? WHERE id = ?",
                            (kind, urgency, alert_id))

    async def update_alert_excerpt(self, alert_id: int, excerpt: str | None, at: float) -> None:
        """The post behind an alert was edited: keep its latest words."""
        await self.db.write("UPDATE alerts SET excerpt = ?, updated_at = ? WHERE id = ?",
                            (excerpt, at, alert_id))

    async def anonymise_alert(self, alert_id: int, alias: str) -> None:
        """Replace the member on an alert by ``alias`` and drop its text."""
        await self.db.write("UPDATE alerts SET member_id = ?, member_name = ?, excerpt = NULL "
                            "WHERE id = ?", (alias, alias, alert_id))

    async def claim_alert(self, alert_id: int, by: str, at: float) -> bool:
        """Claim an open alert; ``False`` if it was not open."""
        return await self.db.write(
            "UPDATE alerts SET state = 'claimed', claimed_by = ?, claimed_at = ?, updated_at = ? "
            "WHERE id = ? AND state = 'open'", (by, at, at, alert_id)) > 0

    async def resolve_alert(self, alert_id: int, by: str, note: str | None, at: float) -> bool:
        """Resolve an alert; ``False`` if it was already resolved."""
        return await self.db.write(
            "UPDATE alerts SET state = 'resolved', resolved_by = ?, resolved_at = ?, note = ?, "
            "updated_at = ?, claimed_by = COALESCE(claimed_by, ?), "
            "claimed_at = COALESCE(claimed_at, ?) WHERE id = ? AND state != 'resolved'",
            (by, at, note, at, by, at, alert_id)) > 0

    async def bump_alert_escalation(self, alert_id: int) -> None:
        """Count a re-escalation."""
        await self.db.write("UPDATE alerts SET escalations = escalations + 1 WHERE id = ?",
                            (alert_id,))

    async def add_alert_message(self, alert_id: int, ref: dict[str, Any]) -> None:
        """Remember an alert message we sent (to edit later). One statement appends it to
        the stored list (atomic on its own: concurrent appends lose none), instead of a
        transaction that reads, edits and writes the list back."""
        if self.db.engine == "postgresql":
            append = "(messages::jsonb || jsonb_build_array(?::jsonb))::text"
        else:
            append = "json_insert(messages, '$[#]', json(?))"
        await self.db.write(f"UPDATE alerts SET messages = {append} WHERE id = ?",
                            (json.dumps(ref), alert_id))

    async def alerts_by_state(self, community_id: str, states: tuple[str, ...]) -> list[Alert]:
        """Alerts in any of ``states``, oldest first."""
        marks = ",".join("?" for _ in states)
        rows = await self.db.all(f"SELECT * FROM alerts WHERE community_id = ? AND state IN ({marks}) "
                                 "ORDER BY id", (community_id, *states))
        return [from_row(Alert, r) for r in rows]

    async def open_summary(self) -> tuple[int, int, float | None]:
        """Across communities: alerts open, alerts claimed (not resolved), and when the
        oldest urgent alert nobody has claimed was raised (for the operators' metrics)."""
        row = await self.db.one(
            "SELECT COALESCE(SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END), 0) AS open, "
            "COALESCE(SUM(CASE WHEN state = 'claimed' THEN 1 ELSE 0 END), 0) AS claimed, "
            "MIN(CASE WHEN state = 'open' AND urgency = 'now' THEN created_at END) AS oldest "
            "FROM alerts WHERE state IN ('open', 'claimed')")
        if row is None:
            return 0, 0, None
        return int(row["open"]), int(row["claimed"]), row["oldest"]

    async def alerts_since(self, community_id: str, since: float) -> list[Alert]:
        """Alerts created since ``since``."""
        rows = await self.db.all("SELECT * FROM alerts WHERE community_id = ? AND created_at >= ? "
                                 "ORDER BY id", (community_id, since))
        return [from_row(Alert, r) for r in rows]

    async def last_signposted(self, community_id: str, user_id: str, topic: str) -> float | None:
        """When this member was last sent signposting on ``topic``."""
        row = await self.db.one("SELECT at FROM signposts WHERE community_id = ? AND user_id = ? "
                                "AND topic = ?", (community_id, user_id, topic))
        return row["at"] if row else None

    async def mark_signposted(self, community_id: str, user_id: str, topic: str, at: float) -> None:
        """Remember that signposting on ``topic`` was sent."""
        await self.db.write("INSERT INTO signposts VALUES (?, ?, ?, ?) ON CONFLICT(community_id, "
                            "user_id, topic) DO UPDATE SET at = excluded.at",
                            (community_id, user_id, topic, at))

    # -- privacy -----------------------------------------------------------------------

    async def export(self, community_id: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """``alerts_about_you`` and ``signposting``."""
        args = (community_id, user_id)
        return {
            "alerts_about_you": as_dicts(await self.db.all(
                "SELECT number AS id, kind, created_at, state, excerpt FROM alerts WHERE community_id = ? "
                "AND member_id = ?", args)),
            "signposting": as_dicts(await self.db.all(
                "SELECT topic, at FROM signposts WHERE community_id = ? AND user_id = ?", args)),
        }

    async def forget(self, community_id: str, user_id: str, alias: str) -> dict[str, int]:
        """Delete the signposting memory; anonymise resolved alerts about the member and
        the member's claims and resolutions. Alerts still open or claimed keep the member
        until resolved: moderators must still be able to reach someone who may be in
        crisis. They are anonymised when resolved (the ``forgotten:`` key, written here,
        in the same transaction)."""
        counts: dict[str, int] = {}
        args = (community_id, user_id)
        counts["signposting"] = await self.db.write(
            "DELETE FROM signposts WHERE community_id = ? AND user_id = ?", args)
        counts["alerts"] = await self.db.write(
            "UPDATE alerts SET member_id = ?, member_name = ?, excerpt = NULL "
            "WHERE community_id = ? AND member_id = ? AND state = 'resolved'",
            (alias, alias, community_id, user_id))
        row = await self.db.one(
            "SELECT COUNT(*) FROM alerts WHERE community_id = ? AND member_id = ? "
            "AND state != 'resolved'", args)
        counts["open_alerts_kept"] = int(row[0]) if row else 0
        if counts["open_alerts_kept"]:
            await KeyValueRepository(self.db).set(f"forgotten:{community_id}:{user_id}", alias)
        await self.db.write("UPDATE alerts SET claimed_by = ? WHERE community_id = ? "
                            "AND claimed_by = ?", (alias, community_id, user_id))
        await self.db.write("UPDATE alerts SET resolved_by = ? WHERE community_id = ? "
                            "AND resolved_by = ?", (alias, community_id, user_id))
        return counts

    async def purge_text(self, cutoff: float) -> int:
        """Drop alert excerpts not updated since ``cutoff``."""
        return await self.db.write("UPDATE alerts SET excerpt = NULL WHERE excerpt IS NOT NULL "
                                   "AND updated_at < ?", (cutoff,))

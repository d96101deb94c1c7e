"""``stats``: community health figures, with a chart where the platform takes files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Annotated

from bot.core.commands import Arg, Invocation, command
from bot.core.contracts import HealthReport, TeamLoad
from bot.core.errors import CommandError
from bot.core.events import Attachment, CommandResult
from bot.core.feature import Feature, FeatureContext
from bot.core.ports import Capability, has
from bot.features.stats.figures import Stats as StatsFigures
from bot.features.stats.figures import StatsSources, compute_stats, render_chart

log = logging.getLogger(__name__)

StatsContext = FeatureContext[None, StatsSources]


class Stats(Feature):
    """The stats feature: it declares nothing but its command; with the care feature
    listed, ``stats`` also shows each moderator's load. It gives the dashboard's Health
    page the same figures and chart (:class:`~bot.core.contracts.HealthFigures`)."""

    def __init__(self, team: TeamLoad | None = None, ctx: StatsContext | None = None) -> None:
        self.team = team
        self.ctx = ctx

    async def figures(self, community_id: str, days: int) -> tuple[StatsFigures, dict[str, str]]:
        """The figures of the last ``days`` days and the claiming moderators' names."""
        ctx = self._context()
        stats = await compute_stats(ctx.repo, community_id, ctx.clock.now(), days)
        return stats, await self.moderator_names(community_id, stats.alerts_per_moderator)

    async def health(self, community_id: str, days: int) -> HealthReport:
        """The figures as the Health page shows them (values formatted, names resolved)."""
        stats, names = await self.figures(community_id, _days(days))
        rows = await self.team.load(community_id) if self.team is not None else []
        load_names = await self.moderator_names(community_id, {r.user_id: 0 for r in rows})
        return HealthReport(
            days=stats.days, figures=stats.shown(),
            per_moderator=tuple((names.get(k, k), v) for k, v in sorted(
                stats.alerts_per_moderator.items(), key=lambda kv: (-kv[1], kv[0]))),
            load=tuple((load_names.get(r.user_id, r.user_id), r) for r in rows))

    async def health_chart(self, community_id: str, days: int, *, tall: bool = False) -> bytes:
        """The ``stats`` chart as SVG, wide or (``tall``) in one column."""
        stats, names = await self.figures(community_id, _days(days))
        # drawn off the event loop: alerts keep flowing while matplotlib works
        chart = await asyncio.to_thread(render_chart, stats, names, fmt="svg", tall=tall)
        return chart.data

    async def load_text(self, community_id: str) -> str:
        """Each moderator's load over 24 hours and 7 days (from the care feature)."""
        if self.team is None:
            return ""
        rows = await self.team.load(community_id)
        if not rows:
            return ""
        ctx = self._context()
        t = ctx.templates
        items = [t.render("stats_load_item", moderator=ctx.platform.user_mention(r.user_id),
                          claimed=f"{r.claimed[0]}/{r.claimed[1]}",
                          resolved=f"{r.resolved[0]}/{r.resolved[1]}",
                          crisis=f"{r.crisis[0]}/{r.crisis[1]}", night=f"{r.night[0]}/{r.night[1]}")
                 for r in rows]
        return "\n" + t.render("stats_load", items="\n".join(items))

    async def moderator_names(self, community_id: str, ids: Mapping[str, int]) -> dict[str, str]:
        """Display names for moderator ids: the duty roster's, else the platform's.

        A name that cannot be found stays the id; a platform error never stops ``stats``.
        """
        ctx = self._context()
        names = {r.user_id: r.name for r in await ctx.repo.duty.duty_roster(community_id)}
        for user_id in ids:
            if names.get(user_id, user_id) != user_id:
                continue
            try:
                found = await ctx.platform.resolve_member(community_id, user_id)
            except Exception as exc:  # a name is a nicety; the figures matter
                log.warning("could not look up moderator %s for stats: %s", user_id, exc)
                continue
            if found is not None and found.name:
                names[user_id] = found.name
        return names

    def _context(self) -> StatsContext:
        if self.ctx is None:
            raise RuntimeError("the stats feature was built without its context")
        return self.ctx


def _days(days: int) -> int:
    """``days`` if it is a period the figures can cover (1 to 365), else ValueError."""
    if not 1 <= days <= 365:
        raise ValueError(f"days must be between 1 and 365, not {days}")
    return days


class StatsCommands:
    """The figures the research says matter: replies, reply times, alerts, first posts."""

    def __init__(self, feature: Stats, ctx: StatsContext) -> None:
        self.feature = feature
        self.ctx = ctx

    @command("stats", "Community health figures")
    async def stats(self, inv: Invocation,
                    days: Annotated[int, Arg("How many days back (default 30)")] = 30
                    ) -> CommandResult:
        """Community health figures, with a chart where the platform takes attachments."""
        ctx = self.ctx
        if not 1 <= days <= 365:
            raise CommandError(ctx.templates.render("stats_days"))
        stats, names = await self.feature.figures(inv.community_id, days)
        attachments: tuple[Attachment, ...] = ()
        if has(ctx.platform, Capability.ATTACHMENTS):
            try:
                attachments = (render_chart(stats, names),)
            except Exception:  # a chart is a bonus: the text has every figure
                log.exception("could not render the stats chart")
        text = stats.as_text(names, ctx.templates) + await self.feature.load_text(inv.community_id)
        return CommandResult(text, attachments=attachments)

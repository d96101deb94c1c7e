"""``stats``: community health figures, with a chart where the platform takes files."""

from __future__ import annotations

import logging
from typing import Annotated

from bot.core.commands import Arg, Invocation, command
from bot.core.contracts import TeamLoad
from bot.core.errors import CommandError
from bot.core.events import Attachment, CommandResult
from bot.core.feature import Feature, FeatureContext
from bot.core.ports import Capability, has
from bot.features.stats.figures import StatsSources, compute_stats, render_chart

log = logging.getLogger(__name__)

StatsContext = FeatureContext[None, StatsSources]


class Stats(Feature):
    """The stats feature: it declares nothing but its command; with the care feature
    listed, ``stats`` also shows each moderator's load."""

    def __init__(self, team: TeamLoad | None = None) -> None:
        self.team = team


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
        stats = await compute_stats(ctx.repo, inv.community_id, ctx.clock.now(), days)
        attachments: tuple[Attachment, ...] = ()
        names = await self._moderator_names(inv.community_id, stats.alerts_per_moderator)
        if has(ctx.platform, Capability.ATTACHMENTS):
            try:
                attachments = (render_chart(stats, names),)
            except Exception:  # a chart is a bonus: the text has every figure
                log.exception("could not render the stats chart")
        text = stats.as_text(names, ctx.templates) + await self._load(inv.community_id)
        return CommandResult(text, attachments=attachments)

    async def _load(self, community_id: str) -> str:
        """Each moderator's load over 24 hours and 7 days (from the care feature)."""
        if self.feature.team is None:
            return ""
        rows = await self.feature.team.load(community_id)
        if not rows:
            return ""
        t = self.ctx.templates
        items = [t.render("stats_load_item", moderator=self.ctx.platform.user_mention(r.user_id),
                          claimed=f"{r.claimed[0]}/{r.claimed[1]}",
                          resolved=f"{r.resolved[0]}/{r.resolved[1]}",
                          crisis=f"{r.crisis[0]}/{r.crisis[1]}", night=f"{r.night[0]}/{r.night[1]}")
                 for r in rows]
        return "\n" + t.render("stats_load", items="\n".join(items))

    async def _moderator_names(self, community_id: str, ids: dict[str, int]) -> dict[str, str]:
        """Display names for moderator ids: the duty roster's, else the platform's.

        A name that cannot be found stays the id; a platform error never stops ``stats``.
        """
        ctx = self.ctx
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

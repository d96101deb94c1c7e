"""Community health figures (``stats``) and their chart.

Time to first reply on support posts (median, 90th percentile), the share
answered within 2 h and 24 h, alerts opened/resolved and time to claim,
alerts per moderator, and how many members only read, post, or reply to others.
"""

from __future__ import annotations

import io
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.core.clock import fmt_duration
from bot.core.events import Attachment
from bot.core.templates import Templates, plural
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.members import MembersRepository
from bot.storage.repositories.posts import TrackedPostsRepository

STATS_TEMPLATES: Mapping[str, str] = MappingProxyType({
    "stats_report": (
        "**Community health, last {days}**\n"
        "Support posts: {posts}, answered {answered} (within 2 h: {within_2h}, within 24 h: "
        "{within_24h})\n"
        "Time to first reply: median {median_reply}, 90th percentile {p90_reply}\n"
        "Alerts: {alerts_opened} opened, {alerts_resolved} resolved, median time to claim "
        "{median_claim}\n"
        "Alerts claimed per moderator: {per_moderator}\n"
        "Members: {readers} only read, {posters} post, {repliers} reply to others"
    ),
    "stats_moderator_item": "{moderator}: {count}",
    "stats_no_moderator": "none",
    "stats_no_figure": "n/a",
    "stats_days": "days must be between 1 and 365.",
    "stats_load": "Moderator load (last 24 hours / 7 days):\n{items}",
    "stats_load_item": "- {moderator}: claimed {claimed}, resolved {resolved}, crisis {crisis}, "
                       "at night {night}",
})
"""The ``stats`` answer (the stats package's ``TEMPLATES``)."""


@dataclass(frozen=True)
class Stats:
    """Figures for one community over ``days`` days."""

    days: int
    posts: int
    answered: int
    reply_times: tuple[float, ...]
    within_2h: int
    within_24h: int
    alerts_opened: int
    alerts_resolved: int
    claim_times: tuple[float, ...]
    alerts_per_moderator: dict[str, int] = field(default_factory=dict)
    readers: int = 0
    posters: int = 0
    repliers: int = 0

    @property
    def median_reply(self) -> float | None:
        """Median time to first reply (answered posts)."""
        return statistics.median(self.reply_times) if self.reply_times else None

    @property
    def p90_reply(self) -> float | None:
        """90th percentile of time to first reply."""
        return percentile(self.reply_times, 90)

    @property
    def median_claim(self) -> float | None:
        """Median time from alert to claim."""
        return statistics.median(self.claim_times) if self.claim_times else None

    def share(self, n: int) -> str:
        """``n`` as a percentage of posts."""
        return f"{100 * n / self.posts:.0f}%" if self.posts else "n/a"

    def shown(self, templates: Templates | None = None) -> dict[str, str]:
        """Each figure formatted as shown (shares as percentages, durations as ``2h 5m``,
        a figure that cannot be computed as ``n/a``), by name."""
        t = templates or Templates(defaults=STATS_TEMPLATES)

        def dur(x: float | None) -> str:
            return fmt_duration(x) if x is not None else t.render("stats_no_figure")

        return {
            "posts": str(self.posts), "answered": str(self.answered),
            "within_2h": self.share(self.within_2h), "within_24h": self.share(self.within_24h),
            "median_reply": dur(self.median_reply), "p90_reply": dur(self.p90_reply),
            "alerts_opened": str(self.alerts_opened),
            "alerts_resolved": str(self.alerts_resolved), "median_claim": dur(self.median_claim),
            "readers": str(self.readers), "posters": str(self.posters),
            "repliers": str(self.repliers)}

    def as_text(self, names: dict[str, str] | None = None,
                templates: Templates | None = None) -> str:
        """The figures as a message (``names`` maps moderator ids to display names;
        ``templates``: the community's, else the defaults of :data:`STATS_TEMPLATES`)."""
        names = names or {}
        t = templates or Templates(defaults=STATS_TEMPLATES)
        per_mod = ", ".join(
            t.render("stats_moderator_item", moderator=names.get(k, k), count=v)
            for k, v in sorted(self.alerts_per_moderator.items(), key=lambda kv: -kv[1])
        ) or t.render("stats_no_moderator")
        return t.render("stats_report", days=plural(self.days, "day"), per_moderator=per_mod,
                        **self.shown(t))


def percentile(values: tuple[float, ...] | list[float], pct: float) -> float | None:
    """The ``pct`` percentile by linear interpolation (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass(frozen=True)
class StatsSources:
    """What the figures are read from."""

    alerts: AlertsRepository
    posts: TrackedPostsRepository
    members: MembersRepository
    duty: DutyRepository


async def compute_stats(sources: StatsSources, community_id: str, now: float,
                        days: int) -> Stats:
    """Compute the figures from the store."""
    since = now - days * 86400
    posts = await sources.posts.posts_since(community_id, since)
    posts = [p for p in posts if p.state != "deleted"]
    reply_times = tuple(p.answered_at - p.posted_at for p in posts if p.answered_at is not None)
    alerts = await sources.alerts.alerts_since(community_id, since)
    claim_times = tuple(a.claimed_at - a.created_at for a in alerts if a.claimed_at is not None)
    per_mod = Counter(a.claimed_by for a in alerts if a.claimed_by)
    members = await sources.members.member_activity(community_id)
    return Stats(
        days=days, posts=len(posts), answered=len(reply_times), reply_times=reply_times,
        within_2h=sum(1 for t in reply_times if t <= 2 * 3600),
        within_24h=sum(1 for t in reply_times if t <= 24 * 3600),
        alerts_opened=len(alerts),
        alerts_resolved=sum(1 for a in alerts if a.state == "resolved"),
        claim_times=claim_times, alerts_per_moderator=dict(per_mod),
        readers=sum(1 for m in members if m.posts == 0),
        posters=sum(1 for m in members if m.posts > 0 and m.replies == 0),
        repliers=sum(1 for m in members if m.replies > 0),
    )


def render_chart(stats: Stats, names: dict[str, str] | None = None, *, fmt: str = "png",
                 tall: bool = False) -> Attachment:
    """A chart with four panels: reply timeliness, reply times, alerts, member activity.

    ``fmt``: ``png`` (the command's attachment) or ``svg`` (the dashboard's Health page);
    ``tall``: the panels in one column, for a phone's screen.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in a thread
    from matplotlib.ticker import MaxNLocator

    names = names or {}
    if fmt not in CHART_TYPES:
        raise ValueError(f"unknown chart format {fmt!r}")
    shape, size = ((4, 1), (5.2, 13)) if tall else ((2, 2), (10, 7))
    fig = Figure(figsize=size, dpi=100)
    grid = fig.subplots(*shape)
    axes = list(grid.flat)
    fig.suptitle(f"Community health, last {plural(stats.days, 'day')}", fontsize=14)

    ax = axes[0]
    unanswered = stats.posts - stats.answered
    labels = ["within 2 h", "2-24 h", "after 24 h", "no reply yet"]
    later = stats.answered - stats.within_24h
    values = [stats.within_2h, stats.within_24h - stats.within_2h, later, unanswered]
    ax.bar(labels, values, color=["#2e7d32", "#9ccc65", "#ffb300", "#c62828"])
    ax.set_title(f"Support posts ({stats.posts}): first reply")
    ax.set_ylabel("posts")

    ax = axes[1]
    hours = [t / 3600 for t in stats.reply_times]
    if hours:
        ax.hist(hours, bins=min(20, max(5, len(hours))), color="#1565c0")
        if stats.median_reply is not None:
            ax.axvline(stats.median_reply / 3600, color="black", linestyle="--", label="median")
        if stats.p90_reply is not None:
            ax.axvline(stats.p90_reply / 3600, color="#c62828", linestyle=":", label="90th pct")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no replies yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Time to first reply (hours)")

    ax = axes[2]
    mods = sorted(stats.alerts_per_moderator.items(), key=lambda kv: -kv[1])[:8]
    if mods:
        ax.barh([names.get(k, k)[:18] for k, _ in mods], [v for _, v in mods], color="#6a1b9a")
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no alerts claimed", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"Alerts claimed per moderator\n({stats.alerts_opened} opened, "
                 f"{stats.alerts_resolved} resolved)" if tall else
                 f"Alerts claimed per moderator ({stats.alerts_opened} opened, "
                 f"{stats.alerts_resolved} resolved)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    ax = axes[3]
    ax.bar(["only read", "post", "reply to others"], [stats.readers, stats.posters, stats.repliers],
           color=["#90a4ae", "#42a5f5", "#26a69a"])
    ax.set_title("Members")
    for axis in (axes[0], axes[1], axes[3]):
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=CHART_METADATA[fmt])
    return Attachment(f"haven-stats.{fmt}", buf.getvalue(), CHART_TYPES[fmt])


CHART_TYPES: Mapping[str, str] = MappingProxyType({"png": "image/png", "svg": "image/svg+xml"})
"""The chart's formats and their content types."""
CHART_METADATA: Mapping[str, dict[str, str | None]] = MappingProxyType({
    "png": {}, "svg": {"Date": None}})
"""No creation date written into an SVG."""

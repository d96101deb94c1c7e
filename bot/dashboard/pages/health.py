"""Health: the ``stats`` figures and chart for the last 7, 30 or 90 days.

The figures and the chart are the stats feature's own (through the
:class:`~bot.core.contracts.HealthFigures` contract, so this page and the command
always agree); the chart is drawn by matplotlib on the server as SVG, wide for a
desktop and in one column for a phone (``<picture>`` picks). No script, no chart
library. Without the stats feature the page says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from bot.core.contracts import HealthFigures
from bot.dashboard.page import Door, Page, visitor

log = logging.getLogger(__name__)

PERIODS = (7, 30, 90)
"""The periods offered, in days."""
DEFAULT_PERIOD = 30


def period(request: web.Request) -> int:
    """The ``days`` asked for, if it is one of :data:`PERIODS` (else the default)."""
    raw = request.query.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in PERIODS else DEFAULT_PERIOD


def figures_of(door: Door) -> HealthFigures | None:
    """The stats feature, if this Haven has it."""
    feature = door.core.features.get("stats")
    return feature if isinstance(feature, HealthFigures) else None


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """The figures of the chosen period, with the chart."""
    who = visitor(request)
    days = period(request)
    source = figures_of(door)
    report = await source.health(who.community_id, days) if source is not None else None
    return door.render(request, "health.html", "Health", report=report, days=days,
                       periods=PERIODS)


async def chart(door: Door, request: web.Request) -> web.StreamResponse:
    """The chart as SVG (``?layout=tall``: one column, for a phone)."""
    who = visitor(request)
    source = figures_of(door)
    if source is None:
        raise web.HTTPNotFound()
    tall = request.query.get("layout") == "tall"
    try:
        svg = await source.health_chart(who.community_id, period(request), tall=tall)
    except Exception:  # a chart is a bonus: the page has every figure
        log.exception("dashboard: could not draw the health chart")
        raise web.HTTPInternalServerError() from None
    return web.Response(body=svg, content_type="image/svg+xml")


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The page and its chart."""
    return (door.get("/health", view), door.get("/health/chart.svg", chart))


PAGE = Page("health", "Health", "Community health figures and charts for 7, 30 or 90 days.",
            routes)

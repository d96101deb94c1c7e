"""Alerts: the open queue (unclaimed first, oldest first) with severity and age; claim,
resolve with a note, and a note for the handover log. Updates live."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.dashboard.page import Door, Page, Visitor, visitor
from bot.storage.rows import Alert


def queue_order(alerts: Sequence[Alert]) -> list[Alert]:
    """Unclaimed before claimed, each oldest first."""
    return sorted(alerts, key=lambda a: (a.state != "open", a.created_at, a.id))


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """The open queue."""
    who = visitor(request)
    alerts = queue_order(await door.store.alerts.alerts_by_state(who.community_id,
                                                                 ("open", "claimed")))
    names = await door.names(who.community_id, (a.claimed_by for a in alerts if a.claimed_by))
    return door.render(request, "alerts.html", "Alerts", alerts=alerts, names=names,
                       exposure=await door.exposure(request))


def _alert(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


async def claim(door: Door, request: web.Request) -> web.StreamResponse:
    """``claim <id>`` as this moderator."""
    return await door.act_and_return(request, "/alerts", "claim", alert=_alert(request))


async def resolve(door: Door, request: web.Request) -> web.StreamResponse:
    """``resolve <id> <note>`` as this moderator."""
    form = await request.post()
    note = str(form.get("note") or "").strip()
    return await door.act_and_return(request, "/alerts", "resolve", alert=_alert(request),
                                     note=note or None)


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The queue and its two actions."""
    return (door.get("/alerts", view),
            door.post("/alerts/{id}/claim", claim),
            door.post("/alerts/{id}/resolve", resolve))


async def count(door: Door, who: Visitor) -> int:
    """Open alerts (claimed or not)."""
    return len(await door.store.alerts.alerts_by_state(who.community_id, ("open", "claimed")))


PAGE = Page("alerts", "Alerts", "Open crisis and safety alerts: claim, resolve, hand over.",
            routes, count)

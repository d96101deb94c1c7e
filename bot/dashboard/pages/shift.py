"""Shift: the duty roster and quiet hours, the handover logbook, and what happened since
the last note (as the ``handover`` command counts it)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.dashboard.page import Door, Page, Visitor, visitor

DAY = 86400.0
LOGBOOK = 10
"""Handover notes shown."""


def clock(minutes: int | None) -> str:
    """Minutes after midnight as ``HH:MM``."""
    if minutes is None:
        return ""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """Roster, logbook and what happened since the last note."""
    who = visitor(request)
    store, community = door.store, who.community_id
    roster = sorted(await store.duty.duty_roster(community),
                    key=lambda r: (not r.on_duty, r.name.casefold()))
    entries = await store.duty.latest_handover(community, LOGBOOK)
    since = entries[1].created_at if len(entries) > 1 else door.now() - DAY
    me = next((r for r in roster if r.user_id == who.member.id), None)
    return door.render(
        request, "shift.html", "Shift", roster=roster, entries=entries, since=since, me=me,
        clock=clock,
        new_alerts=await store.alerts.alerts_since(community, since),
        open_alerts=await store.alerts.alerts_by_state(community, ("open", "claimed")),
        posts=await store.posts.open_posts(community),
        cases=await store.cases.cases_since(community, since))


async def duty(door: Door, request: web.Request) -> web.StreamResponse:
    """``duty on|off`` for oneself."""
    form = await request.post()
    return await door.act_and_return(request, "/shift", "duty",
                                     state=str(form.get("state") or ""))


async def quiet(door: Door, request: web.Request) -> web.StreamResponse:
    """``quiet HH:MM-HH:MM|off`` for oneself."""
    form = await request.post()
    return await door.act_and_return(request, "/shift", "quiet",
                                     hours=str(form.get("hours") or "").strip() or "off")


async def handover(door: Door, request: web.Request) -> web.StreamResponse:
    """``handover <note>``: add to the logbook (from here or from an alert)."""
    form = await request.post()
    back = str(form.get("back") or "/shift")
    to = back if back in ("/shift", "/alerts") else "/shift"
    text = str(form.get("text") or "").strip()
    if not text:
        raise web.HTTPSeeOther(to)
    return await door.act_and_return(request, to, "handover", text=text)


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The shift page and its three actions."""
    return (door.get("/shift", view),
            door.post("/shift/duty", duty),
            door.post("/shift/quiet", quiet),
            door.post("/shift/handover", handover))


async def count(door: Door, who: Visitor) -> int:
    """Moderators on duty now."""
    return sum(r.on_duty for r in await door.store.duty.duty_roster(who.community_id))


PAGE = Page("shift", "Shift", "Who is on duty, quiet hours, the handover logbook.", routes,
            count)

"""Members: find a member, read their cases and notes, warn, note, time out (the same
commands as in chat, recorded as cases with the moderator who acted)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from aiohttp import web

from bot.core.commands import member_id
from bot.core.errors import PlatformError
from bot.core.events import Member
from bot.dashboard.page import Door, Page, visitor

MAX_QUERY = 200


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """The search box, and the history of the member found."""
    who = visitor(request)
    query = request.query.get("q", "").strip()[:MAX_QUERY]
    found: Member | None = None
    lookup_failed = False
    cases = []
    target = ""
    if query:
        try:
            found = await door.core.platform.resolve_member(who.community_id, query)
        except PlatformError:
            lookup_failed = True
        target = found.id if found is not None else member_id(query)
        cases = sorted(await door.store.cases.cases_for(who.community_id, target),
                       key=lambda c: (c.created_at, c.id), reverse=True)
    return door.render(request, "members.html", "Members", query=query, found=found,
                       target=target, cases=cases, lookup_failed=lookup_failed,
                       exposure=await door.exposure(request))


def _back(target: str) -> str:
    return "/members?" + urlencode({"q": target})


def _target(request: web.Request) -> str:
    return request.match_info["member"][:MAX_QUERY]


async def warn(door: Door, request: web.Request) -> web.StreamResponse:
    """``warn <member> <reason>``."""
    form = await request.post()
    target = _target(request)
    return await door.act_and_return(request, _back(target), "warn", member=target,
                                     reason=str(form.get("reason") or "").strip())


async def note(door: Door, request: web.Request) -> web.StreamResponse:
    """``note <member> <text>``."""
    form = await request.post()
    target = _target(request)
    return await door.act_and_return(request, _back(target), "note", member=target,
                                     text=str(form.get("text") or "").strip())


async def timeout(door: Door, request: web.Request) -> web.StreamResponse:
    """``timeout <member> <minutes> <reason>``."""
    form = await request.post()
    target = _target(request)
    return await door.act_and_return(request, _back(target), "timeout", member=target,
                                     minutes=str(form.get("minutes") or "").strip(),
                                     reason=str(form.get("reason") or "").strip())


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The search and the three actions."""
    return (door.get("/members", view),
            door.post("/members/{member}/warn", warn),
            door.post("/members/{member}/note", note),
            door.post("/members/{member}/timeout", timeout))


PAGE = Page("members", "Members", "A member's cases and notes; warn, note, time out.", routes)

"""Review: what the digest collects and is not yet reviewed (flags, reports, first posts),
oldest first, each with a link and a summary, never a post's text; mark one or all
reviewed (the ``reviewed`` command, as the moderator)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.dashboard.page import Door, Page, Visitor, visitor
from bot.storage.repositories.digest import DigestItem, DigestRepository


async def waiting(door: Door, community_id: str) -> list[DigestItem]:
    """The unreviewed items, oldest first."""
    return await DigestRepository(door.store.database).unreviewed(community_id)


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """The items waiting for review."""
    items = await waiting(door, visitor(request).community_id)
    return door.render(request, "review.html", "Review", items=items)


async def reviewed(door: Door, request: web.Request) -> web.StreamResponse:
    """``reviewed <number|all>``."""
    which = request.match_info["item"]
    item = "all" if which == "all" else str(int(which)) if which.isdigit() else ""
    if not item:
        raise web.HTTPNotFound()
    return await door.act_and_return(request, "/review", "reviewed", item=item)


async def count(door: Door, who: Visitor) -> int:
    """Items waiting for review."""
    return len(await waiting(door, who.community_id))


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The list and marking items reviewed."""
    return (door.get("/review", view), door.post("/review/{item}", reviewed))


PAGE = Page("review", "Review", "Flags, reports and first posts to look at once; mark them "
            "reviewed.", routes, count)

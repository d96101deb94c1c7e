"""Unanswered: support posts still waiting for a reply, longest waiting first."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.dashboard.page import Door, Page, Visitor, visitor


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """The waiting posts, with links."""
    who = visitor(request)
    posts = sorted(await door.store.posts.open_posts(who.community_id),
                   key=lambda p: (p.posted_at, p.id))
    return door.render(request, "unanswered.html", "Unanswered", posts=posts,
                       exposure=await door.exposure(request))


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The list."""
    return (door.get("/unanswered", view),)


async def count(door: Door, who: Visitor) -> int:
    """Posts waiting for a reply."""
    return len(await door.store.posts.open_posts(who.community_id))


PAGE = Page("unanswered", "Unanswered", "Support posts waiting for a reply, longest first.",
            routes, count)

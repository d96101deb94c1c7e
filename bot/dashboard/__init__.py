"""The moderators' web dashboard: a second door into the same core as the commands.

Off by default; served by Haven itself when ``dashboard.listen`` is set
(:mod:`bot.dashboard.config`). :mod:`bot.runner` starts it beside the adapter and
``haven demo --serve PORT`` beside the demo community.

Parts:

- :mod:`~bot.dashboard.config`: the ``dashboard:`` section (``listen``, ``public_url``,
  ``session_hours``).
- :mod:`~bot.dashboard.auth`: one-time sign-in links become sessions; CSRF tokens.
  Links and sessions are stored only as SHA-256 hashes
  (:mod:`bot.storage.repositories.dashboard`); the ``dashboard`` command
  (:mod:`bot.features.dashboard`) makes the links and sends them privately.
- :mod:`~bot.dashboard.access`: every request re-checks, through the platform and the
  core's :class:`~bot.core.permissions.Permissions`, that the person is still a moderator
  of the session's community (an answer is trusted for a minute at most).
- :mod:`~bot.dashboard.server`: the aiohttp application, its middlewares (security
  headers with ``Cache-Control: no-store`` everywhere; sign-in, moderator and CSRF
  checks) and start/stop; :mod:`~bot.dashboard.signin` the sign-in routes;
  :mod:`~bot.dashboard.live` the server-sent events of the live updates.
- :mod:`~bot.dashboard.page`: :class:`~bot.dashboard.page.Page` and
  :class:`~bot.dashboard.page.Door`; :mod:`~bot.dashboard.pages`: one module per page.
- ``templates/`` (Jinja2, always autoescaped) and ``static/`` (one CSS file, one small
  script; every page works without it). Nothing is loaded from elsewhere.

Adding a page
-------------

1. ``bot/dashboard/pages/<name>.py``::

       from aiohttp import web
       from bot.dashboard.page import Door, Page, visitor

       async def view(door: Door, request: web.Request) -> web.StreamResponse:
           who = visitor(request)                      # signed in, checked moderator
           rows = await door.store.cases.cases_since(who.community_id, door.now() - 86400)
           return door.render(request, "<name>.html", "Title", rows=rows)

       async def act(door: Door, request: web.Request) -> web.StreamResponse:
           form = await request.post()                 # CSRF already checked
           return await door.act_and_return(request, "/<name>", "note",
                                            member=..., text=str(form.get("text") or ""))

       def routes(door: Door):
           return (door.get("/<name>", view), door.post("/<name>/act", act))

       PAGE = Page("<name>", "Title", "One line for the landing page.", routes)
       # optional 5th argument: async count(door, visitor) -> int, shown on the landing page

2. ``bot/dashboard/templates/<name>.html``: ``{% extends "base.html" %}`` and a
   ``{% block content %}``; every form posts with ``{{ m.hidden() }}`` (the CSRF token
   and a one-press nonce) after ``{% import "_macros.html" as m with context %}``;
   show a post's words with ``{{ m.words(text, exposure) }}`` (``exposure`` from
   ``await door.exposure(request)``), which respects the moderator's excerpt choice.
   A region marked ``data-live="alerts shift"`` refreshes itself when those topics
   change.
3. One line in :data:`bot.dashboard.pages.PAGES`.

Tests: ``tests/dashboard_helpers.py`` has the ``dash`` fixture (a core on virtual time with
its dashboard on a loopback test server) and ``Browser`` (its own cookies; ``open_link``
signs in, ``post`` sends a form with the page's CSRF token and a fresh nonce).

Rules: read through the repositories (``door.store``); change anything only through
:meth:`~bot.dashboard.page.Door.act` (the commands' own permission check, case log
with the actor, and reply, shown as a flash message). Never write message text or a
token to a log.
"""

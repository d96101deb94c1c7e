"""Rules: the packs in force, a test box (dry run), the community rule file edited in the
browser with live validation, and the history of its changes.

Everything goes through the ruleset feature's editor (:class:`~bot.core.rule_edits.RuleEditor`):
validation gives ``file:line: key: message`` exactly as ``haven check`` does, saving runs
the validation and the examples first and saves nothing on any error, and only a
community admin may save (moderators may read, validate and test). The test box and the
editor are one form (fields ``sample``, ``draft``, ``use_draft``, ``base``) whose buttons
post to their own actions, so it works without script (the whole page comes back, the
unsaved draft and the text being tried kept); ``static/rules.js`` posts the same form with
``X-Haven-Fragment: 1`` and swaps in just the answer, as the admin types.
The test box's text is never logged or stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.rule_edits import Checked, DryRun, RuleEditor, Saved
from bot.dashboard.page import Door, Page, visitor

FRAGMENT_HEADER = "X-Haven-Fragment"
"""Sent by ``rules.js``: answer with the part of the page that changed, not the page."""
HISTORY = 20
"""Changes shown."""
MAX_TEST = 4000
"""The longest text the test box tries (characters)."""
STATUS = {"saved": 303, "unchanged": 303, "invalid": 422, "examples_failed": 422,
          "conflict": 409, "forbidden": 403, "not_configured": 404, "write_failed": 500}
"""The HTTP status of each outcome of a save."""


def editor_of(door: Door) -> RuleEditor:
    """The ruleset feature's editor (a 404 when the feature is not installed)."""
    feature = door.core.features.get("ruleset")
    found = getattr(feature, "editor", None)
    if not isinstance(found, RuleEditor):
        raise web.HTTPNotFound()
    return found


def _text(form: Any, name: str, limit: int | None = None) -> str:
    value = form.get(name)
    text = value if isinstance(value, str) else ""
    return text[:limit] if limit is not None else text


def _fragment(request: web.Request) -> bool:
    return request.headers.get(FRAGMENT_HEADER) == "1"


async def _page(door: Door, request: web.Request, status: int = 200, *,
                draft: str | None = None, base: str | None = None,
                checked: Checked | None = None, test_text: str = "",
                run: DryRun | None = None, use_draft: bool = False) -> web.StreamResponse:
    """The whole page; the editor shows ``draft`` (else the file) and ``checked``."""
    ed = editor_of(door)
    who = visitor(request)
    try:
        current = ed.read()
        unreadable = False
    except (OSError, UnicodeDecodeError):
        current, unreadable = None, True
    if draft is None:
        draft = current.text if current is not None else ""
    if base is None:
        base = current.sha if current is not None else ""
    return door.render(
        request, "rules.html", "Rules", status=status, packs=ed.packs(),
        path=ed.path, draft=draft, base=base, unreadable=unreadable, checked=checked,
        may_save=door.core.perms.is_admin(who.member), test_text=test_text, run=run,
        use_draft=use_draft, history=await ed.history(who.community_id, HISTORY))


def _kept(form: Any) -> dict[str, Any]:
    """What the page's one form carried besides the button's own work, shown again as it
    was: the unsaved draft and its base, the text being tried and the draft box's tick (so
    no button, pressed without script, loses what another part of the page held)."""
    draft = form.get("draft")
    return {"draft": draft if isinstance(draft, str) else None,
            "base": _text(form, "base") if "base" in form else None,
            "test_text": _text(form, "sample", MAX_TEST),
            "use_draft": bool(form.get("use_draft"))}


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """Packs, test box, editor and history."""
    return await _page(door, request)


async def test(door: Door, request: web.Request) -> web.StreamResponse:
    """Dry run: which rules match ``sample`` and why (against ``draft`` when ``use_draft``)."""
    form = await request.post()
    kept = _kept(form)
    text = kept["test_text"]
    draft = kept["draft"] if kept["use_draft"] else None
    run = await editor_of(door).dry_run(text, draft)
    if _fragment(request):
        return door.render(request, "rules_results.html", "Rules", run=run, test_text=text)
    return await _page(door, request, run=run, **kept)


async def validate(door: Door, request: web.Request) -> web.StreamResponse:
    """The draft's problems (``file:line``) and, when valid, its failing examples."""
    form = await request.post()
    kept = _kept(form)
    checked = editor_of(door).run_examples(kept["draft"] or "")
    if _fragment(request):
        return door.render(request, "rules_problems.html", "Rules", checked=checked,
                           path=editor_of(door).path)
    return await _page(door, request, checked=checked, **kept)


async def save(door: Door, request: web.Request) -> web.StreamResponse:
    """Save the draft (admins; valid, examples passing, nobody saved since it was opened)."""
    form = await request.post()
    who = visitor(request)
    kept = _kept(form)
    draft = kept["draft"] or ""
    saved: Saved = await editor_of(door).save(draft, who.member, who.community_id,
                                              kept["base"] or None)
    door.flash(request, saved.message, saved.ok)
    if saved.ok:
        raise web.HTTPSeeOther("/rules#history" if saved.status == "saved" else "/rules")
    return await _page(door, request, STATUS[saved.status], checked=saved.checked,
                       **{**kept, "draft": draft})


def routes(door: Door) -> tuple[web.RouteDef, ...]:
    """The page and its three forms."""
    return (door.get("/rules", view), door.post("/rules/test", test),
            door.post("/rules/validate", validate), door.post("/rules/save", save))


PAGE = Page("rules", "Rules", "The rules in force, a test box, and the community's own "
            "rule file edited with live checks.", routes)

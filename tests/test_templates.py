"""bot.core.templates: defaults, overrides, rendering and start-up validation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.app import template_defaults
from bot.core.templates import (
    DEFAULT_TEMPLATES,
    PLACEHOLDERS,
    Templates,
    placeholders_in,
    render,
    validate_templates,
)
from bot.features import FEATURES


def test_default_templates_are_valid() -> None:
    assert validate_templates(DEFAULT_TEMPLATES) == []


def test_every_documented_template_exists() -> None:
    assert set(DEFAULT_TEMPLATES) == {
        "welcome", "greeting", "greeter_ping", "crisis_signpost", "topic_signpost",
        "hidden_post", "hidden_notice", "hidden_notice_no_dm", "cw_missing", "cw_redirect",
        "cw_reposted", "cw_repost", "cw_notice", "cw_notice_hidden", "cw_notice_no_dm",
        "cw_missing_notice", "cw_missing_notice_no_dm", "warning", "timeout", "pii_nudge",
        "private_crisis_reply", "private_crisis_again", "already_done", "catchup_incomplete",
        "dm_not_accepted", "missing_permission", "still_starting", "command_error",
        "commands_outside_server", "command_crashed", "command_done", "command_failed",
        "public_moderators_channel"}


def test_member_facing_texts_that_hide_a_post_give_the_text_back() -> None:
    for name in ("hidden_post", "cw_missing", "cw_redirect", "cw_reposted"):
        assert "{text}" in DEFAULT_TEMPLATES[name], name
    assert "{helplines}" in DEFAULT_TEMPLATES["crisis_signpost"]


def test_render_fills_and_blanks_missing_values() -> None:
    assert render("Hi {member}, welcome to {community}.", {"member": "Ann", "community": "H"}) == (
        "Hi Ann, welcome to H.")
    assert render("Hi {member}{rule}!", {"member": "Ann"}) == "Hi Ann!"
    assert render("{duration}", {"duration": 10}) == "10"
    assert render("{{literal}} {text}", {"text": "x"}) == "{literal} x"


def test_render_does_not_interpret_values() -> None:
    # A member's text containing braces is never formatted again.
    assert render("You wrote: {text}", {"text": "{member} {0} {"}) == "You wrote: {member} {0} {"


def test_templates_overrides() -> None:
    t = Templates({"greeting": "Hey {member}!"})
    assert t.render("greeting", member="Ann") == "Hey Ann!"
    assert t.render("warning", member="Bob", community="H", rule="r1", explain="why").startswith(
        "Hi Bob, this is a warning from the moderators of H.")
    assert t.get("welcome") == DEFAULT_TEMPLATES["welcome"]
    assert t.names() == set(DEFAULT_TEMPLATES)
    assert Templates({"custom": "x"}).names() == set(DEFAULT_TEMPLATES) | {"custom"}
    assert Templates().get("greeting") == DEFAULT_TEMPLATES["greeting"]
    with pytest.raises(KeyError):
        t.get("nope")


def test_placeholders_in() -> None:
    assert placeholders_in("Hi {member}, see {rules_channel} {member}") == {"member",
                                                                          "rules_channel"}
    assert placeholders_in("no fields {{here}}") == set()
    with pytest.raises(ValueError):
        placeholders_in("{member")


def test_validate_unknown_placeholders_lists_the_known_ones() -> None:
    ((name, message),) = validate_templates({"greeting": "Hi {membr} in {place}"})
    assert name == "greeting"
    assert message.startswith("unknown placeholder(s): {membr}, {place}; known: ")
    for known in PLACEHOLDERS:
        assert known in message


@pytest.mark.parametrize("text", ["Hi {member", "Hi }", "{member!}"])
def test_validate_broken_braces(text: str) -> None:
    ((_, message),) = validate_templates({"t": text})
    assert "broken placeholder" in message or "conversion" in message


def crashes(text: str) -> bool:
    """Whether rendering ``text`` raises for some ordinary set of values."""
    for values in ({}, {"member": "", "text": "x"}, {"member": "Ann", "text": "x"}):
        try:
            render(text, values)
        except (ValueError, IndexError, AttributeError, KeyError):
            return True
    return False


@pytest.mark.parametrize(("text", "needle", "would_crash"), [
    ("{}", "need a name", True),
    ("{0}", "need a name", True),
    ("{member.upper}", "without . or [ ]", False),  # renders "<built-in method ...>"
    ("{member[0]}", "without . or [ ]", True),
    ("{member:d}", "Unknown format code", True),
    ("{member:{text}}", "cannot be nested", True),
    ("{member!x}", "unknown conversion", True),
])
def test_validate_placeholders_that_would_break_at_run_time(text: str, needle: str,
                                                            would_crash: bool) -> None:
    problems = validate_templates({"t": text})
    assert len(problems) == 1
    assert needle in problems[0][1]
    assert crashes(text) is would_crash


def test_harmless_format_specs_are_allowed() -> None:
    assert validate_templates({"t": "{member:>8} {rule!r}"}) == []


def test_validate_reports_each_template() -> None:
    problems = validate_templates({"a": "{x}", "b": "fine {member}", "c": "{y"})
    assert [name for name, _ in problems] == ["a", "c"]


def test_plural() -> None:
    from bot.core.templates import plural

    assert plural(1, "day") == "1 day" and plural(2, "day") == "2 days"
    assert plural(0, "alert") == "0 alerts" and plural(1.0, "case") == "1 case"
    assert plural(3, "reply", "replies") == "3 replies" and plural(1.5, "hour") == "1.5 hours"


# -- every template a feature renders exists ----------------------------------------

BOT = Path(__file__).resolve().parent.parent / "bot"
RENDERERS = {"render", "text", "get"}
"""``templates.render(name, ...)``, ``templates.get(name)``, the Discord state's ``text(name)``."""


def _name_patterns(node: ast.expr) -> list[re.Pattern[str]] | None:
    """The template names an expression can evaluate to, as patterns; ``None`` when it is
    not built from literals (a variable: checked by the tests that render it)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [re.compile(re.escape(node.value))]
    if isinstance(node, ast.IfExp):
        body, orelse = _name_patterns(node.body), _name_patterns(node.orelse)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        parts = node.values if isinstance(node, ast.JoinedStr) else [node.left, node.right]
        return [re.compile("".join(re.escape(p.value) if isinstance(p, ast.Constant) else ".*"
                                   for p in parts))]
    return None


def _rendered_names(path: Path) -> list[tuple[int, re.Pattern[str]]]:
    """(line, pattern) of each template name rendered in a module (directly, through a
    variable assigned in the same module, or returned by a function of the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assigned: dict[str, list[ast.expr]] = {}
    returned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.FunctionDef):
            returned[node.name] = [r.value for r in ast.walk(node)
                                   if isinstance(r, ast.Return) and r.value is not None]
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in RENDERERS and node.args):
            continue
        receiver = ast.unparse(node.func.value)
        if not (receiver.endswith("templates") or receiver == "t"
                or (node.func.attr == "text" and receiver.endswith("state"))):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Name):
            exprs = assigned.get(arg.id, [])
        elif isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name):
            exprs = returned.get(arg.func.id, [])
        else:
            exprs = [arg]
        for expr in exprs:
            for pattern in _name_patterns(expr) or []:
                found.append((node.lineno, pattern))
    return found


def _owned(feature: str) -> set[str]:
    spec = next(s for s in FEATURES if s.name == feature)
    return set(DEFAULT_TEMPLATES) | set(spec.templates)


@pytest.mark.parametrize("path", sorted(BOT.rglob("*.py")), ids=lambda p: str(p.relative_to(BOT)))
def test_every_rendered_template_name_exists(path: Path) -> None:
    """A feature renders its own templates or the core's; everything else renders the core's
    (render of a missing name raises at run time, when a member is waiting)."""
    parts = path.relative_to(BOT).parts
    known = _owned(parts[1]) if parts[0] == "features" and len(parts) > 2 else set(
        DEFAULT_TEMPLATES)
    for line, pattern in _rendered_names(path):
        assert any(pattern.fullmatch(n) for n in known), f"{path.name}:{line}: {pattern.pattern}"


def test_every_feature_template_is_rendered() -> None:
    """No dead defaults: each feature template is rendered by its feature."""
    for spec in FEATURES:
        rendered = [p for path in (BOT / "features" / spec.name).rglob("*.py")
                    for _, p in _rendered_names(path)]
        for name in spec.templates:
            assert any(p.fullmatch(name) for p in rendered), f"{spec.name}: {name}"


def test_feature_templates_pass_validation_and_do_not_shadow_the_core() -> None:
    defaults = template_defaults()
    assert validate_templates(defaults, defaults) == []
    assert not set(defaults) & set(DEFAULT_TEMPLATES)
    assert {"alert_header", "unanswered_nudge", "cw_case_no_dm", "member_case_note",
            "welcome_in_channel"} <= set(defaults)


def test_readme_lists_every_overridable_template() -> None:
    readme = (BOT.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Message templates"):]
    section = section[:section.index("\n### ", 1)]
    missing = [n for n in [*DEFAULT_TEMPLATES, *template_defaults()] if f"`{n}`" not in section]
    assert missing == []


def test_a_template_may_use_a_placeholder_called_name() -> None:
    assert Templates({"x": "{name} ({mention})"}).render("x", name="Riley", mention="@r") == (
        "Riley (@r)")

"""Rulebook: schema validation (every problem at once), evaluation semantics and purity."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.rules.actions import PARAMS as ACTIONS
from bot.rules.engine import Rulebook
from bot.rules.loader import parse_duration
from bot.rules.model import CATEGORIES, SEVERITIES, Action, Match, MatchContext, Rule, Scope

GOOD = """\
- id: crisis-intent
  category: crisis
  severity: critical
  description: Current suicidal intent
  match:
    any:
      - keywords: ["kill myself", "end my life"]
      - regex: '\\bsu[i1]c[i1]d(?:e|al)\\b'
    unless:
      - keywords: ["killing myself laughing"]
  scope: {channels: {exclude: [staff-room]}, exempt_roles: [moderator]}
  actions:
    - alert_moderators: {urgency: now}
    - signpost: {topic: crisis}
  cooldown: 10m
  examples:
    match: ["i want to k1ll myself"]
    no_match: ["I'm killing myself laughing", "this homework is killing me"]
- id: hostile-kys
  category: hostility
  severity: high
  description: kys aimed at someone
  match:
    any:
      - keywords: [kys]
  actions: [hide, warn]
  explain: Telling people to kill themselves is not allowed.
  examples:
    match: ["kys"]
    no_match: ["keys"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, templates: set[str] | None = None) -> list[str]:
    write(tmp_path, "pack.yaml", text)
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path, templates=templates)
    return [str(p) for p in info.value.problems]


def rule_yaml(**overrides: str) -> str:
    """One valid rule with some top-level keys replaced (values are YAML text)."""
    keys = {
        "id": "r1",
        "category": "other",
        "severity": "low",
        "description": "test rule",
        "match": "{any: [{keywords: [hello]}]}",
        "actions": "[log]",
    }
    keys.update(overrides)
    return "- " + "\n  ".join(f"{k}: {v}" for k, v in keys.items() if v is not None) + "\n"


# -- loading -----------------------------------------------------------------


def test_load_a_good_pack(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", GOOD)
    book = Rulebook.load(tmp_path)
    assert [r.id for r in book.rules] == ["crisis-intent", "hostile-kys"]
    rule = book.get("crisis-intent")
    assert rule is not None
    assert rule.severity_rank == SEVERITIES.index("critical")
    assert rule.cooldown == 600
    assert rule.scope.exempt_roles == frozenset({"moderator"})
    assert "staff-room" in rule.scope.channels_exclude
    assert rule.actions == (Action("alert_moderators", {"urgency": "now"}),
                            Action("signpost", {"topic": "crisis"}))
    assert rule.file.endswith("pack.yaml") and rule.line == 1
    assert book.get("hostile-kys").line == GOOD.splitlines().index("- id: hostile-kys") + 1  # type: ignore[union-attr]
    assert book.check_examples() == []
    assert book.example_count == 5


def test_interface_constants() -> None:
    assert SEVERITIES == ("info", "low", "medium", "high", "critical")
    assert "crisis" in CATEGORIES and "signpost" in CATEGORIES
    assert ACTIONS["timeout"] == {"minutes"}
    assert ACTIONS["reply"] == {"template", "privately"}


def test_signpost_topic_defaults_to_crisis(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", rule_yaml(actions="[signpost]"))
    rule = Rulebook.load(tmp_path).rules[0]
    assert rule.actions[0].params["topic"] == "crisis"


def test_packs_select_files_and_helplines_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", rule_yaml(id="a1"))
    write(tmp_path, "b.yaml", rule_yaml(id="b1"))
    write(tmp_path, "helplines.yaml", "countries: {}\n")
    write(tmp_path, "other-data.yaml", "some: mapping\n")
    write(tmp_path, "empty.yaml", "")
    assert {r.id for r in Rulebook.load(tmp_path).rules} == {"a1", "b1"}
    assert [r.id for r in Rulebook.load(tmp_path, packs=["b"]).rules] == ["b1"]
    assert [r.id for r in Rulebook.load(tmp_path, packs=["a.yaml"]).rules] == ["a1"]
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path, packs=["a", "nope"])
    assert "unknown rule pack 'nope'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path, packs=["other-data"])
    assert "not a rule file" in str(info.value)


def test_missing_rules_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path / "nowhere")
    assert "rules directory not found" in str(info.value)


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "- id: x\n  match: {any: [\n")
    write(tmp_path, "good.yaml", rule_yaml(id="ok", category="nonsense"))
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path)
    text = str(info.value)
    assert f"{tmp_path / 'bad.yaml'}:" in text
    assert f"{tmp_path / 'good.yaml'}:2: ok: unknown category 'nonsense'" in text  # both files


# -- validation: every problem, with file:line: rule-id -------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
        - id: x
          category: crisis
          severity: huge
          description: d
          match: {any: [{regex: 'a(b'}, {keywords: ['...']}], foo: 1}
          actions: [hide, {reply: {template: nope, privately: 3}}, {timeout: {minutes: -1}}, bogus]
          cooldown: 10 parsecs
          wat: 1
        - id: x
          category: other
          severity: low
        """
    got = problems_of(tmp_path, text, templates={"welcome"})
    f = str(tmp_path / "pack.yaml")
    expected = [
        f"{f}:8: x: unknown key 'wat'",
        f"{f}:3: x: unknown severity 'huge'",
        f"{f}:5: x: match: unknown key 'foo'",
        f"{f}:5: x: match.any[0]: bad regex /a(b/: missing )",
        f"{f}:5: x: match.any[1]: keyword '...' has no letters or digits",
        f"{f}:6: x: actions[1]: reply.privately must be true or false, got 3",
        f"{f}:6: x: actions[1]: reply.template names unknown template 'nope'",
        f"{f}:6: x: actions[2]: timeout.minutes must be a positive whole number, got -1",
        f"{f}:6: x: actions[3]: unknown action 'bogus'",
        f"{f}:6: x: crisis rules must never hide",
        f"{f}:6: x: crisis rules must never timeout",
        f"{f}:6: x: explain is required when actions include hide, timeout",
        f"{f}:7: x: cooldown must be a duration",
        f"{f}:9: x: missing required key 'description'",
        f"{f}:9: x: missing required key 'match'",
        f"{f}:9: x: missing required key 'actions'",
        f"{f}:9: x: duplicate id (first defined at {f}:1)",
    ]
    for needle in expected:
        assert any(p.startswith(needle) for p in got), (needle, got)
    assert len(got) == len(expected)


@pytest.mark.parametrize(
    ("overrides", "line", "message"),
    [
        ({"category": "spamz"}, 3, "unknown category 'spamz'"),
        ({"severity": "urgent"}, 4, "unknown severity 'urgent'"),
        ({"description": "''"}, 5, "description must be non-empty text"),
        ({"id": "Bad Id"}, 2, "id must be lower-case"),
        ({"shadow": "maybe"}, 8, "shadow must be true or false"),
        ({"priority": "high"}, 8, "priority must be a whole number"),
        ({"cooldown": "soon"}, 8, "cooldown must be a duration"),
        ({"match": "{unless: [{keywords: [x]}]}"}, 6, "match needs 'any' or 'all'"),
        ({"match": "{any: []}"}, 6, "match.any must be a non-empty list"),
        ({"match": "{any: [{keywords: [a], regex: b}]}"}, 6, "needs exactly one of keywords"),
        ({"match": "{any: [{keyword: [a]}]}"}, 6, "unknown key 'keyword'"),
        ({"match": "{any: [{keywords: [a], view: raw}]}"}, 6, "view applies to regex items only"),
        ({"match": "{any: [{regex: a, view: html}]}"}, 6, "unknown view 'html'"),
        ({"match": "{any: [{regex: 'x*'}]}"}, 6, "matches empty text"),
        ({"match": "{any: [{regex: '(?<=a)b'}]}"}, 6, "bad regex"),
        ({"match": "{any: [{keywords: ['* *']}]}"}, 6, "needs at least one word besides"),
        ({"match": "{any: [{keywords: 5}]}"}, 6, "must be a list of non-empty strings"),
        ({"match": "[hello]"}, 6, "match must be a mapping"),
        ({"actions": "[]"}, 7, "actions must be a non-empty list"),
        ({"actions": "[log, log]"}, 7, "action 'log' listed twice"),
        ({"actions": "[{alert_moderators: {urgency: soon}}]"}, 7, "urgency must be one of now, normal"),
        ({"actions": "[{signpost: {topic: gardening}}]"}, 7, "topic must be one of"),
        ({"actions": "[{signpost: {colour: red}}]"}, 7, "signpost has no parameter 'colour'"),
        ({"actions": "[{reply: {privately: true}}]"}, 7, "reply.template is required"),
        ({"actions": "[{timeout: {}}]"}, 7, "timeout.minutes is required"),
        ({"actions": "[{timeout: {minutes: true}}]"}, 7, "minutes must be a positive whole number"),
        ({"actions": "[{hide: {}, warn: {}}]"}, 7, "expected an action name"),
        ({"actions": "[warn]"}, 7, "explain is required when actions include warn"),
        ({"actions": "[redirect_cw]"}, 7, "explain is required when actions include redirect_cw"),
        ({"scope": "{channel: [a]}"}, 8, "scope: unknown key 'channel'"),
        ({"scope": "{channels: {only: [a]}}"}, 8, "scope.channels: unknown key 'only'"),
        ({"scope": "{exempt_roles: mods, newcomers_only: 1}"}, 8, "newcomers_only must be true or false"),
        ({"examples": "{match: [1]}"}, 8, "examples.match must be a list of non-empty strings"),
        ({"examples": "{matches: [a]}"}, 8, "examples: unknown key 'matches'"),
    ],
)
def test_each_problem_names_file_line_and_rule(
    tmp_path: Path, overrides: dict[str, str], line: int, message: str
) -> None:
    got = problems_of(tmp_path, "\n" + rule_yaml(**overrides))
    rid = overrides.get("id", "r1")
    prefix = f"{tmp_path / 'pack.yaml'}:{line}: {rid}: "
    assert any(p.startswith(prefix) and message in p for p in got), (prefix, message, got)


@pytest.mark.parametrize("action", ["hide", "timeout: {minutes: 5}", "warn"])
def test_crisis_rules_never_punish(tmp_path: Path, action: str) -> None:
    got = problems_of(tmp_path, rule_yaml(category="crisis", explain="x", actions=f"[{{{action}}}]"
                                          if ":" in action else f"[{action}]"))
    assert any("crisis rules must never" in p for p in got), got


def test_templates_are_checked_only_when_given(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", rule_yaml(actions="[{reply: {template: pii_nudge, privately: true}}]"))
    assert Rulebook.load(tmp_path).rules  # no templates: not checked
    assert Rulebook.load(tmp_path, templates={"pii_nudge"}).rules
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path, templates={"welcome"})
    assert "names unknown template 'pii_nudge' (known: welcome)" in str(info.value)


def test_top_level_must_be_a_list(tmp_path: Path) -> None:
    got = problems_of(tmp_path, "just a string\n")
    assert got == [f"{tmp_path / 'pack.yaml'}:1: rules: expected a list of rules at the top level"]
    got = problems_of(tmp_path, "- just a string\n")
    assert got == [f"{tmp_path / 'pack.yaml'}:1: rule #1: expected a rule (a mapping with id, category, ...)"]


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", rule_yaml(id="same"))
    write(tmp_path, "b.yaml", "\n\n" + rule_yaml(id="same"))
    with pytest.raises(ConfigError) as info:
        Rulebook.load(tmp_path)
    assert str(info.value) == (f"{tmp_path / 'b.yaml'}:3: same: duplicate id "
                               f"(first defined at {tmp_path / 'a.yaml'}:1)")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30.0), (1.5, 1.5), ("30s", 30.0), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0),
     ("1h30m", 5400.0), ("-5", None), (-1, None), (True, None), ("ten", None), ([], None)],
)
def test_parse_duration(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


# -- evaluation ----------------------------------------------------------------


@pytest.fixture()
def book() -> Rulebook:
    return Rulebook.loads(GOOD, "good.yaml")


def test_evaluate_reports_reason_and_original_span(book: Rulebook) -> None:
    [m] = book.evaluate("I want to K1LL mys3lf")
    assert m.rule.id == "crisis-intent"
    assert m.reason == 'keyword "kill myself"'
    assert m.matched == "K1LL mys3lf"
    [m] = book.evaluate("feeling $u1c1dal again")
    assert m.reason.startswith("regex /") and m.reason.endswith('/ matched "$u1c1dal"')
    assert m.matched == "$u1c1dal"


def test_unless_vetoes_and_all_requires_every_item() -> None:
    book = Rulebook.loads("""\
- id: both
  category: other
  severity: low
  description: d
  match:
    all:
      - keywords: [apple]
      - regex: '\\bpears?\\b'
    unless:
      - keywords: [no fruit]
  actions: [log]
- id: any-and-all
  category: other
  severity: low
  description: d
  match:
    any: [{keywords: [red]}, {keywords: [green]}]
    all: [{keywords: [apple]}]
  actions: [log]
""")
    ids = lambda text: [m.rule.id for m in book.evaluate(text)]  # noqa: E731
    assert ids("an apple and a pear") == ["both"]
    assert ids("an apple") == []
    assert ids("an apple and a pear, no fruit for me") == []
    assert ids("a green apple") == ["any-and-all"]
    assert ids("a green pear") == []
    assert ids("a red apple and pears") == ["any-and-all", "both"]


def test_sorted_by_severity_then_priority_then_id_and_one_match_per_rule() -> None:
    rules = "".join(
        rule_yaml(id=rid, severity=sev, priority=str(prio),
                  match="{any: [{keywords: [hello, hi there]}, {regex: 'hel+o'}]}")
        for rid, sev, prio in [("b-low", "low", 0), ("a-low", "low", 0), ("z-high", "high", 0),
                               ("m-low-prio", "low", 5), ("info", "info", 9)]
    )
    book = Rulebook.loads(rules)
    matches = book.evaluate("hello hello, hi there")
    assert [m.rule.id for m in matches] == ["z-high", "m-low-prio", "a-low", "b-low", "info"]


def test_scope_filtering(book: Rulebook) -> None:
    text = "i will kill myself"
    assert book.evaluate(text, None)
    assert book.evaluate(text, MatchContext())
    assert book.evaluate(text, MatchContext(channel_names=frozenset({"support"})))
    assert not book.evaluate(text, MatchContext(channel_names=frozenset({"c1", "#staff-room"})))
    assert not book.evaluate(text, MatchContext(roles=frozenset({"moderator"})))
    rules = rule_yaml(id="new", scope="{newcomers_only: true, channels: {include: ['#intro']}}")
    scoped = Rulebook.loads(rules)
    assert scoped.evaluate("hello")  # ctx None: no filtering
    assert not scoped.evaluate("hello", MatchContext(channel_names=frozenset({"intro"})))
    assert scoped.evaluate("hello", MatchContext(channel_names=frozenset({"intro"}), is_newcomer=True))
    assert not scoped.evaluate("hello", MatchContext(channel_names=frozenset({"general"}),
                                                     is_newcomer=True))


def test_evaluate_is_pure(book: Rulebook) -> None:
    before = (book.rules, [vars(r) if hasattr(r, "__dict__") else r for r in book.rules])
    first = book.evaluate("i will kill myself")
    second = book.evaluate("i will kill myself")
    assert first == second
    assert first is not second
    assert book.evaluate("nothing here") == []
    assert (book.rules, [vars(r) if hasattr(r, "__dict__") else r for r in book.rules]) == before
    m = first[0]
    with pytest.raises(AttributeError):
        m.reason = "changed"  # type: ignore[misc]


def test_match_is_a_value() -> None:
    rule = Rule(id="r", category="other", severity="low", description="d", actions=())
    a = Match(rule, "keyword \"x\"", "x")
    b = Match(rule, explain=lambda: ("keyword \"x\"", "x"))
    assert a == b and hash(a) == hash(b)
    assert "keyword" in repr(a)
    with pytest.raises(TypeError):
        Match(rule, "only a reason")


def test_shadow_rules_still_match(tmp_path: Path) -> None:
    book = Rulebook.loads(rule_yaml(shadow="true"))
    [m] = book.evaluate("hello")
    assert m.rule.shadow is True


def test_wildcard_keywords_and_phrases_alias() -> None:
    book = Rulebook.loads(rule_yaml(match="{any: [{phrases: ['end * life']}]}"))
    assert book.evaluate("I will end my life")
    assert book.evaluate("end this stupid life") == []  # one word only
    [m] = book.evaluate("end this life")
    assert m.reason == 'keyword "end * life"'


def test_raw_view_regex_reason(tmp_path: Path) -> None:
    book = Rulebook.loads(rule_yaml(match="{any: [{regex: '\\b07\\d{3} \\d{6}\\b', view: raw}]}"))
    [m] = book.evaluate("ring 07700 900123 ok")
    assert m.matched == "07700 900123"
    assert "on raw text" in m.reason


def test_check_examples_reports_failures(tmp_path: Path) -> None:
    book = Rulebook.loads(rule_yaml(examples="{match: [goodbye], no_match: [hello there]}"), "x.yaml")
    failures = book.check_examples()
    assert failures == [
        'x.yaml:7: r1: expected match for "goodbye" (got: no match)',
        'x.yaml:7: r1: expected no match for "hello there" (got: keyword "hello")',
    ]


def test_rule_helpers() -> None:
    rule = Rule(id="r", category="other", severity="high", description="d",
                actions=(Action("log", {}),), scope=Scope(), file="f.yaml", line=3)
    assert rule.where == "f.yaml:3"
    assert rule.action("log") == Action("log", {})
    assert rule.action("hide") is None
    assert rule.severity_rank == 3
    assert hash(rule) == hash(rule)


def test_check_examples_points_at_the_failing_example_line() -> None:
    text = """\
- id: r1
  category: other
  severity: low
  description: d
  match: {any: [{keywords: [hello]}]}
  actions: [log]
  examples:
    match:
      - hello
      - goodbye
"""
    assert Rulebook.loads(text, "y.yaml").check_examples() == [
        'y.yaml:10: r1: expected match for "goodbye" (got: no match)'
    ]


def test_doubled_letter_across_a_group_is_refused_with_a_fix() -> None:
    from bot.core.errors import ConfigError
    from bot.rules.engine import Rulebook

    text = ("- id: dbl\n  category: crisis\n  severity: high\n  description: d\n"
            "  match: {any: [{regex: 'cut(?:ting)? myself'}]}\n"
            "  actions: [{alert_moderators: {urgency: now}}]\n")
    with pytest.raises(ConfigError) as info:
        Rulebook.loads(text, "dbl.yaml")
    assert "dbl.yaml:5: dbl" in str(info.value) and "t(?:t?...)" in str(info.value)
    fixed = text.replace("cut(?:ting)?", "cut(?:t?ing)?")
    book = Rulebook.loads(fixed, "dbl.yaml")
    assert [m.rule.id for m in book.evaluate("i keep cutting myself")] == ["dbl"]

"""bot.core.sections: a section's keys and conversions come from its dataclass fields."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from bot.core.config import ROLES_SECTION, Config, RolesConfig, parse_config
from bot.core.errors import ConfigError, Problem
from bot.core.sections import Checks, Section, SectionReader, known_section, opt
from bot.core.yamlsrc import load_text

FILE = "haven.yaml"
HEAD = "channels: {moderators: mods}\nrules: {dir: rules}\n"


@dataclass(frozen=True)
class Widget:
    """A section using every derived conversion."""

    name: str = "w"
    note: str | None = None
    on: bool = True
    count: int = 3
    size: int = field(default=5, metadata=opt(between=(1, 10)))
    ratio: float = 1.0
    wait: float = field(default=60.0, metadata=opt(duration=True))
    delay: float = field(default=60.0, metadata=opt(duration=True, positive=True))
    at: int | None = field(default=None, metadata=opt(clock=True))
    tags: tuple[str, ...] = ()
    slots: tuple[int, ...] | None = field(default=None,
                                          metadata=opt(between=(0, 9), items="slot numbers"))
    file: Path = Path("w.txt")
    mode: Literal["fast", "slow"] = "fast"
    text: str = field(default="", metadata=opt(template=True))


WIDGET = Section("test_widget", Widget)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "helplines.yaml").write_text("countries: {}\n")
    return tmp_path


def load(text: str, base: Path, *sections: Section[Any]) -> Config:
    return parse_config(load_text(HEAD + text, FILE), FILE, base, sections or (WIDGET,))


def problems(text: str, base: Path, *sections: Section[Any]) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load(text, base, *sections)
    return info.value.problems


def only(text: str, base: Path, *sections: Section[Any]) -> Problem:
    found = problems(text, base, *sections)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# -- derived conversions --------------------------------------------------------------


def test_absent_section_and_null_values_give_the_defaults(base: Path) -> None:
    assert load("", base).get(WIDGET) == Widget()
    assert load("test_widget:\n  count: null\n  tags:\n", base).get(WIDGET) == Widget()


def test_every_conversion(base: Path) -> None:
    w = load("""\
test_widget:
  name: 42
  note: hello
  on: false
  count: -7
  size: 10
  ratio: 2.5
  wait: 0
  delay: 2h
  at: '23:30'
  tags: solo
  slots: [0, 9]
  file: sub/x.txt
  mode: slow
  text: 'Hi {member}'
""", base).get(WIDGET)
    assert w == Widget(name="42", note="hello", on=False, count=-7, size=10, ratio=2.5, wait=0.0,
                       delay=7200.0, at=23 * 60 + 30, tags=("solo",), slots=(0, 9),
                       file=base / "sub/x.txt", mode="slow", text="Hi {member}")
    assert load("test_widget: {file: /abs/w.txt, tags: [a, 7]}\n", base).get(WIDGET).file == \
        Path("/abs/w.txt")


@pytest.mark.parametrize(("value", "key", "message"), [
    ("name: ''", "name", "must not be empty"),
    ("name: true", "name", "expected text, got True"),
    ("on: 'yes'", "on", "expected true or false, got 'yes'"),
    ("count: 1.5", "count", "expected a whole number, got 1.5"),
    ("size: 11", "size", "must be between 1 and 10, got 11"),
    ("ratio: -1", "ratio", "expected a non-negative number, got -1"),
    ("ratio: .inf", "ratio", "expected a non-negative number"),
    ("delay: 0", "delay", "must be longer than zero"),
    ("wait: soon", "wait", ""),
    ("at: '25:00'", "at", "not a time of day"),
    ("tags: {a: 1}", "tags", "expected a list of names"),
    ("slots: 3", "slots", "expected a list of slot numbers"),
    ("slots: [1, 10]", "slots", "must be between 0 and 9, got 10"),
    ("mode: quick", "mode", "must be one of fast, slow, got 'quick'"),
    ("text: [a]", "text", "a template must be text"),
    ("text: 'Hi {membr}'", "text", "{membr}"),
    ("file: ''", "file", "must not be empty"),
])
def test_every_conversion_reports_its_problem(base: Path, value: str, key: str,
                                              message: str) -> None:
    p = only(f"test_widget:\n  {value}\n", base)
    assert (p.file, p.line, p.key) == (FILE, 4, f"test_widget.{key}")
    assert message in p.message


def test_unknown_keys_get_a_hint_and_secrets_are_refused(base: Path) -> None:
    found = problems("test_widget:\n  sise: 3\n  banana: 1\n  token: x\n", base)
    assert [(p.line, p.key) for p in found] == [
        (4, "test_widget.sise"), (5, "test_widget.banana"), (6, "test_widget.token")]
    assert found[0].message == "unknown key (did you mean 'size'?)"
    assert found[1].message == "unknown key"
    assert "secrets must not be stored" in found[2].message


def test_a_section_key_is_a_top_level_key(base: Path) -> None:
    p = only("test_widgets: {}\n", base)
    assert (p.line, p.key) == (3, "test_widgets")
    assert "did you mean 'test_widget'?" in p.message
    p = only("test_widget: [a]\n", base)
    assert (p.line, p.key, p.message) == (3, "test_widget", "must be a mapping of settings")


def test_all_problems_of_a_section_at_once(base: Path) -> None:
    found = problems("test_widget: {size: 0, mode: x, tags: {}}\n", base)
    assert [p.key for p in found] == ["test_widget.size", "test_widget.tags", "test_widget.mode"]


# -- declaring sections ---------------------------------------------------------------


def test_a_section_must_be_a_frozen_dataclass_with_derivable_fields() -> None:
    @dataclass
    class Loose:
        x: int = 1

    @dataclass(frozen=True)
    class Odd:
        x: dict[str, int] = field(default_factory=dict)

    @dataclass(frozen=True)
    class NoDefault:
        x: int

    with pytest.raises(TypeError, match="frozen dataclass"):
        Section("test_loose", Loose)
    with pytest.raises(TypeError, match="no derived reader"):
        Section("test_odd", Odd)
    with pytest.raises(TypeError, match="needs a default"):
        Section("test_nodefault", NoDefault)
    Section("test_odd", Odd, parse=lambda s: Odd())  # read by hand: fine


def test_a_section_cannot_take_a_core_key(base: Path) -> None:
    with pytest.raises(ValueError, match="core"):
        load("", base, Section("roles", RolesConfig))


# -- hand parsing, hidden fields, cross-section checks ---------------------------------


@dataclass(frozen=True)
class Window:
    """A section with a hand-read field, a hidden one and an extra key."""

    enabled: bool = True
    span: tuple[int, int] | None = field(default=None, metadata=opt(manual=True))
    label: str | None = field(default=None, metadata=opt(hidden=True))


def _parse_window(s: SectionReader) -> Window:
    span = None
    raw = s.node.get("span")
    if raw is not None:
        if isinstance(raw, list) and len(raw) == 2 and all(isinstance(x, int) for x in raw):
            span = (raw[0], raw[1])
        else:
            s.problem(s.node, "span", "test_window.span", "must be two numbers")
    tag = s.node.get("tag")
    return s.build(span=span, label=str(tag) if tag is not None else None)


def _check_window(w: Window, checks: Checks) -> list[Problem]:
    if w.enabled and not checks.get(ROLES_SECTION).greeters and not checks.failed("roles.greeters"):
        return [checks.problem("test_window.enabled", "needs roles.greeters")]
    return []


WINDOW = Section("test_window", Window, parse=_parse_window, check=_check_window,
                 extra_keys=frozenset({"tag"}))


def test_hand_parsed_field_hidden_field_and_extra_key(base: Path) -> None:
    config = load("roles: {greeters: [G]}\ntest_window: {span: [1, 2], tag: t}\n", base, WINDOW)
    assert config.get(WINDOW) == Window(True, (1, 2), "t")
    p = only("roles: {greeters: [G]}\ntest_window:\n  span: 3\n", base, WINDOW)
    assert (p.line, p.key, p.message) == (5, "test_window.span", "must be two numbers")
    p = only("roles: {greeters: [G]}\ntest_window:\n  label: x\n", base, WINDOW)
    assert p.key == "test_window.label" and p.message == "unknown key"


def test_cross_section_check_sees_other_sections_and_stays_quiet_after_a_failure(
        base: Path) -> None:
    p = only("test_window:\n  enabled: true\n", base, WINDOW)
    assert (p.line, p.key, p.message) == (4, "test_window.enabled", "needs roles.greeters")
    p = only("", base, WINDOW)  # absent: at the line of the nearest mapping (the file)
    assert (p.line, p.key) == (1, "test_window.enabled")
    p = only("roles: {greeters: {a: 1}}\n", base, WINDOW)
    assert p.key == "roles.greeters"
    assert load("test_window: {enabled: false}\n", base, WINDOW).get(WINDOW).enabled is False


def test_finish_fills_a_value_from_another_section(base: Path) -> None:
    def from_widget(w: Window, checks: Checks) -> Window:
        if checks.given("test_window.tag"):
            return w
        return replace(w, label=checks.get(WIDGET).name)

    window = replace(WINDOW, finish=from_widget, check=None)
    config = load("test_widget: {name: gizmo}\n", base, WIDGET, window)
    assert config.get(WINDOW).label == "gizmo"
    config = load("test_widget: {name: gizmo}\ntest_window: {tag: own}\n", base, WIDGET, window)
    assert config.get(WINDOW).label == "own"


# -- Config: typed access, keyword sections, defaults -----------------------------------


def test_config_holds_sections_by_key() -> None:
    config = Config(platform="matrix", test_widget=Widget(count=9), roles=RolesConfig(("M",)))
    assert config.get(WIDGET).count == 9
    assert config.test_widget.count == 9
    assert config.get(ROLES_SECTION).moderators == ("M",)
    assert config.get(WINDOW) == Window()  # not given: its defaults
    assert config.test_window == Window()
    assert known_section("test_widget") is WIDGET


def test_config_refuses_a_section_of_the_wrong_type_and_unknown_names() -> None:
    with pytest.raises(TypeError, match="Widget"):
        Config(test_widget=Window())
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = Config().no_such_thing


def test_a_hook_cannot_read_a_section_read_after_it(base: Path) -> None:
    def too_early(w: Window, checks: Checks) -> Window:
        return replace(w, label=checks.get(WIDGET).name)

    with pytest.raises(LookupError, match="test_widget"):
        load("", base, replace(WINDOW, finish=too_early, check=None), WIDGET)


def test_dataclasses_replace_keeps_the_sections() -> None:
    config = Config(platform="matrix", test_widget=Widget(count=9))
    moved = replace(config, platform="discord")
    assert (moved.platform, moved.get(WIDGET).count) == ("discord", 9)
    assert replace(config) == config

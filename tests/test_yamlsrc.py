"""bot.core.yamlsrc: YAML with line numbers, duplicate keys refused, readable file errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.core.errors import ConfigError, Problem
from bot.core.yamlsrc import LineDict, LineList, line_of, load_file, load_text

DOC = """\
# a comment
name: Harbour
rules:
  dir: rules
  packs:
    - crisis
    - pii
flow: {a: 1, b: [x, y]}
"""


def error(text: str, filename: str = "f.yaml") -> Problem:
    """The single problem ``text`` produces."""
    with pytest.raises(ConfigError) as info:
        load_text(text, filename)
    (p,) = info.value.problems
    return p


def test_mappings_and_lists_know_their_lines() -> None:
    root = load_text(DOC, "f.yaml")
    assert isinstance(root, LineDict)
    assert root == {"name": "Harbour", "rules": {"dir": "rules", "packs": ["crisis", "pii"]},
                    "flow": {"a": 1, "b": ["x", "y"]}}
    assert root.line == 2
    assert (root.line_of("name"), root.line_of("rules"), root.line_of("flow")) == (2, 3, 8)
    rules = root["rules"]
    assert isinstance(rules, LineDict)
    assert (rules.line, rules.line_of("dir"), rules.line_of("packs")) == (4, 4, 5)
    packs = rules["packs"]
    assert isinstance(packs, LineList)
    assert (packs.line, packs.line_of(0), packs.line_of(1)) == (6, 6, 7)
    assert root["flow"].line_of("b") == 8
    assert root["flow"]["b"].line_of(1) == 8


def test_absent_key_or_index_falls_back_to_the_node_line() -> None:
    root = load_text(DOC, "f.yaml")
    assert root["rules"].line_of("missing") == 4
    assert root["rules"]["packs"].line_of(5) == 6
    assert root["rules"]["packs"].line_of(-1) == 6


def test_line_of_helper() -> None:
    root = load_text(DOC, "f.yaml")
    assert line_of(root) == 2
    assert line_of(root, "flow") == 8
    assert line_of(root["rules"]["packs"], 1) == 7
    assert line_of(root["rules"]["packs"], "x") == 6
    assert line_of("plain", default=42) == 42
    assert line_of(None) == 0


def test_empty_document_is_none() -> None:
    assert load_text("", "f.yaml") is None
    assert load_text("# only a comment\n", "f.yaml") is None


def test_merge_keys_work() -> None:
    root = load_text("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert root["use"] == {"x": 1, "y": 2}


def test_duplicate_key_rejected_with_its_line() -> None:
    p = error("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert (p.file, p.line, p.key) == ("f.yaml", 4, "yaml")
    assert "duplicate key 'c'" in p.message


def test_duplicate_key_in_flow_mapping() -> None:
    p = error("a: {x: 1, x: 2}\n")
    assert (p.line, p.key) == (1, "yaml")
    assert "duplicate key 'x'" in p.message


def test_list_as_key_is_refused_not_a_crash() -> None:
    p = error("ok: 1\n? [a, b]\n: c\n")
    assert (p.line, p.key) == (2, "yaml")
    assert "single value" in p.message


@pytest.mark.parametrize(("text", "line"), [
    ("a: [1, 2\nb: 3\n", 2),            # unclosed flow sequence
    ("a: 1\n  b: 2\n", 2),              # bad indentation
    ("a: 'open\n", 2),                  # unclosed quote
    ("a: 1\n---\nb: 2\n", 2),           # two documents
    ("a: *nowhere\n", 1),               # unknown alias
    ("a: !!python/object:os.system x\n", 1),  # unsafe tags are refused
])
def test_syntax_errors_have_a_line(text: str, line: int) -> None:
    p = error(text)
    assert (p.line, p.key) == (line, "yaml")
    assert p.message


def test_yaml_1_2_scalars() -> None:
    root = load_text(
        "a: off\nb: yes\nc: NO\nd: true\ne: False\nf: 23:00\ng: 1_000\nh: 0x1f\ni: 1.5\n"
        "j: .inf\nk: =\nl: 2026-11-01\nm: '07:00'\nn: ~\no: -3\n", "f.yaml")
    assert root == {"a": "off", "b": "yes", "c": "NO", "d": True, "e": False, "f": "23:00",
                    "g": 1000, "h": 31, "i": 1.5, "j": float("inf"), "k": "=",
                    "l": dt.date(2026, 11, 1), "m": "07:00", "n": None, "o": -3}


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a:\n  - b\n", encoding="utf-8")
    root = load_file(path)
    assert root == {"a": ["b"]}
    assert root["a"].line_of(0) == 2


def test_load_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert str(info.value) == f"{path}:2: yaml: duplicate key 'a'"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_file(path)
    (p,) = info.value.problems
    assert (p.file, p.line, p.key) == (str(path), 0, "file")
    assert "No such file or directory" in p.message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_file(tmp_path)
    (p,) = info.value.problems
    assert (p.line, p.key) == (0, "file")


def test_non_utf8_file_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: ok\ncity: Malmö\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_file(path)
    (p,) = info.value.problems
    assert (p.file, p.line, p.key) == (str(path), 2, "file")
    assert "not UTF-8" in p.message


def test_utf8_with_bom_and_unicode(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: Hafen ☂\n".encode())
    assert load_file(path) == {"name": "Hafen ☂"}


def test_control_characters_are_reported_at_their_line() -> None:
    # found by the fuzzer: a control character gave line 0 and "<unicode string>"
    with pytest.raises(ConfigError) as err:
        load_text("a: 1\nb: 2\nc: \x1f\n", "haven.yaml")
    [problem] = err.value.problems
    assert problem.line == 3 and "U+001F" in problem.message
    assert "<unicode string>" not in str(problem)


def test_path_checks_answer_false_for_names_the_os_refuses(tmp_path) -> None:
    from bot.core.yamlsrc import is_dir, is_file

    assert is_dir(tmp_path) and not is_file(tmp_path)
    (tmp_path / "a.yaml").write_text("x: 1\n")
    assert is_file(tmp_path / "a.yaml")
    for refused in (tmp_path / ("x" * 5000), tmp_path / "nul\x00byte"):
        assert not is_dir(refused) and not is_file(refused)

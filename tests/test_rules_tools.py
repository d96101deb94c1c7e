"""``haven rules test`` and ``haven scan`` as functions: output format and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.rules.tools import default_rules_dir, run_rules_test, run_scan

RULE = """\
- id: greet
  category: other
  severity: low
  description: greetings
  match: {any: [{keywords: [hello]}]}
  actions: [log]
  examples:
    match: [hello there]
    no_match: [goodbye]
"""


def test_default_rules_dir_is_the_repo_rules_folder() -> None:
    path = default_rules_dir()
    assert path.name == "rules"
    assert (path / "crisis.yaml").is_file()


def test_rules_test_passes_on_the_shipped_packs() -> None:
    out = io.StringIO()
    assert run_rules_test(default_rules_dir(), out) == 0
    last = out.getvalue().strip().splitlines()[-1]
    assert last.endswith("examples: all passed")
    assert last.split()[1] == "rules,"


def test_rules_test_reports_failing_examples(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(RULE.replace("no_match: [goodbye]", "no_match: [hello you]"))
    out = io.StringIO()
    assert run_rules_test(tmp_path, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == f'{tmp_path / "p.yaml"}:9: greet: expected no match for "hello you" (got: keyword "hello")'
    assert lines[-1] == "1 rules, 2 examples: 1 failed"


def test_rules_test_reports_every_load_problem(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(RULE.replace("severity: low", "severity: nope").replace(
        "actions: [log]", "actions: [explode]"))
    out = io.StringIO()
    assert run_rules_test(tmp_path, out) == 1
    text = out.getvalue()
    assert f"{tmp_path / 'p.yaml'}:3: greet: unknown severity 'nope'" in text
    assert f"{tmp_path / 'p.yaml'}:6: greet: actions[0]: unknown action 'explode'" in text
    assert "2 problem(s)" in text


def scan(rules: Path, stdin: str) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    code = run_scan(rules, io.StringIO(stdin), out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_scan_writes_one_line_per_input_line_in_order(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(RULE)
    lines = [json.dumps({"text": t}) for t in ("hello", "nothing", "well hello")]
    code, out = scan(tmp_path, "\n".join(lines) + "\n\n")
    assert code == 0
    assert out == [
        {"text": "hello", "matches": [{"rule": "greet", "category": "other", "severity": "low"}]},
        {"text": "nothing", "matches": []},
        {"text": "well hello", "matches": [{"rule": "greet", "category": "other", "severity": "low"}]},
    ]


def test_scan_reports_malformed_lines_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(RULE)
    code, out = scan(tmp_path, '{"text": "hello"}\nnot json\n{"txt": 1}\n[1]\n{"text": "hello"}\n')
    assert code == 1
    assert len(out) == 5
    assert out[0]["matches"] and out[4]["matches"]
    assert out[1]["error"].startswith("line 2: invalid JSON")  # type: ignore[union-attr]
    assert "line 3" in out[2]["error"] and "line 4" in out[3]["error"]  # type: ignore[operator]


def test_scan_uses_the_shipped_packs_without_scope() -> None:
    code, out = scan(default_rules_dir(), json.dumps({"text": "I want to k1ll myself"}) + "\n")
    assert code == 0
    assert {"crisis"} <= {m["category"] for m in out[0]["matches"]}  # type: ignore[index,union-attr]


def test_scan_with_broken_rules_fails_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.yaml").write_text("- id: x\n")
    code, out = scan(tmp_path, '{"text": "hello"}\n')
    assert code == 1 and out == []
    assert "missing required key" in capsys.readouterr().err

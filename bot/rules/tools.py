"""Engine commands wired into the ``haven`` CLI: ``rules test`` and ``scan``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from bot.errors import ConfigError
from bot.rules.rulebook import Rulebook


def default_rules_dir() -> Path:
    """The ``rules/`` folder at the repository root (works for editable installs)."""
    return Path(__file__).resolve().parents[2] / "rules"


def run_rules_test(rules_dir: str | Path | None = None, out: TextIO | None = None) -> int:
    """Load the rules, run every embedded example, print failures and a summary.

    Returns 0 when everything loads and every example passes, else 1.
    """
    out = out or sys.stdout
    rules_dir = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    try:
        book = Rulebook.load(rules_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        print(f"{len(exc.problems)} problem(s) in {rules_dir}", file=out)
        return 1
    failures = book.check_examples()
    for failure in failures:
        print(failure, file=out)
    summary = f"{len(book.rules)} rules, {book.example_count} examples"
    if failures:
        print(f"{summary}: {len(failures)} failed", file=out)
        return 1
    print(f"{summary}: all passed", file=out)
    return 0


def run_scan(rules_dir: str | Path | None, stdin: TextIO, stdout: TextIO) -> int:
    """Read JSON lines with a ``text`` field; write one JSON line of matches per line.

    Output per non-blank input line, in order:
    ``{"text": ..., "matches": [{"rule": id, "category": c, "severity": s}, ...]}``.
    A malformed line gets ``{"error": "..."}`` and the exit code becomes 1.
    Rules are evaluated without scope filtering. A rules problem prints the
    problems to stderr and returns 1 before reading any input.
    """
    rules_dir = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    try:
        book = Rulebook.load(rules_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    status = 0
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _write(stdout, {"error": f"line {number}: invalid JSON: {exc.msg}"})
            status = 1
            continue
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            _write(stdout, {"error": f'line {number}: expected an object with a string "text" field'})
            status = 1
            continue
        matches = [
            {"rule": m.rule.id, "category": m.rule.category, "severity": m.rule.severity}
            for m in book.evaluate(text)
        ]
        _write(stdout, {"text": text, "matches": matches})
    return status


def _write(stdout: TextIO, obj: dict[str, object]) -> None:
    stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    stdout.flush()

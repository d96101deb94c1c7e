"""Engine commands wired into the ``haven`` CLI: ``rules test`` and ``scan``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.core.errors import ConfigError
from bot.rules.engine import Rulebook
from bot.rules.model import Match

if TYPE_CHECKING:
    from bot.detection.stage import SemanticStage


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


def run_scan(rules_dir: str | Path | None, stdin: TextIO, stdout: TextIO,
             semantic: SemanticStage | None = None) -> int:
    """Read JSON lines with a ``text`` field; write one JSON line of matches per line.

    Output per non-blank input line, in order:
    ``{"text": ..., "matches": [{"rule": id, "category": c, "severity": s}, ...]}``;
    matches of the semantic stage (``semantic``, when given) also carry ``score`` and ``reason``.
    A malformed line gets ``{"error": "..."}`` and the exit code becomes 1.
    Rules are evaluated without scope filtering. A rules problem prints the
    problems to stderr and returns 1 before reading any input. With the semantic
    stage, lines are scored in batches (one line at a time from a terminal).
    """
    rules_dir = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    try:
        book = Rulebook.load(rules_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    status = 0
    batch_size = 1 if semantic is None or _interactive(stdin) else SCAN_BATCH
    batch: list[tuple[int, str]] = []
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        batch.append((number, line))
        if len(batch) >= batch_size:
            status |= _scan_batch(book, semantic, batch, stdout)
            batch = []
    if batch:
        status |= _scan_batch(book, semantic, batch, stdout)
    return status


SCAN_BATCH = 64


def _interactive(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _scan_batch(book: Rulebook, semantic: SemanticStage | None, lines: list[tuple[int, str]],
                stdout: TextIO) -> int:
    status = 0
    rows: list[dict[str, object]] = []
    for number, line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append({"error": f"line {number}: invalid JSON: {exc.msg}"})
            status = 1
            continue
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            rows.append({"error": f'line {number}: expected an object with a string "text" field'})
            status = 1
            continue
        rows.append({"text": text, "matches": book.evaluate(text)})
    if semantic is not None:
        todo = [r for r in rows if "text" in r]
        extra = semantic.detect_many([str(r["text"]) for r in todo],
                                     [r["matches"] for r in todo])  # type: ignore[misc]
        for row, more in zip(todo, extra, strict=True):
            row["matches"] = [*row["matches"], *more]  # type: ignore[misc]
    for row in rows:
        if "matches" in row:
            row["matches"] = [match_json(m) for m in row["matches"]]  # type: ignore[attr-defined]
        _write(stdout, row)
    return status


def match_json(m: Match) -> dict[str, object]:
    """A match as ``haven scan`` prints it."""
    out: dict[str, object] = {"rule": m.rule.id, "category": m.rule.category,
                              "severity": m.rule.severity}
    score = getattr(m, "score", None)
    if score is not None:
        out["score"] = round(float(score), 3)
        out["reason"] = m.reason
    if m.rule.shadow:
        out["shadow"] = True
    return out


def _write(stdout: TextIO, obj: dict[str, object]) -> None:
    stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    stdout.flush()

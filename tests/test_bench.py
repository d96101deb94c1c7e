"""A tiny smoke run of the engine benchmark (small sizes, a fraction of a second)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "engine.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_engine"] = module
    spec.loader.exec_module(module)
    return module


def test_bench_json_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    code = bench.main(["--keywords", "300", "--regex-rules", "8", "--messages", "40",
                       "--min-seconds", "0.01", "--baseline-seconds", "0.01",
                       "--semantic-messages", "4", "--json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("haven_msgs_per_s", "baseline_msgs_per_s", "ratio", "keywords", "regex_rules",
                "shipped_haven_msgs_per_s", "shipped_baseline_msgs_per_s",
                "semantic_msgs_per_s", "semantic_p99_ms"):
        assert key in figures, key
    assert figures["keywords"] == 300
    assert figures["regex_rules"] == 8
    assert figures["haven_msgs_per_s"] > 0 and figures["baseline_msgs_per_s"] > 0
    assert figures["agreement"] == 1.0  # Haven and the baseline find the same rules
    assert figures["semantic_msgs_per_s"] > 0 and figures["semantic_p99_ms"] > 0


def test_generated_pack_is_valid_and_deterministic() -> None:
    bench = load_bench()
    a = bench.generate_pack(50, 5, 4, seed=3)
    b = bench.generate_pack(50, 5, 4, seed=3)
    assert a == b
    assert len(a.keywords) == len(set(a.keywords)) == 50
    from bot.rules.engine import Rulebook

    book = Rulebook.loads(a.yaml_text, "generated.yaml")
    assert len(book.rules) == 9
    messages = bench.generate_messages(200, a)
    assert any(book.evaluate(m) for m in messages)


def test_readable_report(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    assert bench.main(["--keywords", "50", "--regex-rules", "2", "--messages", "10",
                       "--min-seconds", "0.01", "--baseline-seconds", "0.01"]) == 0
    assert "msgs/s" in capsys.readouterr().out

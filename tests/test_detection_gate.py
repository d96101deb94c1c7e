"""The cascade's learned gate: it learns which windows need the embedding model, keeps the
posts the full stage catches, persists with the head, and really skips the model."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np

from bot.detection.backend import NgramBackend
from bot.detection.corpus import Example, load_corpus
from bot.detection.gate import Gate, GateOptions, choose_threshold, fit_gate, train_gate
from bot.detection.model import Detector
from bot.detection.train import TrainOptions, train
from tests.detection_helpers import FakeBackend, write_corpus

SMALL = GateOptions(bits=10, width=8, hidden=8, epochs=30)
FAST = TrainOptions(sparse_iterations=60, folds=2, examples_per_label=3, ngram_dim=1 << 12,
                    hidden=32, epochs=150, gate_options=SMALL, learned_gate=True,
                    head="net")  # a stable small head (see test_detection_train.py)


def _rows(texts: list[str]):  # type: ignore[no-untyped-def]
    return NgramBackend(dimension=1 << 12).sparse(texts)


def test_gate_learns_which_windows_need_the_model() -> None:
    pos = [f"tonight i say goodbye to friend {i}" for i in range(20)]
    neg = [f"what is for dinner on day {i}" for i in range(20)]
    texts = pos + neg
    target = np.array([1.0] * 20 + [0.0] * 20)
    z = np.zeros((40, 5))
    gate = fit_gate(_rows(texts), z, target, SMALL)
    s = gate.logits(_rows(["tonight i say goodbye", "what is for dinner"]), np.zeros((2, 5)))
    assert s[0] > s[1]
    again = fit_gate(_rows(texts), z, target, SMALL)
    assert np.array_equal(gate.table, again.table)  # deterministic


def test_threshold_keeps_the_recall_of_each_group() -> None:
    # two windows per text; text 0..3 caught (windows needed: the first of each)
    owner = np.repeat(np.arange(4), 2)
    scores = np.array([5.0, -9, 4.0, -9, 3.0, -9, 1.0, 9.0])
    needed = np.array([True, False] * 4)
    caught = np.ones(4, bool)
    t = choose_threshold(scores, owner, needed, caught, recall=1.0)
    assert t <= 1.0 and t > 1.0 - 1e-3  # a non-needed window (9.0) does not count
    assert choose_threshold(scores, owner, needed, caught, recall=0.75) > 1.0
    # per group: the lowest group decides
    groups = np.array(["crisis", "crisis", "pii", "pii"])
    assert choose_threshold(scores, owner, needed, caught, 0.5, groups) <= 3.0


def test_train_gate_keeps_the_caught_posts() -> None:
    texts = [f"tonight i end it goodbye {i}" for i in range(16)] + \
            [f"lunch was nice with friend {i}" for i in range(16)]
    owner = np.arange(32)
    needed = np.arange(32) < 16
    fold = np.arange(32) % 2
    fit = train_gate(_rows(texts), np.zeros((32, 5)), np.ones(32, bool), needed, owner, fold,
                     ~needed, opts=SMALL)
    assert fit.kept >= 0.995
    assert fit.gate.passes(_rows(texts[:16]), np.zeros((16, 5))).all()
    assert fit.passed_negatives < 1.0
    # one fold: nothing to choose a threshold on, so everything goes to the model
    one = train_gate(_rows(texts), np.zeros((32, 5)), np.ones(32, bool), needed, owner,
                     np.zeros(32, int), ~needed, opts=SMALL)
    assert one.gate.threshold == float("-inf")
    assert one.gate.passes(_rows(texts), np.zeros((32, 5))).all()


def test_training_fits_a_gate_that_persists(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "corpus")
    data = [Example(e.text, e.label, e.lang, e.cls, "examples") for e in load_corpus(root)]
    out = io.StringIO()
    detector, _ = train(data, FakeBackend(), opts=FAST, out=out)
    assert detector.gate_net is not None
    assert "gate: keeps" in out.getvalue()
    assert detector.meta["gate_net"]["threshold"] == round(detector.gate_net.threshold, 4)
    path = detector.save(tmp_path / "head.npz")
    loaded = Detector.load(path)
    assert loaded.gate_net is not None
    assert loaded.gate_net.threshold == detector.gate_net.threshold
    assert np.allclose(loaded.gate_net.table, detector.gate_net.table, atol=1e-3)
    # a fixed gate (0: embed everything) trains no network, as before; nor does the default
    plain, _ = train(data, FakeBackend(), opts=dataclasses.replace(FAST, gate=0.0), out=out)
    assert plain.gate_net is None
    assert Detector.load(plain.save(tmp_path / "plain.npz")).gate_net is None
    default, _ = train(data, FakeBackend(), opts=dataclasses.replace(FAST, learned_gate=False),
                       out=out)
    assert default.gate_net is None


def test_windows_the_gate_rules_out_never_reach_the_model(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "corpus")
    data = [Example(e.text, e.label, e.lang, e.cls, "examples") for e in load_corpus(root)]
    detector, _ = train(data, FakeBackend(), opts=FAST, out=io.StringIO())
    assert detector.gate_net is not None
    texts = ["what are you all having for dinner", "tonight is the night, goodbye everyone"]
    closed = dataclasses.replace(detector.gate_net, threshold=float("inf"))
    detector.gate_net = closed
    backend = FakeBackend()
    analyses = detector.analyse(texts, backend.embed)
    assert backend.calls == [] and not any(a.embedded for a in analyses)
    assert all(s <= detector.gate + 1e-6 for a in analyses for s in a.scores.values())
    detector.gate_net = dataclasses.replace(closed, threshold=float("-inf"))
    analyses = detector.analyse(texts, backend.embed)
    assert backend.calls == [2] and all(a.embedded for a in analyses)


def test_a_head_without_a_gate_network_gates_on_its_heads() -> None:
    table = np.zeros((4, 2), np.float32)
    gate = Gate(table, np.zeros((7, 2), np.float32), np.zeros(2, np.float32),
                np.zeros(2, np.float32), 0.0, threshold=0.5)
    assert Gate.from_arrays({}) is None
    restored = Gate.from_arrays(gate.arrays())
    assert restored is not None and restored.threshold == 0.5 and restored.mask == 3


def test_a_gate_can_be_fitted_for_an_existing_head(tmp_path: Path) -> None:
    from bot.detection.commands import _gate_only
    from bot.detection.train import EmbeddingCache

    root = write_corpus(tmp_path / "corpus")
    data = [Example(e.text, e.label, e.lang, e.cls, "examples") for e in load_corpus(root)]
    plain, _ = train(data, FakeBackend(), opts=dataclasses.replace(FAST, gate=0.0),
                     out=io.StringIO())
    head = plain.save(tmp_path / "head.npz")
    out = io.StringIO()
    cache = EmbeddingCache(None, FakeBackend())
    assert _gate_only(head, data, cache, str(tmp_path / "gated.npz"), out) == 0
    gated = Detector.load(tmp_path / "gated.npz")
    assert gated.gate_net is not None and gated.meta["gate_net"]["kept"] >= 0.99
    assert np.array_equal(gated.ng_b, plain.ng_b)  # the heads themselves are unchanged
    assert gated.thresholds == plain.thresholds
    assert _gate_only(tmp_path / "missing.npz", data, cache, None, out) == 1


def test_train_command_line_flags() -> None:
    from bot.cli import build_parser

    args = build_parser().parse_args(["train", "--gate"])
    assert args.gate is True and args.gate_only is None
    args = build_parser().parse_args(["train", "--gate-only"])
    assert args.gate is False and args.gate_only == ""  # "": the shipped head
    assert build_parser().parse_args(["train", "--gate-only", "h.npz"]).gate_only == "h.npz"

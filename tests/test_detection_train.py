"""Training heads on a tiny synthetic corpus; the corpus reader; the artifact round trip."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.core.errors import ConfigError
from bot.detection.corpus import Example, is_dev, load_corpus, load_examples
from bot.detection.logreg import fit_dense, fit_sparse, sigmoid
from bot.detection.model import Detector, windows
from bot.detection.train import (
    EmbeddingCache,
    TrainOptions,
    WindowLayout,
    _pick,
    evaluate,
    report,
    train,
    window_scores,
)
from tests.detection_helpers import TINY, FakeBackend, write_corpus

# head="net": the tiny corpus is too small for the ensemble's members to agree (it has
# its own test in test_detection_train.py); one network per fold is a stable small head.
FAST = TrainOptions(sparse_iterations=60, folds=2, examples_per_label=3, ngram_dim=1 << 12,
                    hidden=32, epochs=150, gate=0.0, head="net")


def _all_train(examples: list[Example]) -> list[Example]:
    """The tiny corpus is too small to lose a fifth to dev: train on all of it."""
    return [Example(e.text, e.label, e.lang, e.cls, "examples") for e in examples]


def test_dev_split_is_derived_from_the_text() -> None:
    texts = [f"message {i}" for i in range(500)]
    share = sum(map(is_dev, texts)) / len(texts)
    assert 0.12 < share < 0.28
    assert is_dev("message 1") == is_dev("message 1")


def test_load_corpus_and_examples(tmp_path: Path) -> None:
    write_corpus(tmp_path / "c")
    data = load_corpus(tmp_path / "c")
    assert len(data) == sum(len(v) for v in TINY.values())
    assert {e.label for e in data} == set(TINY)
    simple = tmp_path / "ex.yaml"
    simple.write_text(yaml.safe_dump([{"text": "ok see you at 5", "label": "none"},
                                      {"text": "bye forever", "label": "crisis", "lang": "en"}]))
    ex = load_examples(simple)
    assert [(e.label, e.source) for e in ex] == [("none", "examples"), ("crisis", "examples")]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"text": "x", "label": "scary"}, {"label": "none"}]))
    with pytest.raises(ConfigError) as err:
        load_examples(bad)
    assert "label must be one of" in str(err.value) and "needs a non-empty text" in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        load_corpus(tmp_path / "missing")


def test_logistic_regression_fits_separable_data() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    w, b = fit_dense(x, y, l2=1e-4)
    assert ((sigmoid(x @ w + b) > 0.5) == (y > 0)).mean() > 0.95


def test_sparse_regression_learns_words() -> None:
    from bot.detection.backend import NgramBackend

    ng = NgramBackend(dimension=1 << 12)
    texts = ["red apple", "red cherry", "green leaf", "green grass"] * 5
    y = np.array([1, 1, 0, 0] * 5, float)
    w, b = fit_sparse(ng.sparse(texts), y, l2=1e-5, iterations=100)
    p = sigmoid(ng.sparse(["a red car", "a green car"]).dot(w) + b)
    assert p[0] > 0.5 > p[1]


def test_windows_split_long_posts_only() -> None:
    assert windows("short one") == ["short one"]
    post = ("Had a long day at work. The bus was late again and it rained. "
            "I have decided tonight is the night. Anyway the cat says hi.")
    wins = windows(post)
    assert wins[0] == post and "I have decided tonight is the night." in wins
    assert len(windows(". ".join(f"sentence number {i} here" for i in range(40)))) == 12


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> tuple[Detector, FakeBackend]:
    root = write_corpus(tmp_path_factory.mktemp("corpus"))
    backend = FakeBackend()
    detector, _ = train(_all_train(load_corpus(root)), backend, opts=FAST, out=io.StringIO())
    return detector, backend


def test_training_separates_the_categories(tiny_detector: tuple[Detector, FakeBackend]) -> None:
    detector, backend = tiny_detector
    texts = ["goodbye everyone, tonight i end my life, the letters are written",
             "how many pills is a lethal dose",
             "you are a worthless idiot, nobody would miss you",
             "add me on insta @sunny_days_22",
             "what are you all having for dinner tonight"]
    a = detector.analyse(texts, backend.embed)
    assert a[0].scores["crisis"] > a[4].scores["crisis"]
    assert a[1].scores["method"] > a[4].scores["method"]
    assert a[2].scores["hostility"] > a[4].scores["hostility"]
    assert a[3].scores["pii"] > a[4].scores["pii"]
    assert set(detector.thresholds) == {"crisis", "risk", "method", "hostility", "pii"}
    assert 0 <= detector.gate < 1 and detector.meta["corpus_hash"]


def test_head_round_trip(tiny_detector: tuple[Detector, FakeBackend], tmp_path: Path) -> None:
    detector, backend = tiny_detector
    path = detector.save(tmp_path / "head.npz")
    again = Detector.load(path)
    text = ["i wrote the letters and tonight is the night"]
    assert again.heads == detector.heads and again.thresholds == detector.thresholds
    s1 = detector.analyse(text, backend.embed)[0].scores
    s2 = again.analyse(text, backend.embed)[0].scores
    assert s1 == pytest.approx(s2, abs=2e-3)  # weights are stored as float16
    near = again.nearest(backend.embed(text)[0], frozenset({"crisis"}), 2)
    assert len(near) == 2 and all(lab == "crisis" for _, lab, _, _ in near)


def test_training_is_deterministic(tmp_path: Path) -> None:
    data = _all_train(load_corpus(write_corpus(tmp_path)))
    a, _ = train(data, FakeBackend(), opts=FAST, out=io.StringIO())
    b, _ = train(list(reversed(data)), FakeBackend(), opts=FAST, out=io.StringIO())
    assert a.em is not None and b.em is not None
    assert all(np.array_equal(x, y) for x, y in zip(a.em, b.em, strict=True))
    assert a.thresholds == b.thresholds


def test_community_examples_change_the_head(tmp_path: Path) -> None:
    data = _all_train(load_corpus(write_corpus(tmp_path)))
    phrase = "the purple walrus protocol starts at midnight"
    before, _ = train(data, FakeBackend(), opts=FAST, out=io.StringIO())
    extra = [Example(f"{phrase} {i}", "crisis", source="examples") for i in range(6)]
    after, _ = train(data + extra, FakeBackend(), opts=FAST, out=io.StringIO())
    fb = FakeBackend()
    s_before = before.analyse([phrase], fb.embed)[0].scores["crisis"]
    s_after = after.analyse([phrase], fb.embed)[0].scores["crisis"]
    assert s_after > s_before + 0.2
    assert after.meta["community_examples"] == before.meta["community_examples"] + 6


def test_ngram_only_training_and_report(tmp_path: Path) -> None:
    data = _all_train(load_corpus(write_corpus(tmp_path)))
    detector, _ = train(data, None, opts=FAST, out=io.StringIO())
    assert detector.em is None
    rows = evaluate(detector, data, None)
    out = io.StringIO()
    headline = report(rows, out)
    assert "[en]" in out.getvalue() and "recall per class" in out.getvalue()
    assert headline["method"] > 0.5


def test_embedding_cache_only_embeds_new_texts(tmp_path: Path) -> None:
    backend = FakeBackend()
    cache = EmbeddingCache(tmp_path / "emb.npz", backend)
    cache.embed(["a b", "c d"])
    cache.save()
    again = EmbeddingCache(tmp_path / "emb.npz", backend)
    vecs = again.embed(["c d", "e f"])
    assert backend.calls == [2, 1] and vecs.shape == (2, 64)


LONG_POSTS = [
    "Had a long day at work. The bus was late again and it rained. "
    "I have decided tonight is the night. Anyway the cat says hi.",
    "add me on insta @sunny_days_22. we can talk there. the server is too slow anyway",
    "what are you all having for dinner tonight",
    "you are a worthless idiot. nobody would miss you. just leave already",
]


@pytest.mark.parametrize("gate", [0.0, 0.3, 0.6])
def test_window_scores_are_the_scores_inference_gives(
        tiny_detector: tuple[Detector, FakeBackend], gate: float) -> None:
    """Training chooses thresholds on :func:`window_scores`; it must be what
    ``Detector.analyse`` computes (highest window, gate, the two most suspicious sentences)."""
    detector, backend = tiny_detector
    det = dataclasses.replace(detector, gate=gate)
    layout = WindowLayout.of(LONG_POSTS)
    z_ng = det.ngram_logits(layout.texts)
    z_em = det.embed_logits(backend.embed(layout.texts))
    candidate = layout.candidates(z_ng)
    assert candidate[layout.starts].all() and candidate.sum() < len(layout.texts)
    scores, embedded = window_scores(layout, z_ng, z_em, candidate, gate, det.mix)
    analyses = det.analyse(LONG_POSTS, backend.embed)
    for i, a in enumerate(analyses):
        assert a.embedded == bool(embedded[i])
        for j, head in enumerate(det.heads):
            assert a.scores[head] == pytest.approx(float(scores[i, j]), abs=1e-5)
    ngram_only, _ = window_scores(layout, z_ng, None, None, gate, det.mix)
    for i, a in enumerate(det.analyse(LONG_POSTS, None)):
        assert [a.scores[h] for h in det.heads] == pytest.approx(ngram_only[i].tolist(), abs=1e-5)


def test_thresholds_count_every_window_of_a_long_benign_post() -> None:
    """A benign post whose whole text scores low but one sentence high is a false alarm at
    inference (highest window); the threshold must be chosen above that sentence."""
    benign = "I went for a walk today. The park was lovely and green. Then I had some tea."
    texts = [benign] + [f"positive post number {i}" for i in range(4)] + \
        [f"quiet ordinary post {i}" for i in range(30)]
    examples = [Example(benign, "none")] + [Example(t, "crisis") for t in texts[1:5]] + \
        [Example(t, "none") for t in texts[5:]]
    layout = WindowLayout.of(texts)
    assert layout.starts[1] - layout.starts[0] == 4  # whole text + three sentences
    z = np.full((len(layout.texts), 5), -6.0)
    z[layout.starts[1:5]] = 1.0                      # positives: 0.73
    z[layout.starts[0]] = -3.0                       # the benign whole text: 0.05
    z[layout.starts[0] + 2] = 2.0                    # one of its sentences: 0.88
    _, _, ngram_t = _pick(layout, z, None, None, 0.0, examples)
    assert ngram_t["crisis"] > sigmoid(np.array(2.0))  # whole-text scores alone gave ~0.05
    z_em = z.copy()
    candidate = layout.candidates(z)
    _, thresholds, _ = _pick(layout, z, z_em, candidate, 0.0, examples)
    assert thresholds["crisis"] > sigmoid(np.array(2.0))


def test_window_targets_leave_the_unknown_heads_untrained() -> None:
    from bot.detection.train import window_targets

    nan = float("nan")
    assert window_targets("none") == [0.0] * 5
    crisis = window_targets("crisis")  # heads: crisis, risk, method, hostility, pii
    assert np.isnan(crisis[:3]).all() and crisis[3:] == [0.0, 0.0]
    distress = window_targets("distress")
    assert np.isnan(distress[:2]).all() and distress[2:] == [0.0, 0.0, 0.0]
    assert np.isnan(window_targets("hostility")[3]) and np.isnan(nan)


def test_mlp_ignores_unknown_targets() -> None:
    from bot.detection.logreg import fit_mlp, mlp_logits

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = np.stack([(x[:, 0] > 0).astype(float), (x[:, 1] > 0).astype(float)], axis=1)
    noisy = y.copy()
    noisy[:100, 1] = np.nan  # unknown: must not be read as either class
    net = fit_mlp(x, noisy, hidden=8, epochs=60)
    z = mlp_logits(net, x)
    assert ((z[:, 0] > 0) == (y[:, 0] > 0)).mean() > 0.9
    assert ((z[100:, 1] > 0) == (y[100:, 1] > 0)).mean() > 0.85


def test_thresholds_are_capped_per_negative_label() -> None:
    """Each head's threshold keeps it under its cap on every negative label separately: the
    quiet level may fire on a quarter of distress posts but only 5 % of ordinary ones, the
    urgent level on 2 % of each; posts of other positive categories never count."""
    from bot.detection.train import FALSE_ALARM_CAPS, capped_threshold

    rng = np.random.default_rng(0)
    labels = ["distress"] * 100 + ["none"] * 100 + ["method"] * 50
    scores = np.concatenate([rng.uniform(0.5, 0.9, 100), rng.uniform(0.0, 0.6, 100),
                             np.full(50, 0.99)])

    def share(label: str, t: float) -> float:
        sel = np.array(labels) == label
        return float((scores[sel] >= t).mean())

    quiet = capped_threshold(scores, labels, "risk")
    assert share("distress", quiet) <= FALSE_ALARM_CAPS["risk"]["distress"]
    assert share("none", quiet) <= FALSE_ALARM_CAPS["risk"]["none"]
    assert share("distress", quiet) > 0.1  # distress is allowed more than ordinary posts
    urgent = capped_threshold(scores, labels, "crisis")
    assert share("distress", urgent) <= 0.02 and urgent > quiet
    # the method posts (0.99) are not negatives of the risk head: the threshold ignores them
    assert quiet < 0.9


def test_thresholds_are_capped_per_language() -> None:
    """The urgent level also keeps each language's distress, recovery and ordinary posts
    under its language cap: with caps per label over all languages, 400 Dutch negatives can
    hide 2 % false alarms among 200 German ones; per language they cannot."""
    from bot.detection.train import LANGUAGE_CAPS, capped_threshold, false_alarms_by_language

    rng = np.random.default_rng(1)
    labels = ["none"] * 300 + ["distress"] * 300
    langs = (["nl"] * 200 + ["de"] * 100) * 2
    scores = rng.uniform(0.0, 0.5, 600)
    german = np.array(langs) == "de"
    de_none = np.flatnonzero(german & (np.array(labels) == "none"))
    de_distress = np.flatnonzero(german & (np.array(labels) == "distress"))
    # 2 German ordinary and 2 German distress posts score high: 2 of 300 per label pooled
    # (under 1 %), but 4 of the 200 German negatives (2 %)
    scores[de_none[:2]] = 0.95
    scores[de_distress[:2]] = 0.9
    pooled = capped_threshold(scores, labels, "crisis", lang_caps={})
    per_lang = capped_threshold(scores, labels, "crisis", langs=langs)
    fa_pooled = false_alarms_by_language(scores, pooled, labels, langs)
    fa = false_alarms_by_language(scores, per_lang, labels, langs)
    assert fa_pooled["de"][0] / fa_pooled["de"][1] > LANGUAGE_CAPS["crisis"]
    assert all(k / n <= LANGUAGE_CAPS["crisis"] for k, n in fa.values())
    assert per_lang > pooled
    # the quiet level has no language cap: languages change nothing there
    assert capped_threshold(scores, labels, "risk", langs=langs) == capped_threshold(
        scores, labels, "risk")


def test_embedding_cache_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that fails half-way leaves the previous cache readable and no temporary file
    behind; a save writes through a temporary file that is renamed over the cache."""
    import os

    backend = FakeBackend()
    path = tmp_path / "emb.npz"
    cache = EmbeddingCache(path, backend)
    cache.embed(["a b", "c d"])
    cache.save()
    before = path.read_bytes()
    cache.embed(["e f"])

    def broken_savez(fh, **arrays):  # type: ignore[no-untyped-def]
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        cache.save()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["emb.npz"]
    monkeypatch.undo()
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src, dst):  # type: ignore[no-untyped-def]
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    cache.save()
    assert len(replaced) == 1 and replaced[0][1] == str(path)
    assert Path(replaced[0][0]).parent == tmp_path and sorted(os.listdir(tmp_path)) == ["emb.npz"]
    again = EmbeddingCache(path, backend)
    again.embed(["a b", "c d", "e f"])
    assert backend.calls == [2, 1]  # all three came from the file


def test_ensemble_head_trains_saves_loads_and_scores_the_same(tmp_path: Path) -> None:
    """The default head is an ensemble: per fold, ``seeds`` networks and a logistic
    regression on the embeddings, their probabilities averaged; format 2 stores the
    members' kinds, and a loaded head scores as the trained one did."""
    import json

    data = _all_train(load_corpus(write_corpus(tmp_path / "corpus")))
    backend = FakeBackend()
    opts = dataclasses.replace(FAST, head="ensemble", seeds=2)
    detector, _ = train(data, backend, opts=opts, out=io.StringIO())
    assert detector.em_models == ["mlp", "mlp", "logreg"] * FAST.folds
    assert detector.em_average == "probability" and detector.meta["head"] == "ensemble"
    path = detector.save(tmp_path / "head.npz")
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["format"] == 2 and meta["embedding_models"] == detector.em_models
    again = Detector.load(path)
    assert again.em_models == detector.em_models and again.em_average == "probability"
    texts = ["i wrote the letters and tonight is the night", "how many pills is a lethal dose",
             "what are you all having for dinner tonight"]
    for a, b in zip(detector.analyse(texts, backend.embed), again.analyse(texts, backend.embed),
                    strict=True):
        assert a.scores == pytest.approx(b.scores, abs=2e-3)
    emb = backend.embed(texts)
    assert np.allclose(detector.embed_logits(emb), again.embed_logits(emb), atol=1e-4)
    # the head is the average of its members' probabilities
    x = (emb - detector.em[0]) / detector.em[1]  # type: ignore[index]
    probs = []
    at = 2
    from bot.detection.logreg import EMBEDDING_MODELS, member_logits
    for kind in detector.em_models:
        n = EMBEDDING_MODELS[kind]
        probs.append(sigmoid(member_logits(kind, detector.em[at:at + n], x)))  # type: ignore[index]
        at += n
    assert np.allclose(sigmoid(detector.embed_logits(emb)), np.mean(probs, axis=0), atol=1e-5)
    # deterministic, and not the same head as one network per fold
    twice, _ = train(list(reversed(data)), backend, opts=opts, out=io.StringIO())
    assert all(np.array_equal(p, q) for p, q in zip(detector.em, twice.em, strict=True))  # type: ignore[arg-type]
    assert twice.thresholds == detector.thresholds
    net, _ = train(data, backend, opts=dataclasses.replace(FAST, head="net"), out=io.StringIO())
    assert net.em_models == ["mlp"] * FAST.folds and net.em_average == "logit"


def test_format_1_heads_still_load(tmp_path: Path) -> None:
    """A head written before format 2 (no ``format`` key; networks whose log-odds are
    averaged) loads and scores as it did."""
    import json

    data = _all_train(load_corpus(write_corpus(tmp_path / "corpus")))
    backend = FakeBackend()
    net, _ = train(data, backend, opts=dataclasses.replace(FAST, head="net"), out=io.StringIO())
    path = net.save(tmp_path / "old.npz")
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    for key in ("format", "embedding_models", "embedding_average", "head"):
        meta.pop(key, None)
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    old = Detector.load(path)
    assert old.em_models == ["mlp"] * FAST.folds and old.em_average == "logit"
    emb = backend.embed(["tonight is the night", "what are you all having for dinner"])
    x = (emb - old.em[0]) / old.em[1]  # type: ignore[index]
    from bot.detection.logreg import mlp_logits
    nets = old.em[2:]  # type: ignore[index]
    want = np.mean([mlp_logits(nets[i:i + 4], x) for i in range(0, len(nets), 4)], axis=0)
    assert np.allclose(old.embed_logits(emb), want, atol=1e-5)
    assert np.allclose(old.embed_logits(emb), net.embed_logits(emb), atol=1e-2)
    # a head from a newer Haven is refused, not misread
    meta["format"] = 3
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match="format 3"):
        Detector.load(path)


def test_train_options_check_the_head_kind() -> None:
    with pytest.raises(ValueError):
        TrainOptions(head="forest")
    with pytest.raises(ValueError):
        TrainOptions(seeds=0)


def test_the_urgent_threshold_may_go_above_0_9999() -> None:
    """When more than the cap of negatives score above 0.9999 (the old clip), the threshold
    goes above them rather than stopping at the clip with the cap broken."""
    from bot.detection.train import MAX_THRESHOLD, capped_threshold

    labels = ["none"] * 200
    scores = np.full(200, 0.2)
    scores[:5] = 0.99995  # 2.5 % of ordinary posts
    t = capped_threshold(scores, labels, "crisis")
    assert 0.99995 < t <= MAX_THRESHOLD and (scores >= t).mean() <= 0.01

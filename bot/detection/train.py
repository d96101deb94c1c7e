"""``haven train``: fit the heads on the corpus (plus a community's examples), pick
thresholds, report dev-split figures, and write a new head.

Deterministic: the same corpus and options give the same head. The costly part is
embedding the corpus with the sentence model; embeddings are cached on disk by
text (``--cache``), so retraining after adding a few examples takes seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from bot.detection.backend import NGRAM_DIM, EmbeddingBackend, NgramBackend, SparseRows
from bot.detection.corpus import Example, corpus_hash, dedupe
from bot.detection.gate import GateFit, GateOptions, train_gate
from bot.detection.logreg import (
    average_logits,
    fit_logreg,
    fit_mlp,
    fit_sparse,
    member_logits,
    sigmoid,
)
from bot.detection.model import HEAD_POSITIVES, HEADS, MAX_EMBEDDED_SENTENCES, Detector, windows

NEGATIVE_LABELS = frozenset({"distress", "recovery", "none"})
FALSE_ALARM_CAPS: dict[str, dict[str, float]] = {
    "crisis": {"distress": 0.01, "recovery": 0.01, "none": 0.01},
    "risk": {"distress": 0.30, "recovery": 0.15, "none": 0.08},
    "method": {"distress": 0.03, "recovery": 0.03, "none": 0.03},
    "hostility": {"distress": 0.03, "recovery": 0.03, "none": 0.03},
    "pii": {"distress": 0.02, "recovery": 0.02, "none": 0.02},
}
"""Threshold choice, per head and per negative label: the largest share of that label's
texts (out of fold, scored as inference scores them) the head may fire on. Only distress,
recovery and ordinary (``none``) posts count: a method head firing on a crisis post, or the
quiet level on a hostile one, is not a false alarm. The urgent ``crisis`` head may fire on
at most 1 % of each: the goal is 3 % for Haven as a whole, and the rule packs already fire
``crisis`` on about 3 % of the corpus's hardest negatives (urges resisted, recovery
stories that quote a goodbye letter), so the semantic stage must add little. The
quiet ``risk`` level (a "check in when you can" note, never punitive) is held to 8 % of
ordinary posts but may fire on 30 % of distress posts, where a quiet check-in is support
rather than a false alarm, and on 15 % of recovery stories. ``method`` and ``hostility``
(observed only by default) may fire on 3 %, ``pii`` on 2 %. See corpus/POLICY.md,
"Calibration"."""
LANGUAGE_CAPS: dict[str, float] = {"crisis": 0.01}
"""Threshold choice, per head, per language: the largest share of one language's
distress, recovery and ordinary posts together (out of fold) the head may fire on, on top
of :data:`FALSE_ALARM_CAPS` (which pools the languages). Only the urgent ``crisis`` level
has one: pooled caps let one language's false alarms hide behind another's quieter ones,
and the goal (at most 3 % urgent false alarms with rules and model together) holds for
each language. A language with fewer than :data:`LANGUAGE_CAP_MIN` such posts is judged
with the others only."""
LANGUAGE_CAP_MIN = 50
MAX_THRESHOLD = 0.999999
"""The highest threshold training may choose. It was 0.9999, and the urgent crisis head,
whose out-of-fold scores on the hardest negatives reach 0.9999 and beyond, sat at that
clip with 1.0-1.9 % out-of-fold false alarms per language (en 1.9 %, de 1.8 %) instead
of its 1 % caps. The ensemble's probabilities stop at ``1 - 1e-7``
(``logreg.average_logits``), so this ceiling still leaves room above it."""
HEAD_KINDS = ("net", "ensemble")
"""``haven train --head``: ``net``, one network per fold (the format-1 head); ``ensemble``,
per fold ``seeds`` networks (different seeds) and a logistic regression on the same
standardised embeddings, their probabilities averaged."""
MIX_CHOICES = (0.5, 0.65, 0.8, 1.0)
GATE_RECALL = 0.995
EXAMPLES_PER_LABEL = 150
FOLDS = 5


@dataclass
class TrainOptions:
    """Knobs of a training run (defaults are what the shipped head uses)."""

    l2_dense: float = 1e-4
    hidden: int = 128
    epochs: int = 30
    l2_sparse: float = 1e-5
    sparse_iterations: int = 200
    folds: int = FOLDS
    examples_per_label: int = EXAMPLES_PER_LABEL
    ngram_dim: int = NGRAM_DIM
    gate: float | None = None
    """A fixed gate (0: embed every window) instead of the one chosen out of fold; a fixed
    gate also means no learned gate network (see ``bot.detection.gate``)."""
    learned_gate: bool = False
    """Also fit the gate network (``haven train --gate``; off by default: see README
    "Benchmarks" for what it saves and what it loses on the shipped corpus)."""
    gate_options: GateOptions | None = None
    head: str = "ensemble"
    """The embedding head: ``ensemble`` or ``net`` (see :data:`HEAD_KINDS`)."""
    seeds: int = 3
    """Networks per fit in the ensemble (seeds ``0..seeds-1``); ``net`` uses seed 0 only."""
    l2_logreg: float = 1e-3
    """L2 penalty of the ensemble's logistic regression on the embeddings."""

    def __post_init__(self) -> None:
        if self.head not in HEAD_KINDS:
            raise ValueError(f"head must be one of {', '.join(HEAD_KINDS)}, not {self.head!r}")
        if self.seeds < 1:
            raise ValueError("seeds must be at least 1")

    @property
    def embedding_average(self) -> str:
        """How the members of one fit (and the shipped head's members) are combined."""
        return "probability" if self.head == "ensemble" else "logit"


EmbeddingModel = tuple[str, list[np.ndarray]]
"""One member of an embedding head: its kind (``mlp`` or ``logreg``) and its arrays."""


def fit_embedding_models(x: np.ndarray, y: np.ndarray, opts: TrainOptions) -> list[EmbeddingModel]:
    """The members of one fit of the embedding head on standardised embeddings ``x``
    (targets ``y``, NaN for unknown): one network (``net``), or ``opts.seeds`` networks and
    a logistic regression (``ensemble``). Deterministic."""
    if opts.head == "net":
        return [("mlp", fit_mlp(x, y, hidden=opts.hidden, l2=opts.l2_dense, epochs=opts.epochs))]
    members: list[EmbeddingModel] = [
        ("mlp", fit_mlp(x, y, hidden=opts.hidden, l2=opts.l2_dense, epochs=opts.epochs, seed=seed))
        for seed in range(opts.seeds)]
    members.append(("logreg", fit_logreg(x, y, l2=opts.l2_logreg)))
    return members


def embedding_logits(members: Sequence[EmbeddingModel], x: np.ndarray, how: str) -> np.ndarray:
    """Log-odds of a fit's members on ``x``, combined (see ``logreg.average_logits``)."""
    return average_logits([member_logits(kind, params, x) for kind, params in members], how)


class EmbeddingCache:
    """Embeddings by text on disk (``.npz``), keyed by model id and text."""

    def __init__(self, path: Path | None, backend: EmbeddingBackend) -> None:
        self.path = path
        self.backend = backend
        self.model_id = getattr(backend, "model_id", backend.name)
        self._data: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path) as data:
                keys = data["keys"]
                vecs = data["vecs"]
            self._data = {str(k): v for k, v in zip(keys, vecs, strict=True)}

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model_id}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()

    def embed(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Embeddings of ``texts``, computing (in batches) only the ones not cached."""
        keys = [self._key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._data}.items())
        batch = 16
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            vecs = self.backend.embed([t for _, t in chunk])
            for (k, _), v in zip(chunk, vecs, strict=True):
                self._data[k] = v.astype(np.float32)
            if progress:
                progress(min(start + batch, len(missing)), len(missing))
        if not texts:
            return np.zeros((0, self.backend.dimension), np.float32)
        return np.stack([self._data[k] for k in keys])

    def save(self) -> None:
        """Write the cache file (if a path was given), atomically: into a temporary file
        of its own in the same folder, flushed to disk, then ``os.replace``d over the cache,
        so a reader (or a second ``haven train``) never sees a half-written file and a
        crash mid-write leaves the previous cache intact."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._data), dtype="U40")
        vecs = np.stack(list(self._data.values())) if self._data else np.zeros((0, 1), np.float32)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                   dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, keys=keys, vecs=vecs)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _targets(examples: Sequence[Example]) -> np.ndarray:
    return np.array([[ex.label in HEAD_POSITIVES[h] for h in HEADS] for ex in examples], float)


AMBIGUOUS_WINDOWS = frozenset({("crisis", "method"), ("concern", "method"),
                               ("method", "crisis"), ("method", "risk"),
                               ("distress", "crisis"), ("distress", "risk"),
                               ("recovery", "crisis"), ("recovery", "risk")})
"""(text label, head) pairs for which a sentence of the text is neither a positive nor a
negative: a crisis post's sentence may name a means; a method post's may state intent; a
sentence of a distress post or a recovery story may on its own read as crisis (only the
whole post says it is resisted or past)."""


def window_targets(label: str) -> list[float]:
    """Targets per head for a *sentence* window of a text labelled ``label``: 0 for the heads
    the text is negative for, NaN (unknown, not trained on) for the heads it is positive for
    (the one sentence that made it positive is not known) and for :data:`AMBIGUOUS_WINDOWS`."""
    return [float("nan") if label in HEAD_POSITIVES[h] or (label, h) in AMBIGUOUS_WINDOWS
            else 0.0 for h in HEADS]


def _head_negatives(head: str, labels: Sequence[str]) -> np.ndarray:
    """Which examples count as a false alarm when ``head`` fires on them."""
    if head in ("crisis", "risk"):
        return np.array([lab in NEGATIVE_LABELS for lab in labels])
    return np.array([lab not in HEAD_POSITIVES[head] for lab in labels])


def capped_threshold(scores: np.ndarray, labels: Sequence[str], head: str,
                     caps: dict[str, dict[str, float]] | None = None,
                     langs: Sequence[str] | None = None,
                     lang_caps: dict[str, float] | None = None) -> float:
    """The lowest threshold at which ``head`` fires on at most its cap of each negative
    label's texts (see :data:`FALSE_ALARM_CAPS`) and, given the texts' ``langs``, on at
    most its language cap of each language's distress, recovery and ordinary texts
    (:data:`LANGUAGE_CAPS`): the highest of those thresholds."""
    table = (caps or FALSE_ALARM_CAPS)[head]
    lab = np.asarray(labels)
    t = 0.05
    for label, cap in sorted(table.items()):
        t = max(t, _threshold(scores, lab == label, cap))
    lang_cap = (LANGUAGE_CAPS if lang_caps is None else lang_caps).get(head)
    if langs is not None and lang_cap is not None:
        lang = np.asarray(langs)
        negative = np.isin(lab, sorted(NEGATIVE_LABELS))
        for code in sorted(set(lang.tolist())):
            mask = negative & (lang == code)
            if mask.sum() >= LANGUAGE_CAP_MIN:
                t = max(t, _threshold(scores, mask, lang_cap))
    return t


def false_alarms_by_language(scores: np.ndarray, threshold: float, labels: Sequence[str],
                             langs: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per language: how many distress, recovery and ordinary texts score at or above
    ``threshold``, out of how many."""
    lab = np.asarray(labels)
    lang = np.asarray(langs)
    negative = np.isin(lab, sorted(NEGATIVE_LABELS))
    return {code: (int((scores[negative & (lang == code)] >= threshold).sum()),
                   int((negative & (lang == code)).sum()))
            for code in sorted(set(lang.tolist()))}


def _standardiser(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and (floored) spread of the training embeddings."""
    mean = emb.mean(axis=0).astype(np.float32)
    std = emb.std(axis=0)
    return mean, np.maximum(std, 0.1 * float(np.median(std)) + 1e-6).astype(np.float32)


def _fit_heads(ng_rows, emb, y, opts: TrainOptions):  # type: ignore[no-untyped-def]
    """n-gram logistic heads, and the embedding network on (already standardised) embeddings."""
    k = y.shape[1]
    ng_w = np.zeros((ng_rows.dimension, k), np.float32)
    ng_b = np.zeros(k, np.float32)
    for j in range(k):
        ng_w[:, j], ng_b[j] = fit_sparse(ng_rows, y[:, j], opts.l2_sparse,
                                         iterations=opts.sparse_iterations)
    net = None
    if emb is not None:
        net = fit_mlp(emb, y, hidden=opts.hidden, l2=opts.l2_dense, epochs=opts.epochs)
    return ng_w, ng_b, net


def _threshold(scores: np.ndarray, negatives: np.ndarray, cap: float) -> float:
    """The lowest threshold firing on at most ``cap`` of the negatives (clipped to
    [0.05, :data:`MAX_THRESHOLD`])."""
    neg = np.sort(scores[negatives])[::-1]
    if not len(neg):
        return 0.5
    allowed = int(np.floor(cap * len(neg)))
    t = float(neg[allowed]) + 1e-6 if allowed < len(neg) else 0.0
    return float(min(max(t, 0.05), MAX_THRESHOLD))


@dataclass
class WindowLayout:
    """The windows of the training texts as inference sees them (see ``model.windows``):
    flat, each text's windows contiguous and starting with the whole text."""

    texts: list[str]
    """All windows, flat."""
    starts: np.ndarray
    """Index of each text's first window (its whole text)."""
    owner: np.ndarray
    """Which text each window belongs to."""

    @classmethod
    def of(cls, texts: Sequence[str]) -> WindowLayout:
        """The layout of ``texts``."""
        flat: list[str] = []
        starts: list[int] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            wins = windows(text)
            starts.append(len(flat))
            flat.extend(wins)
            owner.extend([i] * len(wins))
        return cls(flat, np.asarray(starts, np.int64), np.asarray(owner, np.int64))

    def candidates(self, z_ng: np.ndarray) -> np.ndarray:
        """Which windows inference may embed: each whole text, and of its sentences the
        :data:`~bot.detection.model.MAX_EMBEDDED_SENTENCES` the n-gram head finds most
        suspicious (the same choice as ``Detector.analyse``)."""
        p = sigmoid(z_ng).max(axis=1)
        keep = np.zeros(len(self.texts), bool)
        ends = [*self.starts[1:].tolist(), len(self.texts)]
        for a, b in zip(self.starts.tolist(), ends, strict=True):
            keep[a] = True
            order = np.argsort(-p[a + 1:b], kind="stable")[:MAX_EMBEDDED_SENTENCES]
            keep[a + 1 + order] = True
        return keep


def window_scores(layout: WindowLayout, z_ng: np.ndarray, z_em: np.ndarray | None,
                  candidate: np.ndarray | None, gate: float,
                  mix: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Per text and head, the score inference gives (the highest window, after the gate and
    the mix), and whether any of its windows was embedded; ``z_em`` of the windows (rows of
    windows that are not candidates are ignored), or None for the n-gram head alone."""
    if z_em is None or candidate is None:
        p = sigmoid(z_ng)
        return np.maximum.reduceat(p, layout.starts, axis=0), np.zeros(len(layout.starts), bool)
    embedded = candidate & (sigmoid(z_ng).max(axis=1) >= gate)
    mixed = mix * np.nan_to_num(z_em) + (1 - mix) * z_ng
    z = np.where(embedded[:, None], mixed, np.minimum(z_ng, _logit(gate)))
    scores = np.maximum.reduceat(sigmoid(z), layout.starts, axis=0)
    return scores, np.logical_or.reduceat(embedded, layout.starts)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def _pick(layout: WindowLayout, z_ng: np.ndarray, z_em: np.ndarray | None,
          candidate: np.ndarray | None, gate: float, examples: Sequence[Example],
          ) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Per head: the mix and threshold giving the best out-of-fold recall at the false-alarm
    cap, on out-of-fold *window* log-odds scored exactly as inference scores a message
    (highest window, gate, mix), so a long benign post's several windows count as several
    chances to cross the threshold."""
    labels = [e.label for e in examples]
    langs = [e.lang for e in examples]
    y = _targets(examples)
    mix = np.zeros(len(HEADS), np.float32)
    thresholds: dict[str, float] = {}
    ngram_thresholds: dict[str, float] = {}
    p_ng, _ = window_scores(layout, z_ng, None, None, gate, 0.0)
    for j, head in enumerate(HEADS):
        ngram_thresholds[head] = capped_threshold(p_ng[:, j], labels, head, langs=langs)
    if z_em is None:
        return mix, dict(ngram_thresholds), ngram_thresholds
    best: list[tuple[float, float, float]] = [(-1.0, 0.0, 0.5)] * len(HEADS)
    for a in MIX_CHOICES:
        p, embedded = window_scores(layout, z_ng, z_em, candidate, gate, a)
        for j, head in enumerate(HEADS):
            pos = y[:, j] > 0
            # a text nothing of which was embedded is judged on the n-gram thresholds
            pj = np.where(embedded | (p[:, j] >= ngram_thresholds[head]), p[:, j], 0.0)
            t = capped_threshold(pj, labels, head, langs=langs)
            recall = float((pj[pos] >= t).mean()) if pos.any() else 0.0
            if recall > best[j][0] + 1e-9:
                best[j] = (recall, a, t)
    for j, head in enumerate(HEADS):
        mix[j], thresholds[head] = best[j][1], best[j][2]
    return mix, thresholds, ngram_thresholds


def _gate(layout: WindowLayout, z_ng: np.ndarray, candidate: np.ndarray,
          examples: Sequence[Example]) -> float:
    """The n-gram score above which a window goes to the embedding model: low enough that
    :data:`GATE_RECALL` of the positives (out of fold) have a window that passes (a window
    passes on its highest head, as in ``Detector.analyse``)."""
    y = _targets(examples)
    p = np.where(candidate, sigmoid(z_ng).max(axis=1), 0.0)
    per_text = np.maximum.reduceat(p, layout.starts)
    pos_scores = per_text[y.max(axis=1) > 0]
    if not len(pos_scores):
        return 0.05
    return float(min(max(np.quantile(pos_scores, 1 - GATE_RECALL), 0.01), 0.3))


def train(examples: Sequence[Example], backend: EmbeddingBackend | None, *,
          cache: EmbeddingCache | None = None, opts: TrainOptions | None = None,
          out: TextIO | None = None) -> tuple[Detector, list[Example]]:
    """Fit a detector on the train split of ``examples``; returns it and the dev examples."""
    opts = opts or TrainOptions()
    out = out or sys.stdout
    examples = dedupe(examples)
    examples = sorted(examples, key=lambda e: hashlib.sha1(
        e.text.encode("utf-8", "surrogatepass")).hexdigest())  # order-independent
    train_set = [e for e in examples if not e.dev or e.source == "examples"]
    dev_set = [e for e in examples if e.dev and e.source != "examples"]
    if not train_set:
        raise ValueError("no training examples")
    ngram = NgramBackend(dimension=opts.ngram_dim)
    t0 = time.perf_counter()
    ng_rows = ngram.sparse([e.text for e in train_set])
    emb = None
    if backend is not None:
        cache = cache or EmbeddingCache(None, backend)

        def progress(done: int, total: int) -> None:
            if done == total or done % 256 == 0:
                print(f"  embedded {done}/{total} new texts", file=out)

        emb = cache.embed([e.text for e in train_set], progress)
        cache.save()
    print(f"features for {len(train_set)} training texts in {time.perf_counter() - t0:.1f}s",
          file=out)
    y = _targets(train_set)
    # Cross-validation ensemble: one model per fold, each scoring the fold it did not see.
    # Those out-of-fold scores choose mixes, thresholds and the gate (the dev split stays
    # unseen), and the shipped head averages the fold models, so the thresholds fit it.
    fold = np.array([int(hashlib.sha1(e.text.encode("utf-8", "surrogatepass")).hexdigest(), 16)
                     // 5 % opts.folds for e in train_set])
    if len(set(fold.tolist())) < 2:
        fold = np.arange(len(train_set)) % max(2, opts.folds)
    mean, std = _standardiser(emb) if emb is not None else (None, None)
    z_emb = (emb - mean) / std if emb is not None else None
    # Windows as inference sees them: each fold model also scores the windows (whole text
    # and sentences) of the texts it did not see, so thresholds, mix and gate are chosen on
    # the score a message really gets (its highest window), not on the whole text alone.
    layout = WindowLayout.of([e.text for e in train_set])
    win_rows = ngram.sparse(layout.texts)
    win_fold = fold[layout.owner]
    oof_ng = np.zeros((len(layout.texts), y.shape[1]))
    ng_ws, ng_bs = [], []
    for f in sorted(set(fold.tolist())):
        tr = np.flatnonzero(fold != f)
        ng_w, ng_b, _ = _fit_heads(ng_rows.take(tr), None, y[tr], opts)
        te_w = np.flatnonzero(win_fold == f)
        oof_ng[te_w] = win_rows.take(te_w).dot(ng_w) + ng_b
        ng_ws.append(ng_w)
        ng_bs.append(ng_b)
    oof_em = candidate = None
    fold_members: dict[int, list[EmbeddingModel]] = {}
    if z_emb is not None and cache is not None:
        # The embedding network also learns from the sentence windows inference embeds
        # (a fragment of a long post is not a whole message): a sentence of a text is a
        # negative for every head its text is negative for (see window_targets).
        candidate = layout.candidates(oof_ng)
        cand = np.flatnonzero(candidate)
        whole = layout.starts
        sent = np.setdiff1d(cand, whole)
        print(f"embedding {len(sent)} sentence windows (cached)", file=out)
        win_emb = np.zeros((len(layout.texts), z_emb.shape[1]), np.float32)
        win_emb[whole] = z_emb
        if len(sent):
            win_emb[sent] = (cache.embed([layout.texts[i] for i in sent], progress) - mean) / std
            cache.save()
        y_win = np.array([window_targets(train_set[i].label) for i in layout.owner])
        y_win[whole] = y
        oof_em = np.full_like(oof_ng, np.nan)
        for f in sorted(set(fold.tolist())):
            tr_w = cand[win_fold[cand] != f]
            members = fit_embedding_models(win_emb[tr_w], y_win[tr_w], opts)
            rows = cand[win_fold[cand] == f]
            oof_em[rows] = embedding_logits(members, win_emb[rows], opts.embedding_average)
            fold_members[f] = members
        print(f"embedding head: {opts.head} ({', '.join(k for k, _ in members)} per fold)",
              file=out)
        gate = _gate(layout, oof_ng, candidate, train_set) if opts.gate is None else opts.gate
    else:
        gate = opts.gate if opts.gate is not None else 0.05
    mix, thresholds, ngram_thresholds = _pick(layout, oof_ng, oof_em, candidate, gate, train_set)
    gate_fit = (fit_cascade_gate(layout, win_rows, oof_ng, oof_em, candidate, mix, thresholds,
                                 train_set, win_fold, opts.gate_options, out)
                if oof_em is not None and candidate is not None and opts.learned_gate
                and opts.gate is None else None)
    ng_w = np.mean(ng_ws, axis=0).astype(np.float32)  # a linear model: the mean of the logits
    ng_b = np.mean(ng_bs, axis=0).astype(np.float32)
    em, em_models = _embedding_head(fold_members, mean, std)
    if oof_em is not None and candidate is not None:
        _print_oof_false_alarms(layout, oof_ng, oof_em, candidate, gate, mix, thresholds,
                                ngram_thresholds, train_set, out)
    print(f"trained in {time.perf_counter() - t0:.1f}s", file=out)
    ex_idx = _pick_examples(train_set, opts.examples_per_label)
    detector = Detector(
        heads=HEADS, ng_w=ng_w, ng_b=ng_b, em=em, mix=mix, gate=gate,
        thresholds=thresholds, ngram_thresholds=ngram_thresholds,
        ex_texts=[train_set[i].text for i in ex_idx], ex_labels=[train_set[i].label for i in ex_idx],
        ex_classes=[train_set[i].cls for i in ex_idx],
        ex_emb=emb[ex_idx] if emb is not None else None,
        gate_net=gate_fit.gate if gate_fit is not None else None,
        em_models=em_models, em_average=opts.embedding_average,
        meta={
            "model": getattr(backend, "model_id", None) if backend else None,
            "backend": backend.name if backend else "ngram",
            "corpus_hash": corpus_hash(examples),
            "train_size": len(train_set), "dev_size": len(dev_set),
            "languages": dict(Counter(e.lang for e in examples)),
            "labels": dict(Counter(e.label for e in examples)),
            "community_examples": sum(e.source == "examples" for e in examples),
            "head": opts.head, **({"seeds": opts.seeds} if opts.head == "ensemble" else {}),
            **({"gate_net": gate_fit.summary()} if gate_fit is not None else {}),
        },
    )
    return detector, dev_set


def _embedding_head(fold_members: dict[int, list[EmbeddingModel]], mean: np.ndarray | None,
                    std: np.ndarray | None) -> tuple[list[np.ndarray] | None, list[str] | None]:
    """The shipped embedding head: the standardiser and every fold's members, combined as
    one fold's are (probabilities or log-odds); and the members' kinds."""
    if not fold_members or mean is None or std is None:
        return None, None
    em = [mean, std, *(part for f in sorted(fold_members)
                       for _, params in fold_members[f] for part in params)]
    return em, [kind for f in sorted(fold_members) for kind, _ in fold_members[f]]


def _print_oof_false_alarms(layout: WindowLayout, z_ng: np.ndarray, z_em: np.ndarray,
                            candidate: np.ndarray, gate: float, mix: np.ndarray,
                            thresholds: dict[str, float], ngram_thresholds: dict[str, float],
                            examples: Sequence[Example], out: TextIO) -> None:
    """Print the urgent level's out-of-fold false alarms per language (as ``_pick`` counts
    them: a text nothing of which was embedded is judged on the n-gram thresholds)."""
    p, embedded = window_scores(layout, z_ng, z_em, candidate, gate, mix)
    j = HEADS.index("crisis")
    pj = np.where(embedded | (p[:, j] >= ngram_thresholds["crisis"]), p[:, j], 0.0)
    fa = false_alarms_by_language(pj, thresholds["crisis"], [e.label for e in examples],
                                  [e.lang for e in examples])
    print("out of fold, urgent crisis on distress/recovery/none: " + ", ".join(
        f"{code} {k}/{n}" for code, (k, n) in fa.items()), file=out)


def full_stage_needs(layout: WindowLayout, z_ng: np.ndarray, z_em: np.ndarray,
                     candidate: np.ndarray, mix: np.ndarray, thresholds: dict[str, float],
                     labels: Sequence[str]) -> np.ndarray:
    """Per window: whether the *full* stage (every candidate window embedded) reports on
    it a category its text is labelled with (crisis and concern posts count either level).
    This is what the gate learns to predict (distillation: the full stage's decision,
    not the label)."""
    thr = np.array([thresholds[h] for h in HEADS])
    mixed = mix * np.nan_to_num(z_em) + (1 - mix) * z_ng
    fires = candidate[:, None] & (sigmoid(mixed) >= thr)
    risk = HEAD_POSITIVES["risk"]
    relevant = np.array([[lab in HEAD_POSITIVES[h] or (lab in risk and h in ("crisis", "risk"))
                          for h in HEADS] for lab in labels])
    return np.asarray((fires & relevant[layout.owner]).any(axis=1))


def fit_cascade_gate(layout: WindowLayout, win_rows: SparseRows, z_ng: np.ndarray,
                     z_em: np.ndarray, candidate: np.ndarray, mix: np.ndarray,
                     thresholds: dict[str, float], examples: Sequence[Example],
                     win_fold: np.ndarray, gate_opts: GateOptions | None,
                     out: TextIO) -> GateFit:
    """Fit the gate network on the full stage's decisions (see ``bot.detection.gate``);
    ``z_ng`` and ``z_em`` are out of fold."""
    labels = [e.label for e in examples]
    needed = full_stage_needs(layout, z_ng, z_em, candidate, mix, thresholds, labels)
    return _fit_gate_on(layout, win_rows, z_ng, candidate, needed, labels, win_fold, gate_opts,
                        out)


def _fit_gate_on(layout: WindowLayout, win_rows: SparseRows, z_ng: np.ndarray,
                 candidate: np.ndarray, needed: np.ndarray, labels: Sequence[str],
                 win_fold: np.ndarray, gate_opts: GateOptions | None, out: TextIO) -> GateFit:
    t0 = time.perf_counter()
    negative = np.array([lab in NEGATIVE_LABELS for lab in labels])
    groups = np.array(["crisis" if lab == "concern" else lab for lab in labels])
    fit = train_gate(win_rows, z_ng, candidate, needed, layout.owner, win_fold, negative,
                     groups, gate_opts)
    print(f"gate: keeps {fit.kept:.3f} of the posts the full stage catches, sends "
          f"{fit.passed_negatives:.0%} of none/distress/recovery posts to the model "
          f"(out of fold; {time.perf_counter() - t0:.0f}s); at lower recalls: "
          + ", ".join(f"{r} {v:.0%}" for r, v in fit.curve.items()), file=out)
    return fit


def attach_gate(detector: Detector, examples: Sequence[Example], cache: EmbeddingCache,
                opts: TrainOptions | None = None, out: TextIO | None = None) -> GateFit:
    """Fit a gate network for an existing head on the train split of ``examples`` and set
    it on ``detector``: the target is the head's own decision with every candidate window
    embedded; the gate's n-gram inputs are out of fold (one n-gram head per fold, as
    ``train`` does), because the head's n-gram scores of its own training posts are
    over-confident and a gate trained on them would trust them too much."""
    opts = opts or TrainOptions(ngram_dim=detector.ng_w.shape[0])
    out = out or sys.stdout
    train_set = [e for e in dedupe(examples) if not e.dev or e.source == "examples"]
    train_set.sort(key=lambda e: hashlib.sha1(e.text.encode("utf-8", "surrogatepass")).hexdigest())
    layout = WindowLayout.of([e.text for e in train_set])
    win_rows = detector.ngram.sparse(layout.texts)
    fold = np.array([int(hashlib.sha1(e.text.encode("utf-8", "surrogatepass")).hexdigest(), 16)
                     // 5 % opts.folds for e in train_set])
    ng_rows = win_rows.take(layout.starts)
    y = _targets(train_set)
    oof_ng = np.zeros((len(layout.texts), len(HEADS)))
    for f in sorted(set(fold.tolist())):
        ng_w, ng_b, _ = _fit_heads(ng_rows.take(np.flatnonzero(fold != f)), None,
                                   y[fold != f], opts)
        te_w = np.flatnonzero(fold[layout.owner] == f)
        oof_ng[te_w] = win_rows.take(te_w).dot(ng_w) + ng_b
    # the windows inference may embed, and the head's decision on them
    z_ng = win_rows.dot(detector.ng_w) + detector.ng_b
    candidate = layout.candidates(z_ng)
    cand = np.flatnonzero(candidate)
    z_em = np.full_like(z_ng, np.nan)
    z_em[cand] = detector.embed_logits(cache.embed([layout.texts[i] for i in cand]))
    cache.save()
    labels = [e.label for e in train_set]
    needed = full_stage_needs(layout, z_ng, z_em, candidate, detector.mix, detector.thresholds,
                              labels)
    fit = _fit_gate_on(layout, win_rows, oof_ng, candidate, needed, labels,
                       fold[layout.owner], opts.gate_options, out)
    detector.gate_net = fit.gate
    detector.meta["gate_net"] = fit.summary()
    return fit


def _pick_examples(train_set: Sequence[Example], per_label: int) -> list[int]:
    """A compact, deterministic set of training examples per positive label, spread over
    languages and classes (shown to moderators as the nearest examples)."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, e in enumerate(train_set):
        if e.label in HEAD_POSITIVES["risk"] | {"method", "hostility", "pii"}:
            groups[(e.label, e.lang, e.cls)].append(i)
    chosen: list[int] = []
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for (label, _, _), idx in sorted(groups.items()):
        by_label[label].append(sorted(idx, key=lambda i: hashlib.sha1(
            train_set[i].text.encode("utf-8", "surrogatepass")).hexdigest()))
    for _label, lists in sorted(by_label.items()):
        picked: list[int] = []
        round_ = 0
        while len(picked) < per_label and any(round_ < len(lst) for lst in lists):
            picked.extend(lst[round_] for lst in lists if round_ < len(lst))
            round_ += 1
        chosen.extend(picked[:per_label])
    return sorted(chosen)


# ---------------------------------------------------------------------------
# Figures


def evaluate(detector: Detector, examples: Sequence[Example],
             embed: Callable[[list[str]], np.ndarray] | None) -> list[dict[str, object]]:
    """Per example: the categories the detector would report (see :func:`decide`)."""
    from bot.detection.triage import decide

    analyses = detector.analyse([e.text for e in examples], embed)
    return [{"example": e, "cats": {d.category for d in decide(detector, a)}}
            for e, a in zip(examples, analyses, strict=True)]


def report(rows: Sequence[dict[str, object]], out: TextIO) -> dict[str, float]:
    """Print per-language / per-label / per-class figures in the scorer's terms."""
    by_lang: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in rows:
        by_lang[r["example"].lang].append(r)  # type: ignore[attr-defined]
    headline: dict[str, float] = {}
    for lang in ["all", *sorted(by_lang)]:
        part = list(rows) if lang == "all" else by_lang[lang]
        figures = _figures(part)
        line = ", ".join(f"{k} {v[0]}/{v[1]}={v[0] / v[1]:.2f}" for k, v in figures.items() if v[1])
        print(f"  [{lang}] {line}", file=out)
        if lang == "all":
            headline = {k: v[0] / v[1] for k, v in figures.items() if v[1]}
    print("  recall per class (all languages):", file=out)
    per_class: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        e: Example = r["example"]  # type: ignore[assignment]
        cats: set[str] = r["cats"]  # type: ignore[assignment]
        if e.label in HEAD_POSITIVES["risk"] | {"method", "hostility", "pii"}:
            want = {"crisis", "concern"} if e.label in ("crisis", "concern") else {e.label}
            hit = bool(cats & want)
        else:
            hit = "crisis" not in cats  # for negatives: 'hit' means no crisis false alarm
        cell = per_class[(e.label, e.cls or "-")]
        cell[0] += hit
        cell[1] += 1
    for (label, cls), (h, n) in sorted(per_class.items()):
        kind = "ok (no crisis alarm)" if label in NEGATIVE_LABELS else "caught"
        print(f"    {label:9s} {cls:15s} {kind} {h}/{n}", file=out)
    return headline


def _figures(rows: Sequence[dict[str, object]]) -> dict[str, tuple[int, int]]:
    def count(label: str, want: set[str]) -> tuple[int, int]:
        sel = [r for r in rows if r["example"].label == label]  # type: ignore[attr-defined]
        return sum(bool(r["cats"] & want) for r in sel), len(sel)  # type: ignore[operator]

    neg = [r for r in rows if r["example"].label in NEGATIVE_LABELS]  # type: ignore[attr-defined]
    none = [r for r in rows if r["example"].label == "none"]  # type: ignore[attr-defined]
    return {
        "crisis": count("crisis", {"crisis", "concern"}),
        "crisis-urgent": count("crisis", {"crisis"}),
        "concern": count("concern", {"crisis", "concern"}),
        "method": count("method", {"method"}),
        "hostility": count("hostility", {"hostility"}),
        "pii": count("pii", {"pii"}),
        "crisisFA": (sum("crisis" in r["cats"] for r in neg), len(neg)),  # type: ignore[operator]
        "none-any": (sum(bool(r["cats"]) for r in none), len(none)),
    }


def window_count(texts: Sequence[str]) -> int:
    """How many windows the texts make (for progress messages)."""
    return sum(len(windows(t)) for t in texts)

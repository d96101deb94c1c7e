"""The trained detector: heads over two feature sets, thresholds, and labelled examples.

Scoring is a cascade. Every window of a message (the whole text, and each
sentence of a long post) is scored first by the cheap n-gram head; only windows
the gate cannot rule out (of a long post's sentences, only the two the n-gram head
finds most suspicious) are embedded by the sentence-embedding model. The gate is
a small network trained to predict the full stage's decision (see
:mod:`bot.detection.gate`); a head without one gates on its n-gram heads (any
head at or above ``gate``). Embedded windows go to the embedding model, whose head (small
one-hidden-layer networks, and in the ensemble head a logistic regression, on the
standardised embedding, averaged) gives log-odds that are mixed with the n-gram
head's (``mix`` is the embedding model's share). A message's score per head is
its highest window. Without the embedding model, the n-gram head decides alone,
against its own thresholds.

Heads: ``crisis`` (urgent crisis against everything else), ``risk`` (crisis or
the quiet ``concern`` level against everything else), ``method``, ``hostility``,
``pii``. The artifact is ``head.npz`` (arrays) plus ``head.json`` (metadata).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.detection.backend import NgramBackend, SparseRows
from bot.detection.gate import Gate
from bot.detection.logreg import EMBEDDING_MODELS, average_logits, member_logits, sigmoid

HEADS = ("crisis", "risk", "method", "hostility", "pii")
HEAD_POSITIVES: dict[str, frozenset[str]] = {
    "crisis": frozenset({"crisis"}),
    "risk": frozenset({"crisis", "concern"}),
    "method": frozenset({"method"}),
    "hostility": frozenset({"hostility"}),
    "pii": frozenset({"pii"}),
}
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_HEAD = DATA_DIR / "head.npz"
HEAD_FORMAT = 2
"""The head file's format. 1: the embedding head is one or more networks whose log-odds
are averaged (no ``format`` key in ``head.json``). 2: ``head.json`` has ``format``,
``embedding_models`` (the kind of each member after the standardiser, in order: ``mlp`` or
``logreg``, see ``logreg.EMBEDDING_MODELS``) and ``embedding_average`` (``probability`` or
``logit``). Format-1 heads still load."""

_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+|(?<=[.!?])(?=[A-Z])")
MIN_WINDOW_WORDS = 3
MAX_WINDOWS = 12
"""Whole text plus at most 11 sentences: bounds the cost of long posts."""
MAX_EMBEDDED_SENTENCES = 2
"""Of a long post's sentences, only the n-gram head's two most suspicious go to the model."""


def windows(text: str) -> list[str]:
    """The whole text, then (for posts of two or more sentences) each sentence.

    Sentences shorter than :data:`MIN_WINDOW_WORDS` words are joined to the next.
    """
    text = text.strip()
    parts = [p.strip() for p in _SENTENCE.split(text) if p and p.strip()]
    if len(parts) < 2:
        return [text]
    merged: list[str] = []
    buf = ""
    for part in parts:
        buf = f"{buf} {part}".strip()
        if len(buf.split()) >= MIN_WINDOW_WORDS:
            merged.append(buf)
            buf = ""
    if buf:
        if merged:
            merged[-1] = f"{merged[-1]} {buf}"
        else:
            merged.append(buf)
    if len(merged) < 2:
        return [text]
    return [text, *merged[:MAX_WINDOWS - 1]]


@dataclass
class Analysis:
    """Scores of one message, per head (highest window), and what explains them."""

    scores: dict[str, float]
    embedded: bool = False
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    """Per head, the embedding of its best window (for the nearest examples)."""


@dataclass
class Detector:
    """A loaded head: weights, thresholds, examples and metadata."""

    heads: tuple[str, ...]
    ng_w: np.ndarray  # (ngram dim, heads)
    ng_b: np.ndarray  # (heads,)
    em: list[np.ndarray] | None
    """Embedding head: ``[mean, std, *member arrays]``, a standardiser and one or more
    members (networks from ``logreg.fit_mlp``, logistic regressions from
    ``logreg.fit_logreg``; their kinds in ``em_models``), combined by ``em_average``."""
    mix: np.ndarray  # (heads,) weight of the embedding model's log-odds
    gate: float
    thresholds: dict[str, float]
    ngram_thresholds: dict[str, float]
    ex_texts: list[str] = field(default_factory=list)
    ex_labels: list[str] = field(default_factory=list)
    ex_classes: list[str] = field(default_factory=list)
    ex_emb: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    gate_net: Gate | None = None
    """The learned gate (``None``: windows pass on the n-gram heads at ``gate``)."""
    em_models: list[str] | None = None
    """The kind of each member of ``em`` (``None``: all networks, as in format 1)."""
    em_average: str = "logit"
    """How the members' scores are combined: ``logit`` (mean log-odds, format 1) or
    ``probability`` (mean probability, the ensemble head)."""
    ngram: NgramBackend = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ngram = NgramBackend(dimension=self.ng_w.shape[0])
        if self.em is not None and self.em_models is None:
            self.em_models = ["mlp"] * ((len(self.em) - 2) // EMBEDDING_MODELS["mlp"])
        if self.em is not None:
            assert self.em_models is not None
            need = 2 + sum(EMBEDDING_MODELS[k] for k in self.em_models)
            if need != len(self.em):
                raise ValueError(f"embedding head: {len(self.em)} arrays for members "
                                 f"{self.em_models} (expected {need})")

    # -- persistence ------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.npz``) and its ``.json`` metadata beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "ng_w": self.ng_w.astype(np.float16), "ng_b": self.ng_b.astype(np.float32),
            "mix": self.mix.astype(np.float32),
        }
        for i, part in enumerate(self.em or ()):
            arrays[f"em_{i}"] = part.astype(np.float32)
        if self.ex_emb is not None:
            arrays["ex_emb"] = self.ex_emb.astype(np.float16)
        if self.gate_net is not None:
            arrays.update(self.gate_net.arrays())
        with path.open("wb") as fh:
            # numpy's stub types **kwds as if a key could be ``allow_pickle`` (a bool).
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        meta = dict(self.meta)
        meta.update(format=HEAD_FORMAT, embedding_models=list(self.em_models or []),
                    embedding_average=self.em_average)
        meta.update(heads=list(self.heads), gate=self.gate, thresholds=self.thresholds,
                    ngram_thresholds=self.ngram_thresholds,
                    examples=[{"text": t, "label": lab, "class": c} for t, lab, c in
                              zip(self.ex_texts, self.ex_labels, self.ex_classes, strict=True)])
        path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                             encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_HEAD) -> Detector:
        """Load a head written by :meth:`save`; raises ``OSError``/``ValueError`` if unreadable."""
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        examples = meta.pop("examples", [])
        heads = tuple(meta.pop("heads"))
        fmt = int(meta.pop("format", 1))
        if fmt > HEAD_FORMAT:
            raise ValueError(f"head format {fmt} is newer than this Haven reads ({HEAD_FORMAT})")
        models = meta.pop("embedding_models", None) if fmt >= 2 else None
        average = str(meta.pop("embedding_average", "logit")) if fmt >= 2 else "logit"
        em = [arrays[f"em_{i}"] for i in range(sum(k.startswith("em_") for k in arrays))] or None
        return cls(
            heads=heads, ng_w=arrays["ng_w"].astype(np.float32), ng_b=arrays["ng_b"],
            em=em, mix=arrays["mix"],
            gate=float(meta.pop("gate")), thresholds=dict(meta.pop("thresholds")),
            ngram_thresholds=dict(meta.pop("ngram_thresholds")),
            ex_texts=[e["text"] for e in examples], ex_labels=[e["label"] for e in examples],
            ex_classes=[e.get("class", "") for e in examples], ex_emb=arrays.get("ex_emb"),
            meta=meta, gate_net=Gate.from_arrays(arrays),
            em_models=list(models) if em is not None and models else None, em_average=average,
        )

    # -- scoring ------------------------------------------------------------

    def ngram_logits(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), heads)`` log-odds of the n-gram head."""
        rows = self.ngram.sparse(texts)
        return rows.dot(self.ng_w) + self.ng_b

    def embed_logits(self, emb: np.ndarray) -> np.ndarray:
        """``(n, heads)`` log-odds of the embedding head."""
        assert self.em is not None and self.em_models is not None
        mean, std = self.em[0], self.em[1]
        x = (emb.astype(np.float32) - mean) / std
        logits = []
        at = 2
        for kind in self.em_models:
            n = EMBEDDING_MODELS[kind]
            logits.append(member_logits(kind, self.em[at:at + n], x))
            at += n
        return average_logits(logits, self.em_average)

    def passes(self, rows: SparseRows, z: np.ndarray) -> np.ndarray:
        """Which windows (their n-gram rows and head log-odds) the gate lets through."""
        if self.gate_net is not None:
            return self.gate_net.passes(rows, z)
        return np.asarray(sigmoid(z).max(axis=1) >= self.gate)

    def analyse(self, texts: Sequence[str],
                embed: Callable[[list[str]], np.ndarray] | None = None) -> list[Analysis]:
        """Score messages; ``embed`` (texts -> embeddings) enables the second stage."""
        spans: list[tuple[int, int]] = []
        flat: list[str] = []
        for text in texts:
            wins = windows(text)
            spans.append((len(flat), len(flat) + len(wins)))
            flat.extend(wins)
        if not flat:
            return []
        rows = self.ngram.sparse(flat)
        z = rows.dot(self.ng_w) + self.ng_b
        use_model = embed is not None and self.em is not None
        emb_rows: dict[int, np.ndarray] = {}
        if use_model:
            p_ng = sigmoid(z)
            through = self.passes(rows, z)
            todo: list[int] = []
            for a, b in spans:
                # the whole text, and of its sentences only the most suspicious ones
                best = p_ng[a:b].max(axis=1)
                keep = [a] + [a + 1 + int(j) for j in np.argsort(-best[1:], kind="stable")[
                    :MAX_EMBEDDED_SENTENCES]]
                todo.extend(i for i in sorted(keep) if through[i])
            if todo:
                assert embed is not None
                emb = embed([flat[i] for i in todo])
                z_em = self.embed_logits(emb)
                idx = np.asarray(todo)
                z[idx] = self.mix * z_em + (1 - self.mix) * z[idx]
                emb_rows = {i: emb[k] for k, i in enumerate(todo)}
            # windows not embedded cannot reach a threshold: keep them at or below the gate
            rest = np.setdiff1d(np.arange(len(flat)), np.asarray(todo, dtype=np.int64))
            z[rest] = np.minimum(z[rest], _logit(self.gate))
        p = sigmoid(z)
        out: list[Analysis] = []
        for a, b in spans:
            block = p[a:b]
            best = block.argmax(axis=0)
            scores = {h: float(block[best[k], k]) for k, h in enumerate(self.heads)}
            embs = {h: emb_rows[a + int(best[k])] for k, h in enumerate(self.heads)
                    if a + int(best[k]) in emb_rows}
            out.append(Analysis(scores, embedded=any(a <= i < b for i in emb_rows),
                                embeddings=embs))
        return out

    def threshold(self, head: str, embedded: bool) -> float:
        """The decision threshold of a head, for the combined or the n-gram-only score."""
        table = self.thresholds if embedded else self.ngram_thresholds
        return float(table[head])

    def nearest(self, embedding: np.ndarray, labels: frozenset[str], k: int = 2) -> list[tuple[str, str, str, float]]:
        """The ``k`` labelled examples with one of ``labels`` closest to ``embedding``:
        ``(text, label, class, cosine)``."""
        if self.ex_emb is None or not self.ex_texts:
            return []
        mask = np.array([lab in labels for lab in self.ex_labels])
        if not mask.any():
            return []
        cand = np.flatnonzero(mask)
        sims = self.ex_emb[cand].astype(np.float32) @ embedding.astype(np.float32)
        order = np.argsort(-sims, kind="stable")[:k]
        return [(self.ex_texts[cand[j]], self.ex_labels[cand[j]], self.ex_classes[cand[j]],
                 float(sims[j])) for j in order]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))

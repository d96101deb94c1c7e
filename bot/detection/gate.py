"""The cascade's gate: a cheap network that says which windows need the embedding model.

The embedding model costs 10-50 ms of one core per window; the gate costs a fraction
of a millisecond, because it reuses the hashed n-gram rows the n-gram head already
computed. It is a small fastText-style network: the rows' n-grams are folded into a
smaller hashed space (``bits``), each n-gram has a learned vector (an embedding bag,
weighted like the rows), and one hidden layer on that bag plus the n-gram head's own
log-odds gives one log-odds, "the full stage would report something here".

It is trained by distillation: the target of a window is the *full stage's* decision
(every window embedded, gate 0) on a post labelled crisis, concern, method, hostility
or pii, not the label itself; whole posts labelled none, distress or recovery, and
all their windows, are negatives. Its threshold is chosen out of fold so that
:data:`GATE_RECALL` of the positive posts the full stage catches are still caught
through the gate, within each category (see :func:`choose_threshold`). ``haven train
--gate`` fits it beside the heads, ``haven train --gate-only`` for an existing head;
``Detector`` stores it in the head file. On the shipped corpus it saves little (see
README "Benchmarks"), so it is not fitted by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.detection.backend import SparseRows
from bot.detection.logreg import sigmoid

GATE_RECALL = 0.995
"""Share of the positives the full stage catches that must still be caught through the gate."""
CURVE_RECALLS = (0.9, 0.95, 0.98, 0.99, 0.995)
"""Recalls at which training reports what the gate would send to the model (the trade-off)."""


@dataclass
class GateOptions:
    """Knobs of the gate network (defaults are what the shipped head uses)."""

    bits: int = 15
    """The n-gram rows are folded into ``2**bits`` buckets (the n-gram heads use 18)."""
    width: int = 32
    """Length of each n-gram's vector."""
    hidden: int = 32
    epochs: int = 12
    rate: float = 0.01
    batch: int = 128
    l2: float = 1e-6
    seed: int = 0


@dataclass
class Gate:
    """A trained gate: an embedding bag, one hidden layer, and its threshold (log-odds)."""

    table: np.ndarray  # (2**bits, width)
    w1: np.ndarray  # (width + heads, hidden)
    b1: np.ndarray  # (hidden,)
    w2: np.ndarray  # (hidden,)
    b2: float
    threshold: float = 0.0

    @property
    def mask(self) -> int:
        """The fold of an n-gram bucket into the gate's smaller space."""
        return int(self.table.shape[0]) - 1

    def logits(self, rows: SparseRows, z_ng: np.ndarray) -> np.ndarray:
        """``(len(rows),)`` log-odds that a window needs the embedding model."""
        bag = _bag(rows, self.table, self.mask)
        x = np.hstack([bag, z_ng.astype(np.float32)])
        h = np.maximum(x @ self.w1 + self.b1, 0)
        return np.asarray(h @ self.w2 + self.b2, np.float64)

    def passes(self, rows: SparseRows, z_ng: np.ndarray) -> np.ndarray:
        """Which windows go to the embedding model."""
        return self.logits(rows, z_ng) >= self.threshold

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to store in the head file."""
        return {"gate_table": self.table.astype(np.float16), "gate_w1": self.w1.astype(np.float32),
                "gate_b1": self.b1.astype(np.float32), "gate_w2": self.w2.astype(np.float32),
                "gate_b2": np.array([self.b2, self.threshold], np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Gate | None:
        """The gate stored by :meth:`arrays`, or ``None`` for a head without one."""
        if "gate_table" not in arrays:
            return None
        b2, threshold = (float(v) for v in arrays["gate_b2"])
        return cls(table=arrays["gate_table"].astype(np.float32), w1=arrays["gate_w1"],
                   b1=arrays["gate_b1"], w2=arrays["gate_w2"], b2=b2, threshold=threshold)


def _bag(rows: SparseRows, table: np.ndarray, mask: int) -> np.ndarray:
    """``(n, width)``: per row, the sum of its n-grams' vectors weighted by the row's values."""
    n = len(rows)
    out = np.zeros((n, table.shape[1]), np.float32)
    if not len(rows.indices):
        return out
    prod = rows.values[:, None] * table[rows.indices & mask]
    counts = np.diff(rows.indptr)
    nonempty = counts > 0
    out[nonempty] = np.add.reduceat(prod, rows.indptr[:-1][nonempty], axis=0)
    return out


def fit_gate(rows: SparseRows, z_ng: np.ndarray, target: np.ndarray,
             opts: GateOptions | None = None) -> Gate:
    """Fit a gate on windows (``rows``, the n-gram head's log-odds ``z_ng``) and 0/1
    ``target``s, positives and negatives balanced; mini-batch Adam with a fixed seed
    (deterministic), lazy updates of the n-gram vectors a batch touches."""
    opts = opts or GateOptions()
    rng = np.random.default_rng(opts.seed)
    size = 1 << opts.bits
    mask = size - 1
    d_in = opts.width + z_ng.shape[1]
    params = {
        "table": rng.normal(0, 0.1, (size, opts.width)).astype(np.float32),
        "w1": rng.normal(0, np.sqrt(2 / d_in), (d_in, opts.hidden)).astype(np.float32),
        "b1": np.zeros(opts.hidden, np.float32),
        "w2": rng.normal(0, np.sqrt(1 / opts.hidden), opts.hidden).astype(np.float32),
        "b2": np.zeros(1, np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    y = target.astype(np.float32)
    share = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    weight = np.where(y > 0, 0.5 / share, 0.5 / (1 - share)).astype(np.float32)
    z_in = z_ng.astype(np.float32)
    n = len(rows)
    t = 0
    for _ in range(opts.epochs):
        order = rng.permutation(n)
        for start in range(0, n, opts.batch):
            idx = order[start:start + opts.batch]
            sub = rows.take(idx)
            bag = _bag(sub, params["table"], mask)
            x = np.hstack([bag, z_in[idx]])
            pre = x @ params["w1"] + params["b1"]
            h = np.maximum(pre, 0)
            p = sigmoid(h @ params["w2"] + params["b2"][0])
            g = (weight[idx] * (p - y[idx]) / len(idx)).astype(np.float32)
            gh = np.outer(g, params["w2"])
            gh[pre <= 0] = 0
            gx = gh @ params["w1"].T
            grads = {"w1": x.T @ gh + opts.l2 * params["w1"], "b1": gh.sum(axis=0),
                     "w2": h.T @ g + opts.l2 * params["w2"], "b2": np.array([g.sum()], np.float32)}
            # the bag's gradient reaches only the n-gram vectors of this batch
            counts = np.diff(sub.indptr)
            entry_row = np.repeat(np.arange(len(idx)), counts)
            buckets, inverse = np.unique(sub.indices & mask, return_inverse=True)
            g_entries = sub.values[:, None] * gx[:, :opts.width][entry_row]
            g_table = np.zeros((len(buckets), opts.width), np.float32)
            np.add.at(g_table, inverse, g_entries)
            t += 1
            c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
            for key, grad in grads.items():
                m[key] = 0.9 * m[key] + 0.1 * grad
                v[key] = 0.999 * v[key] + 0.001 * grad * grad
                params[key] -= opts.rate * (m[key] / c1) / (np.sqrt(v[key] / c2) + 1e-8)
            mt, vt = m["table"][buckets], v["table"][buckets]
            mt = 0.9 * mt + 0.1 * g_table
            vt = 0.999 * vt + 0.001 * g_table * g_table
            m["table"][buckets], v["table"][buckets] = mt, vt
            params["table"][buckets] -= opts.rate * (mt / c1) / (np.sqrt(vt / c2) + 1e-8)
    return Gate(table=params["table"], w1=params["w1"], b1=params["b1"], w2=params["w2"],
                b2=float(params["b2"][0]))


def choose_threshold(scores: np.ndarray, owner: np.ndarray, needed: np.ndarray,
                     caught: np.ndarray, recall: float = GATE_RECALL,
                     groups: np.ndarray | None = None) -> float:
    """The highest gate threshold (log-odds) that keeps ``recall`` of the ``caught`` texts,
    and of each group of them when ``groups`` (per text: crisis, method, ...) is given.

    ``scores``: gate log-odds per window; ``owner``: the text of each window; ``needed``:
    per window, whether the full stage reports one of its text's categories on it (a
    caught text stays caught while one of its needed windows passes); ``caught``: per text.
    """
    if groups is not None:
        return min((choose_threshold(scores, owner, needed, caught & (groups == g), recall)
                    for g in set(groups[caught].tolist())), default=float("-inf"))
    texts = np.flatnonzero(caught)
    if not len(texts):
        return float("-inf")
    best = np.full(len(caught), -np.inf)
    sel = needed & caught[owner]
    np.maximum.at(best, owner[sel], scores[sel])
    kept = np.sort(best[texts])
    allowed = int(np.floor((1 - recall) * len(kept)))
    return float(kept[allowed]) - 1e-6


def pass_rate(passes: np.ndarray, owner: np.ndarray, texts: Sequence[int] | np.ndarray) -> float:
    """Share of ``texts`` with at least one window through the gate."""
    texts = np.asarray(texts)
    if not len(texts):
        return 0.0
    any_pass = np.zeros(int(owner.max()) + 1 if len(owner) else 0, bool)
    any_pass[owner[passes]] = True
    return float(any_pass[texts].mean())


@dataclass
class GateFit:
    """A fitted gate and what its out-of-fold scores say about it."""

    gate: Gate
    kept: float
    """Share of the texts the full stage catches that are still caught through the gate."""
    passed_negatives: float
    """Share of the negative texts with a window through the gate (sent to the model)."""
    curve: dict[float, float]
    """Out of fold, per recall of :data:`CURVE_RECALLS`: the share of negative texts that
    would be sent to the model at the threshold keeping that recall."""

    def summary(self) -> dict[str, object]:
        """What the head's metadata records about the gate."""
        return {"threshold": round(self.gate.threshold, 4), "kept": round(self.kept, 4),
                "negatives_passed": round(self.passed_negatives, 4),
                "negatives_passed_at_recall": {str(r): round(v, 4) for r, v in self.curve.items()}}


def train_gate(rows: SparseRows, z_ng: np.ndarray, candidate: np.ndarray, needed: np.ndarray,
               owner: np.ndarray, fold: np.ndarray, negative: np.ndarray,
               groups: np.ndarray | None = None, opts: GateOptions | None = None,
               recall: float = GATE_RECALL) -> GateFit:
    """Fit the gate on the candidate windows (those inference may embed) with the full
    stage's ``needed`` as target; choose its threshold on out-of-fold scores (one network
    per ``fold`` of the windows, scoring the windows it did not see), then fit the shipped
    network on every candidate window. ``negative``: per text, labelled none, distress
    or recovery (for the reported pass rate); ``groups``: per text, its category group
    (the recall is kept within each group, so a small category is not sacrificed)."""
    cand = np.flatnonzero(candidate)
    n_texts = len(negative)
    caught = np.zeros(n_texts, bool)
    caught[owner[needed & candidate]] = True
    oof = np.full(len(owner), -np.inf)
    folds = sorted(set(fold[cand].tolist()))
    for f in folds if len(folds) > 1 else ():
        tr, te = cand[fold[cand] != f], cand[fold[cand] == f]
        net = fit_gate(rows.take(tr), z_ng[tr], needed[tr], opts)
        oof[te] = net.logits(rows.take(te), z_ng[te])
    if len(folds) < 2:
        oof[cand] = 0.0  # nothing to hold out: the gate lets everything through
    threshold = (choose_threshold(oof, owner, needed & candidate, caught, recall, groups)
                 if len(folds) > 1 else float("-inf"))
    gate = fit_gate(rows.take(cand), z_ng[cand], needed[cand], opts)
    gate.threshold = threshold
    through = oof >= threshold
    still = np.zeros(n_texts, bool)
    still[owner[through & needed]] = True
    kept = float(still[caught].mean()) if caught.any() else 1.0
    negatives = np.flatnonzero(negative)
    curve = {r: pass_rate(oof >= choose_threshold(oof, owner, needed & candidate, caught, r, groups),
                          owner, negatives) for r in CURVE_RECALLS}
    return GateFit(gate, kept, pass_rate(through, owner, negatives), curve)

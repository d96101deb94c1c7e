"""Logistic regression in numpy: Newton steps for dense features, Adam for sparse ones.

Deterministic (no random initialisation, full batches), so the same corpus gives
the same head.
"""

from __future__ import annotations

import numpy as np

from bot.detection.backend import SparseRows


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, safe for large ``|z|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Sample weights giving positives and negatives equal total weight (mean 1)."""
    pos = y.sum()
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return np.ones(len(y))
    return np.where(y > 0, len(y) / (2 * pos), len(y) / (2 * neg))


def fit_dense(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, weights: np.ndarray | None = None,
              iterations: int = 25) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method: ``(w, b)``."""
    n, d = x.shape
    sw = balanced_weights(y) if weights is None else weights
    xb = np.hstack([x.astype(np.float64), np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = sigmoid(xb @ theta)
        grad = xb.T @ (sw * (p - y)) / n + reg * theta
        h = (xb * (sw * p * (1 - p))[:, None]).T @ xb / n + np.diag(reg + 1e-9)
        step = np.linalg.solve(h, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return theta[:-1].astype(np.float32), float(theta[-1])


def fit_sparse(x: SparseRows, y: np.ndarray, l2: float = 1e-5, weights: np.ndarray | None = None,
               iterations: int = 300, rate: float = 0.05) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression on sparse rows by full-batch Adam."""
    n = len(x)
    sw = balanced_weights(y) if weights is None else weights
    w = np.zeros(x.dimension)
    b = 0.0
    m_w = np.zeros_like(w)
    v_w = np.zeros_like(w)
    m_b = v_b = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, iterations + 1):
        p = sigmoid(x.dot(w) + b)
        g = sw * (p - y) / n
        gw = x.tdot(g) + l2 * w
        gb = float(g.sum())
        m_w = beta1 * m_w + (1 - beta1) * gw
        v_w = beta2 * v_w + (1 - beta2) * gw * gw
        m_b = beta1 * m_b + (1 - beta1) * gb
        v_b = beta2 * v_b + (1 - beta2) * gb * gb
        c1 = 1 - beta1 ** t
        c2 = 1 - beta2 ** t
        w -= rate * (m_w / c1) / (np.sqrt(v_w / c2) + eps)
        b -= rate * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
    return w.astype(np.float32), float(b)


def fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int = 128, l2: float = 1e-4, epochs: int = 30,
            rate: float = 3e-3, batch: int = 64, seed: int = 0) -> list[np.ndarray]:
    """A one-hidden-layer network (ReLU) with one logistic output per column of ``y``,
    each balanced between its positives and negatives; trained by mini-batch Adam with
    a fixed seed (deterministic). A NaN in ``y`` means "unknown": that output is not
    trained on that row. Returns ``[w1, b1, w2, b2]``."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    k = y.shape[1]
    w1 = rng.normal(0, np.sqrt(2 / d), (d, hidden))
    b1 = np.zeros(hidden)
    w2 = rng.normal(0, np.sqrt(1 / hidden), (hidden, k))
    b2 = np.zeros(k)
    known = ~np.isnan(y)
    y = np.nan_to_num(y)
    share = (y.sum(axis=0) / np.maximum(known.sum(axis=0), 1)).clip(1e-3, 1 - 1e-3)
    w_pos, w_neg = 0.5 / share, 0.5 / (1 - share)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb, kb = x[idx], y[idx], known[idx]
            h = np.maximum(xb @ w1 + b1, 0)
            p = sigmoid(h @ w2 + b2)
            g = np.where(yb > 0, w_pos, w_neg) * (p - yb) * kb / len(idx)
            gh = g @ w2.T
            gh[h <= 0] = 0
            grads = [xb.T @ gh + l2 * w1, gh.sum(axis=0), h.T @ g + l2 * w2, g.sum(axis=0)]
            t += 1
            for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
                m[i] = 0.9 * m[i] + 0.1 * grad
                v[i] = 0.999 * v[i] + 0.001 * grad * grad
                param -= rate * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
    return [p.astype(np.float32) for p in params]


def mlp_logits(params: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Log-odds of a network from :func:`fit_mlp`, ``(n, k)``."""
    w1, b1, w2, b2 = params
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
               iterations: int = 25) -> list[np.ndarray]:
    """One balanced logistic regression per column of ``y`` (Newton's method, see
    :func:`fit_dense`) on the rows where that column is known (a NaN in ``y`` means
    "unknown", as in :func:`fit_mlp`). Deterministic. Returns ``[w (d, k), b (k,)]``."""
    d, k = x.shape[1], y.shape[1]
    w = np.zeros((d, k), np.float32)
    b = np.zeros(k, np.float32)
    for j in range(k):
        known = ~np.isnan(y[:, j])
        yj = y[known, j]
        if not len(yj) or yj.min() == yj.max():
            b[j] = 0.0 if not len(yj) else (8.0 if yj[0] > 0 else -8.0)
            continue
        w[:, j], b[j] = fit_dense(x[known], yj, l2=l2, iterations=iterations)
    return [w, b]


def logreg_logits(params: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Log-odds of a model from :func:`fit_logreg`, ``(n, k)``."""
    w, b = params
    return x @ w + b


EMBEDDING_MODELS: dict[str, int] = {"mlp": 4, "logreg": 2}
"""The kinds of model an embedding head may hold, and how many arrays each stores."""


def member_logits(kind: str, params: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Log-odds of one member of an embedding head (``kind`` from :data:`EMBEDDING_MODELS`)."""
    if kind == "mlp":
        return mlp_logits(params, x)
    if kind == "logreg":
        return logreg_logits(params, x)
    raise ValueError(f"unknown embedding model kind {kind!r}")


def average_logits(logits: list[np.ndarray], how: str = "probability") -> np.ndarray:
    """Combine members' log-odds: ``probability`` averages their probabilities (returned as
    log-odds, clipped to about ±16), ``logit`` averages the log-odds themselves."""
    if how == "logit":
        return np.mean(logits, axis=0)
    if how != "probability":
        raise ValueError(f"unknown averaging {how!r}")
    p = np.clip(np.mean([sigmoid(np.asarray(z, np.float64)) for z in logits], axis=0),
                1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))

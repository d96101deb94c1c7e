"""The semantic stage: the detector, its embedding model, a cache, and a worker thread.

``SemanticStage.detect(text, matches)`` is synchronous (``haven scan``, ``rules
test``); ``await stage.detect_async(...)`` runs the same work in one worker thread,
so inference never blocks the event loop, and messages that arrive while the
worker is busy are scored together in one batch. Embeddings are kept in an LRU
cache keyed by the normalised text of each window.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bot.detection.backend import BackendUnavailable, EmbeddingBackend, load_backend
from bot.detection.model import DEFAULT_HEAD, Analysis, Detector
from bot.detection.settings import DetectionConfig
from bot.detection.triage import SEMANTIC_CATEGORIES, decide, semantic_rule, to_matches
from bot.rules.model import Action, Match, Rule
from bot.rules.normalise import normalise_text

log = logging.getLogger(__name__)

MAX_BATCH = 32
NEAREST = 2


OBSERVED_BY_DEFAULT: frozenset[str] = frozenset({"method", "hostility", "pii"})
"""Semantic categories that act only when ``detection.actions`` names actions for them."""


class EmbeddingLRU:
    """An LRU cache in front of a backend, keyed by normalised text."""

    def __init__(self, backend: EmbeddingBackend, size: int = 4096) -> None:
        self.backend = backend
        self.size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` (computed in one batch for the ones not cached)."""
        keys = [normalise_text(t) for t in texts]
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
            elif key not in todo:
                todo[key] = text
                self.misses += 1
        fresh: dict[str, np.ndarray] = {}
        if todo:
            vecs = self.backend.embed(list(todo.values()))
            fresh = dict(zip(todo, vecs, strict=True))
        out = np.stack([fresh[k] if k in fresh else self._data[k] for k in keys])
        if self.size:
            for key, vec in fresh.items():
                self._data[key] = vec
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return out


class SemanticStage:
    """Decides semantic matches for messages (see the module docstring)."""

    def __init__(self, detector: Detector, backend: EmbeddingBackend | None, *,
                 mode: str = "on", thresholds: Mapping[str, float] | None = None,
                 actions: Mapping[str, Sequence[Action]] | None = None,
                 cache_size: int = 4096) -> None:
        self.detector = detector
        self.backend = backend
        self.mode = mode
        self.thresholds = dict(thresholds or {})
        self._cache = EmbeddingLRU(backend, cache_size) if backend is not None else None
        shadow = mode == "shadow"
        chosen = dict(actions or {})
        # Method, hostility and pii hits only act when the admin gave them actions: the heads
        # still fire on a few percent of ordinary posts, and a model's guess must not hide a
        # member's post, warn them or ping a moderator by default. Until then they are
        # observed (shadow): shown by `haven scan`, `rules test` and the log, acted on by nobody.
        self.rules: dict[str, Rule] = {
            cat: semantic_rule(cat, chosen.get(cat),
                               shadow=shadow or (cat in OBSERVED_BY_DEFAULT and cat not in chosen))
            for cat in SEMANTIC_CATEGORIES
        }
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[str, asyncio.Future[Analysis]]] = []
        self._draining: asyncio.Task[None] | None = None

    @property
    def uses_model(self) -> bool:
        """Whether the sentence-embedding model is loaded (else the n-gram head alone)."""
        return self._cache is not None

    @classmethod
    def from_config(cls, config: DetectionConfig, threads: int = 1) -> SemanticStage | None:
        """The stage a config asks for, or ``None`` when ``semantic: off``.

        A missing model package is not fatal: the stage falls back to the n-gram
        head and logs a warning (``haven check`` says so too). ``threads``: cores one
        batch of embeddings may use (1 in the running bot; every core in ``haven scan``).
        """
        if config.semantic == "off":
            return None
        detector = Detector.load(config.head or DEFAULT_HEAD)
        backend: EmbeddingBackend | None = None
        if config.backend != "ngram":
            try:
                backend = load_backend(config.backend, config.model_path, threads)
            except BackendUnavailable as exc:
                log.warning("semantic detection without its model (n-gram head only): %s", exc)
        return cls(detector, backend, mode=config.semantic, thresholds=config.thresholds,
                   actions=config.actions, cache_size=config.cache_size)

    @classmethod
    def default(cls) -> SemanticStage | None:
        """The shipped head with the default backend (``None`` if no head is shipped)."""
        if not Path(DEFAULT_HEAD).is_file():
            return None
        return cls.from_config(DetectionConfig(semantic="on"))

    # -- deciding -----------------------------------------------------------

    def analyse(self, texts: Sequence[str]) -> list[Analysis]:
        """Scores for a batch of messages (runs the model: call from a worker thread)."""
        embed = self._cache.embed if self._cache is not None else None
        return self.detector.analyse(list(texts), embed)

    def matches_for(self, analysis: Analysis, existing: Sequence[Match] = ()) -> list[Match]:
        """Matches for an analysis, skipping categories the rules already matched."""
        decisions = decide(self.detector, analysis, self.thresholds, nearest=NEAREST)
        return to_matches(decisions, self.rules, existing)

    def detect(self, text: str, existing: Sequence[Match] = ()) -> list[Match]:
        """Semantic matches for one message (synchronous)."""
        return self.matches_for(self.analyse([text])[0], existing)

    def detect_many(self, texts: Sequence[str],
                    existing: Sequence[Sequence[Match]] | None = None) -> list[list[Match]]:
        """Semantic matches for many messages, in one batch."""
        analyses = self.analyse(texts)
        existing = existing or [()] * len(texts)
        return [self.matches_for(a, e) for a, e in zip(analyses, existing, strict=True)]

    async def detect_async(self, text: str, existing: Sequence[Match] = ()) -> list[Match]:
        """Like :meth:`detect`, in the worker thread, batched with concurrent calls."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Analysis] = loop.create_future()
        self._pending.append((text, future))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        analysis = await future
        return self.matches_for(analysis, existing)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="haven-semantic")
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await loop.run_in_executor(self._executor, self.analyse,
                                                     [t for t, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), res in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(res)

    def close(self) -> None:
        """Stop the worker thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

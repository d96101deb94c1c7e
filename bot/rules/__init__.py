"""Haven's rule engine: normalisation, matching, and YAML rulebooks.

The core uses :class:`Rulebook` (load, evaluate, check_examples) and the data
classes next to it; :mod:`bot.rules.tools` holds the ``haven rules test`` and
``haven scan`` commands.
"""

from bot.rules.rulebook import (
    ACTIONS,
    CATEGORIES,
    SEVERITIES,
    Action,
    Match,
    MatchContext,
    Rule,
    Rulebook,
    Scope,
)

__all__ = [
    "ACTIONS",
    "CATEGORIES",
    "SEVERITIES",
    "Action",
    "Match",
    "MatchContext",
    "Rule",
    "Rulebook",
    "Scope",
]

"""Haven's rule engine: normalisation, matching, and YAML rulebooks.

The core uses :class:`Rulebook` (load, evaluate, check_examples) and the data
classes next to it. The package is split by job: :mod:`bot.rules.model` (data
classes), :mod:`bot.rules.actions` (the action registry), :mod:`bot.rules.loader`
(YAML validation), :mod:`bot.rules.engine` (:class:`Rulebook`);
:mod:`bot.rules.rulebook` re-exports them for old imports (``ACTIONS`` there is
the old name -> parameter names map). :mod:`bot.rules.tools` holds the
``haven rules test`` and ``haven scan`` commands.
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

"""Haven's rule engine: normalisation, matching, and YAML rulebooks.

The package is split by job: :mod:`bot.rules.model` (data classes),
:mod:`bot.rules.actions` (the one action registry, read by the loader and the
planner), :mod:`bot.rules.loader` (YAML validation with file and line),
:mod:`bot.rules.engine` (:class:`~bot.rules.engine.Rulebook`: load, evaluate),
:mod:`bot.rules.planner` (what to do about a message, pure) and
:mod:`bot.rules.helplines` (signposting services). :mod:`bot.rules.tools` holds
the ``haven rules test`` and ``haven scan`` commands.
"""

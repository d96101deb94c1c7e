"""Semantic detection: a sentence-embedding model and small heads beside the rules.

See :mod:`bot.detection.stage` (what the bot calls), :mod:`bot.detection.model`
(the cascade and the head artifact), :mod:`bot.detection.train` (``haven train``)
and :mod:`bot.detection.triage` (scores to matches).
"""

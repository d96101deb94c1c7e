"""Ruleset: reload the rules without a restart, dry-run a text, and collect feedback.

Its settings are semantic detection's (``detection.review_file``); the composition
root gives it that section.
"""

from bot.core.feature import Feature, FeatureSpec
from bot.features.ruleset.commands import ReviewSettings, RulesetCommands
from bot.storage.repositories.alerts import AlertsRepository

SPEC: FeatureSpec[ReviewSettings, AlertsRepository] = FeatureSpec(
    name="ruleset", build=lambda ctx, siblings: Feature(), commands=RulesetCommands,
    repository=AlertsRepository,
)

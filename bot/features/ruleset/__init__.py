"""Ruleset: reload the rules without a restart, dry-run a text, and collect feedback."""

from bot.core.feature import Feature, FeatureSpec
from bot.features.ruleset.commands import RulesetCommands
from bot.storage.repositories.alerts import AlertsRepository

SPEC: FeatureSpec[None, AlertsRepository] = FeatureSpec(
    name="ruleset", build=lambda ctx, siblings: Feature(), commands=RulesetCommands,
    repository=AlertsRepository,
)

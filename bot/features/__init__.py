"""Haven's features, each a package with one :class:`~bot.core.feature.FeatureSpec`.

:data:`FEATURES` is the ordered list the composition root (:mod:`bot.app`) builds:
the order of help texts and commands. Adding a feature is its package plus one
line here. The pipeline order is not this order: each stage declares its own.
"""

from bot.core.feature import FeatureSpec
from bot.features import (
    alerts,
    care,
    content_warnings,
    dashboard,
    details,
    digest,
    duty,
    help,
    members,
    moderation,
    privacy,
    raid,
    ruleset,
    stats,
    unanswered,
    welcome,
)

FEATURES: tuple[FeatureSpec, ...] = (
    help.SPEC,
    privacy.SPEC,
    alerts.SPEC,
    unanswered.SPEC,
    ruleset.SPEC,
    moderation.SPEC,
    duty.SPEC,
    stats.SPEC,
    care.SPEC,
    members.SPEC,
    welcome.SPEC,
    content_warnings.SPEC,
    raid.SPEC,
    details.SPEC,
    digest.SPEC,
    dashboard.SPEC,
)

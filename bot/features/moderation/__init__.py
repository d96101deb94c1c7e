"""Acting on the rules (hide, warn, time out, signpost, reply) and the case log."""

from bot.core.contracts import AlertRaiser
from bot.core.feature import FeatureSpec
from bot.features.moderation.commands import ModerationCommands
from bot.features.moderation.feature import Moderation
from bot.storage.repositories.cases import CasesRepository

SPEC: FeatureSpec[None, CasesRepository] = FeatureSpec(
    name="moderation", commands=ModerationCommands, repository=CasesRepository, needs=("alerts",),
    build=lambda ctx, siblings: Moderation(ctx, alerts=siblings.get("alerts", AlertRaiser)),
)

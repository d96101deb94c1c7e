"""Duty: the on-duty roster, moderators' own quiet hours, and the shift logbook."""

from bot.core.feature import Feature, FeatureSpec
from bot.features.duty.commands import DutyCommands, ShiftSources
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.cases import CasesRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.posts import TrackedPostsRepository

SPEC: FeatureSpec[None, ShiftSources] = FeatureSpec(
    name="duty", build=lambda ctx, siblings: Feature(), commands=DutyCommands,
    repository=lambda db: ShiftSources(DutyRepository(db), AlertsRepository(db),
                                       TrackedPostsRepository(db), CasesRepository(db)),
)

"""Stats: community health figures for moderators."""

from bot.core.contracts import TeamLoad
from bot.core.feature import FeatureSpec
from bot.features.stats.commands import Stats, StatsCommands
from bot.features.stats.figures import STATS_TEMPLATES, StatsSources
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.members import MembersRepository
from bot.storage.repositories.posts import TrackedPostsRepository

TEMPLATES = STATS_TEMPLATES
"""The ``stats`` answer (defined beside the figures it shows)."""

SPEC: FeatureSpec[None, StatsSources] = FeatureSpec(
    name="stats", commands=StatsCommands, wants=("care",),
    build=lambda ctx, siblings: Stats(team=siblings.find("care", TeamLoad), ctx=ctx),
    repository=lambda db: StatsSources(AlertsRepository(db), TrackedPostsRepository(db),
                                       MembersRepository(db), DutyRepository(db)),
    templates=TEMPLATES,
)

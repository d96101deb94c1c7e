"""raid: the join-wave guard (raid mode), as one feature package.

Adding it to Haven is the one line ``raid.SPEC`` in ``bot.features.FEATURES``.
"""

from bot.core.contracts import CaseKeeper, MemberDirectory
from bot.core.feature import FeatureSpec
from bot.features.raid.commands import RaidCommands
from bot.features.raid.config import RAID_SECTION, RaidConfig
from bot.features.raid.feature import Raid
from bot.features.raid.templates import TEMPLATES

SPEC: FeatureSpec[RaidConfig, None] = FeatureSpec(
    name="raid", section=RAID_SECTION, templates=TEMPLATES, commands=RaidCommands,
    needs=("moderation", "members"),
    build=lambda ctx, sib: Raid(ctx, cases=sib.get("moderation", CaseKeeper),
                                members=sib.get("members", MemberDirectory)),
)
"""How the app builds the raid guard (after moderation and members)."""

__all__ = ["SPEC", "Raid", "RaidConfig"]

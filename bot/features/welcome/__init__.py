"""A warm first contact: a welcome on join and a greeting on a member's first post."""

from bot.core.contracts import MemberDirectory
from bot.core.feature import FeatureSpec
from bot.features.welcome.config import WELCOME_SECTION, WelcomeConfig
from bot.features.welcome.feature import Welcome
from bot.storage.repositories.members import MembersRepository

SPEC: FeatureSpec[WelcomeConfig, MembersRepository] = FeatureSpec(
    name="welcome", section=WELCOME_SECTION, repository=MembersRepository, needs=("members",),
    build=lambda ctx, siblings: Welcome(ctx, members=siblings.get("members", MemberDirectory)),
)

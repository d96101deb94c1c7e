"""Members: post counts and who is new here."""

from bot.core.feature import FeatureSpec
from bot.features.members.feature import Members
from bot.storage.repositories.members import MembersRepository

SPEC: FeatureSpec[None, MembersRepository] = FeatureSpec(
    name="members", repository=MembersRepository,
    build=lambda ctx, siblings: Members(ctx),
)

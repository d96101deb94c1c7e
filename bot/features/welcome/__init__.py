"""A warm first contact: a welcome on join and a greeting on a member's first post."""

from types import MappingProxyType

from bot.core.contracts import MemberDirectory
from bot.core.feature import FeatureSpec
from bot.features.welcome.config import WELCOME_SECTION, WelcomeConfig
from bot.features.welcome.feature import Welcome
from bot.storage.repositories.members import MembersRepository

TEMPLATES = MappingProxyType({
    "welcome_no_rules_channel": "the house rules",
    "welcome_in_channel": "{mention} {text}",
})
"""What ``{rules_channel}`` says without a rules channel; a welcome posted in a channel
(``{text}``: the ``welcome`` template, ``{mention}``: the newcomer)."""

SPEC: FeatureSpec[WelcomeConfig, MembersRepository] = FeatureSpec(
    name="welcome", section=WELCOME_SECTION, repository=MembersRepository, needs=("members",),
    build=lambda ctx, siblings: Welcome(ctx, members=siblings.get("members", MemberDirectory)),
    templates=TEMPLATES,
)

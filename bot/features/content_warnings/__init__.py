"""Content-warning channels: warnings before distressing content."""

from types import MappingProxyType

from bot.core.feature import FeatureSpec
from bot.features.content_warnings.config import CONTENT_WARNINGS_SECTION, ContentWarningsConfig
from bot.features.content_warnings.feature import ContentWarnings
from bot.storage.repositories.cases import CasesRepository

TEMPLATES = MappingProxyType({
    "cw_case_no_dm": "Case #{case}: a post by {member} in #{channel} was hidden (`{rule}`) and "
                     "they could not be messaged privately. Their text is in `case {case}`: "
                     "please send it to them.",
})
"""The note to moderators when a hidden post's author could not get their text back."""

SPEC: FeatureSpec[ContentWarningsConfig, CasesRepository] = FeatureSpec(
    name="content_warnings", section=CONTENT_WARNINGS_SECTION, repository=CasesRepository,
    build=lambda ctx, siblings: ContentWarnings(ctx), templates=TEMPLATES,
)

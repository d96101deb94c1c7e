"""Content-warning channels: warnings before distressing content."""

from bot.core.feature import FeatureSpec
from bot.features.content_warnings.config import CONTENT_WARNINGS_SECTION, ContentWarningsConfig
from bot.features.content_warnings.feature import ContentWarnings
from bot.storage.repositories.cases import CasesRepository

SPEC: FeatureSpec[ContentWarningsConfig, CasesRepository] = FeatureSpec(
    name="content_warnings", section=CONTENT_WARNINGS_SECTION, repository=CasesRepository,
    build=lambda ctx, siblings: ContentWarnings(ctx),
)

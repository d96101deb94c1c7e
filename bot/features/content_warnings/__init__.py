"""Content-warning channels: warnings before distressing content."""

from bot.config import ContentWarningsConfig
from bot.core.feature import FeatureSpec
from bot.features.content_warnings.feature import ContentWarnings
from bot.storage.repositories.cases import CasesRepository

SPEC: FeatureSpec[ContentWarningsConfig, CasesRepository] = FeatureSpec(
    name="content_warnings", repository=CasesRepository,
    build=lambda ctx, siblings: ContentWarnings(ctx),
)

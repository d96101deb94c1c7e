"""Identifying details pieced together across posts: a private, kind note when they add up."""

from types import MappingProxyType

from bot.core.feature import FeatureSpec
from bot.features.details.config import DETAILS_SECTION, DetailsConfig
from bot.features.details.feature import Details
from bot.storage.repositories.details import DetailsRepository

TEMPLATES = MappingProxyType({
    "details_note": (
        "Hi {member}, a quiet note from Haven about your privacy, just for you.\n"
        "Over the last {window}, your posts here have mentioned:\n{kinds}\n"
        "Each of these says little on its own, but together they can make it possible "
        "for someone to work out who you are, online or offline.\n"
        "If you'd rather keep that private, you can edit or delete your earlier posts: "
        "open a post's menu and choose edit or delete. Nothing has been removed, and "
        "you are welcome to keep sharing. The moderators see only that this note was "
        "sent and the kinds of detail, never the details themselves."),
    "details_kind_full_name": "your full name",
    "details_kind_school": "your school, college or university",
    "details_kind_workplace": "where you work",
    "details_kind_place": "your town or street",
    "details_kind_clinician": "your clinician or clinic",
    "details_kind_age_place": "your age together with where you live",
    "details_kind_handle": "a social media handle or profile",
    "details_flag": "{count} kinds of identifying detail within {window} ({kinds}); "
                    "the member was sent a private note",
    "details_flag_no_dm": "{count} kinds of identifying detail within {window} ({kinds}); "
                          "the member does not accept private messages, so no note was sent",
})

SPEC: FeatureSpec[DetailsConfig, DetailsRepository] = FeatureSpec(
    name="details", section=DETAILS_SECTION, repository=DetailsRepository,
    templates=TEMPLATES, build=lambda ctx, siblings: Details(ctx),
)

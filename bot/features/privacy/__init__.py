"""Privacy: a member's own data (``mydata``) and the right to be forgotten (``forgetme``).

The repository is the privacy composition (:class:`bot.storage.privacy.Privacy`):
each repository exports, forgets and purges its own part, in one transaction.
"""

from types import MappingProxyType

from bot.core.feature import Feature, FeatureSpec
from bot.features.privacy.commands import PrivacyCommands
from bot.storage.privacy import Privacy, member_data_parts

TEMPLATES = MappingProxyType({
    "mydata_intro": "This is everything Haven stores about you in this community ({summary}). "
                    "Moderators' private notes are not included. To delete it, {how}.",
    "mydata_no_dm": "I couldn't message you privately. Please allow direct messages from this "
                    "community and try again.",
    "mydata_sent": "I've sent you your data privately.",
    "mydata_part": "Part {part}/{parts}:\n```json\n{data}\n```",
    "forgetme_nothing": "nothing yet apart from your name",
    "forgetme_ask": "This would delete what Haven stores about you in this community: {what}."
                    "{kept} It cannot be undone. To go ahead, {how}. To see it all first, {see}.",
    "forgetme_kept_ask": " {records} about you {verb} kept, but will no longer name you or "
                         "hold any text of yours.",
    "forgetme_done": "Done: Haven has deleted what it stored about you.",
    "forgetme_kept": "{records} {verb} kept because moderators may need them, but no longer "
                     "name you and hold no text of yours.",
    "forgetme_open_alert": "A moderator is still looking after a message you posted; that "
                           "record is removed from your name as soon as they close it.",
})

SPEC: FeatureSpec[None, Privacy] = FeatureSpec(
    name="privacy", build=lambda ctx, siblings: Feature(), commands=PrivacyCommands,
    repository=lambda db: Privacy(db, member_data_parts(db)), templates=TEMPLATES,
)

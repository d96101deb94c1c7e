"""Help: the command list and the helplines, for everyone."""

from types import MappingProxyType

from bot.core.feature import Feature, FeatureSpec
from bot.features.help.commands import HelpCommands

TEMPLATES = MappingProxyType({
    "help_intro": "**Haven** keeps this community safe and welcoming. Commands:",
    "resources": "**If you are in danger right now, call your local emergency number.**\n"
                 "Crisis and support lines:\n{crisis_lines}\nEating disorders:\n{eating_lines}",
})

SPEC: FeatureSpec[None, None] = FeatureSpec(
    name="help", build=lambda ctx, siblings: Feature(), commands=HelpCommands,
    templates=TEMPLATES,
)

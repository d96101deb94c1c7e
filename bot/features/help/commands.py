"""``help`` and ``resources``: what Haven can do, and where to find help now."""

from __future__ import annotations

from typing import Any

from bot.core.commands import Invocation, command
from bot.core.commandspec import command_prefix
from bot.core.events import CommandResult
from bot.core.feature import FeatureContext


class HelpCommands:
    """Commands for everyone: the command list and the helplines."""

    def __init__(self, feature: object, ctx: FeatureContext[None, None]) -> None:
        self.ctx = ctx

    @command("help", "What Haven can do and how to use it", moderator_only=False)
    async def help(self, inv: Invocation) -> CommandResult:
        """List the commands this member may use."""
        ctx = self.ctx
        mod = ctx.perms.is_moderator(inv.invoker)
        prefix = prefix_of(ctx)
        lines = [ctx.templates.render("help_intro")]
        for spec in ctx.commands():
            if spec.moderator_only and not mod:
                continue
            lines.append(f"- `{prefix}{spec.usage}`: {spec.description}")
        return CommandResult("\n".join(lines))

    @command("resources", "Helplines and support services", moderator_only=False)
    async def resources(self, inv: Invocation) -> CommandResult:
        """Helplines and services for the community's countries."""
        ctx = self.ctx
        countries = ctx.core.community.countries
        return CommandResult(ctx.templates.render(
            "resources", crisis_lines=ctx.helplines.format(countries, "crisis"),
            eating_lines=ctx.helplines.format(countries, "eating_disorders")))


def prefix_of(ctx: FeatureContext[Any, Any]) -> str:
    """What goes before a command name on this platform (``/``, ``!haven ``, nothing)."""
    return command_prefix(ctx.platform.name, ctx.platform.command_prefix)

"""The ``raid`` command (moderators only): ``raid status``, ``raid on``, ``raid off``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from bot.core.commands import Arg, Invocation, command
from bot.core.events import CommandResult

if TYPE_CHECKING:
    from bot.core.feature import FeatureContext
    from bot.features.raid.config import RaidConfig
    from bot.features.raid.feature import Raid


RaidChoice = Literal["status", "on", "off"]


class RaidCommands:
    """The ``raid`` command group."""

    def __init__(self, raid: Raid, ctx: FeatureContext[RaidConfig, None]) -> None:
        self.raid = raid
        self.ctx = ctx

    @command("raid", "Raid mode: status, on or off")
    async def raid_mode(self, inv: Invocation,
                        state: Annotated[RaidChoice, Arg("status, on or off")]) -> CommandResult:
        """Say whether raid mode is on, or turn it on or off now."""
        if state == "on":
            return CommandResult(await self.raid.turn_on(inv.community_id, inv.invoker))
        if state == "off":
            return CommandResult(await self.raid.turn_off(inv.community_id))
        return CommandResult(await self.raid.status(inv.community_id))

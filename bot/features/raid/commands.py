"""The ``raid`` command (moderators only): ``raid status``, ``raid on``, ``raid off``.

JOIN (issue 10): the decorator lives in ``bot/core/commands.py``, which was not on
main when this was written. Until then the small stand-in below records the same
declaration; at the join replace the block marked JOIN with::

    from bot.core.commands import Arg, Invocation, command
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from bot.core.events import CommandInvoked, CommandResult, Member

if TYPE_CHECKING:
    from bot.core.feature import FeatureContext
    from bot.features.raid.config import RaidConfig
    from bot.features.raid.feature import Raid

# -- JOIN: stand-in for bot.core.commands (same names and signatures) ---------------

H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class Arg:
    """How a parameter is shown: its description; ``rest`` takes the rest of the line."""

    description: str = ""
    rest: bool = False


@dataclass(frozen=True)
class Invocation:
    """Who ran a command, where."""

    event: CommandInvoked
    community_id: str
    invoker: Member
    hint: Callable[..., str]


def command(name: str, description: str, *, moderator_only: bool = True) -> Callable[[H], H]:
    """Declare a command (the stand-in only records the declaration on the method)."""
    def decorate(fn: H) -> H:
        fn.__dict__["haven_command"] = (name, description, moderator_only)
        return fn

    return decorate

# -- end of the stand-in -------------------------------------------------------------


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

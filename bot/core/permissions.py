"""Who may do what, decided in the core from config (never only in a platform's UI)."""

from __future__ import annotations

from bot.core.config import Config
from bot.core.events import Member

MODERATOR = "moderator"
PEER_SUPPORTER = "peer_supporter"
GREETER = "greeter"


class Permissions:
    """Maps a :class:`Member` to Haven's role groups using the config."""

    def __init__(self, config: Config, moderator_power_level: int = 50) -> None:
        self.config = config
        self.moderator_power_level = moderator_power_level
        """Where power levels exist (Matrix): the level that makes a moderator
        (the adapter's setting, handed in by the composition root)."""

    def is_moderator(self, member: Member) -> bool:
        """Admins, members with a moderator role, or (Matrix) a high enough power level."""
        if member.is_bot:
            return False
        if member.is_admin:
            return True
        if member.roles & set(self.config.roles.moderators):
            return True
        return (member.power_level is not None
                and member.power_level >= self.moderator_power_level)

    def is_admin(self, member: Member) -> bool:
        """Server owners and administrators (Discord), room creators and admins (Matrix):
        those who may change what Haven enforces (the community's rule file)."""
        return member.is_admin and not member.is_bot

    def groups(self, member: Member) -> frozenset[str]:
        """The member's roles plus Haven's symbolic groups (``moderator``, ...)."""
        groups = set(member.roles)
        if self.is_moderator(member):
            groups.add(MODERATOR)
        if member.roles & set(self.config.roles.peer_supporters):
            groups.add(PEER_SUPPORTER)
        if member.roles & set(self.config.roles.greeters):
            groups.add(GREETER)
        return frozenset(groups)

"""bot.core.permissions: who counts as a moderator, peer supporter or greeter."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_config_text
from bot.core.config import Config
from bot.core.permissions import GREETER, MODERATOR, PEER_SUPPORTER, Permissions
from tests.fakes import member


@pytest.fixture
def perms(tmp_path: Path) -> Permissions:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "helplines.yaml").write_text("countries: {}\n")
    config = load_config_text("""\
channels: {moderators: mod-alerts}
roles:
  moderators: [Moderators, "987654321"]
  peer_supporters: [Peer Supporters]
  greeters: [Greeters]
matrix: {moderator_power_level: 50}
""", "haven.yaml", base_dir=tmp_path)
    return Permissions(config)


def test_moderator_by_role_name_or_id(perms: Permissions) -> None:
    assert perms.is_moderator(member("a", roles=("Moderators",)))
    assert perms.is_moderator(member("b", roles=("987654321",)))
    assert perms.is_moderator(member("c", roles=("Members", "Moderators")))
    assert not perms.is_moderator(member("d", roles=("moderators",)))  # names are exact
    assert not perms.is_moderator(member("e", roles=("Peer Supporters", "Greeters")))
    assert not perms.is_moderator(member("f"))


def test_admins_are_moderators(perms: Permissions) -> None:
    assert perms.is_moderator(member("owner", admin=True))


def test_matrix_power_level_threshold_from_config(perms: Permissions, tmp_path: Path) -> None:
    assert perms.is_moderator(member("@m:x", power=50))
    assert perms.is_moderator(member("@a:x", power=100))
    assert not perms.is_moderator(member("@u:x", power=49))
    assert not perms.is_moderator(member("@u:x", power=0))
    strict = Permissions(Config(), moderator_power_level=90)
    assert not strict.is_moderator(member("@m:x", power=50))
    assert strict.is_moderator(member("@m:x", power=90))


def test_bots_are_never_moderators(perms: Permissions) -> None:
    assert not perms.is_moderator(member("bot", bot=True, roles=("Moderators",)))
    assert not perms.is_moderator(member("bot", bot=True, admin=True))
    assert not perms.is_moderator(member("bot", bot=True, power=100))
    assert MODERATOR not in perms.groups(member("bot", bot=True, admin=True))


def test_symbolic_groups(perms: Permissions) -> None:
    assert perms.groups(member("a", roles=("Moderators",))) == {"Moderators", MODERATOR}
    assert perms.groups(member("b", roles=("Peer Supporters",))) == {"Peer Supporters",
                                                                      PEER_SUPPORTER}
    assert perms.groups(member("c", roles=("Greeters", "Peer Supporters"))) == {
        "Greeters", "Peer Supporters", GREETER, PEER_SUPPORTER}
    assert perms.groups(member("d", admin=True)) == {MODERATOR}
    assert perms.groups(member("e", power=75)) == {MODERATOR}
    assert perms.groups(member("f", roles=("Members",))) == {"Members"}
    assert perms.groups(member("g")) == frozenset()
    assert isinstance(perms.groups(member("g")), frozenset)


def test_default_config_moderator_role() -> None:
    perms = Permissions(Config())
    assert perms.is_moderator(member("a", roles=("Moderators",)))
    assert perms.groups(member("b", roles=("Greeters",))) == {"Greeters"}  # no greeters role set

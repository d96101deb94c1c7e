"""bot.adapters.matrix.adapter: the facade, its community, capabilities and core port."""

from __future__ import annotations

from bot.core.ports import CoreSink
from tests.matrix_fakes import ALICE, FakeCore, adapter_for


def test_community_id_choice() -> None:
    assert adapter_for().community_id == "example.org"
    assert adapter_for(spaces=("!space:example.org",)).community_id == "!space:example.org"
    assert adapter_for(community_id="harbour").community_id == "harbour"


def test_role_mentions_without_rooms() -> None:
    adapter = adapter_for()
    assert adapter.role_mention("c", "@sam:example.org").startswith("[sam](https://matrix.to/#/")
    assert adapter.role_mention("c", "Peer supporters") == "@Peer supporters"


def test_the_recording_core_is_a_core_sink() -> None:
    assert isinstance(FakeCore(), CoreSink)


async def test_timeout_is_lifted_by_the_core_not_by_itself() -> None:
    """No TIMEOUT_EXPIRES: the core schedules ``lift_timeout``, which restores the level."""
    from bot.core.ports import Capability, lift_timeout_of

    adapter = adapter_for()
    assert Capability.TIMEOUT_EXPIRES not in adapter.capabilities
    assert adapter.capabilities == frozenset({Capability.ATTACHMENTS, Capability.ROLE_MEMBERS,
                                              Capability.CHANNEL_PRIVACY})
    assert lift_timeout_of(adapter) is adapter
    lifted: list[str] = []

    async def unmute(user_id: str) -> int:
        lifted.append(user_id)
        return 1

    adapter.moderation.unmute = unmute  # type: ignore[method-assign]
    await adapter.lift_timeout(adapter.community_id, ALICE)
    assert lifted == [ALICE]

"""bot.app: the composition root builds every feature from its spec, siblings first."""

from __future__ import annotations

import pytest

from bot import app
from bot.core.contracts import AlertRaiser, MemberDirectory, WarningLabels
from bot.core.feature import Feature, FeatureContext, FeatureSpec, Siblings
from bot.features import FEATURES
from tests.conftest import Harness


def test_every_feature_is_built_once_in_list_order(harness: Harness) -> None:
    assert list(harness.core.features) == [spec.name for spec in FEATURES]
    features = harness.core.features
    assert isinstance(features["alerts"], AlertRaiser)
    assert isinstance(features["members"], MemberDirectory)
    assert isinstance(features["content_warnings"], WarningLabels)


def test_a_feature_gets_its_own_section_and_repository(harness: Harness) -> None:
    unanswered = harness.core.features["unanswered"]
    ctx = unanswered.ctx  # type: ignore[attr-defined]
    assert ctx.name == "unanswered" and ctx.config is harness.config.unanswered
    assert type(ctx.repo).__name__ == "TrackedPostsRepository"
    assert ctx.platform is harness.core.platform  # the time-bounded one
    with pytest.raises(AttributeError):
        ctx.config = None  # frozen


class _Probe(Feature):
    def __init__(self, ctx: FeatureContext[None, None], siblings: Siblings) -> None:
        self.ctx = ctx
        self.siblings = siblings


def _spec(name: str, needs: tuple[str, ...] = (), **kw: object) -> FeatureSpec[None, None]:
    return FeatureSpec(name=name, build=lambda ctx, sib: _Probe(ctx, sib), needs=needs,
                       **kw)  # type: ignore[arg-type]


def test_siblings_are_built_before_the_features_that_need_them(harness: Harness) -> None:
    order: list[str] = []

    def spec(name: str, needs: tuple[str, ...] = ()) -> FeatureSpec[None, None]:
        def build(ctx: FeatureContext[None, None], sib: Siblings) -> Feature:
            order.append(name)
            return _Probe(ctx, sib)
        return FeatureSpec(name=name, build=build, needs=needs)

    built = app.build_features(harness.core, [spec("b", needs=("a",)), spec("a")])
    assert order == ["a", "b"] and list(built) == ["b", "a"]


def test_wrong_needs_are_refused(harness: Harness) -> None:
    with pytest.raises(ValueError, match="needs 'nope'"):
        app.build_features(harness.core, [_spec("a", needs=("nope",))])
    with pytest.raises(ValueError, match="need each other"):
        app.build_features(harness.core, [_spec("a", needs=("b",)), _spec("b", needs=("a",))])
    with pytest.raises(ValueError, match="share a name"):
        app.build_features(harness.core, [_spec("a"), _spec("a")])


def test_feature_templates_are_defaults_and_may_not_clash() -> None:
    one = _spec("one", templates={"raid_x": "x"})
    two = _spec("two", templates={"raid_x": "y"})
    assert app.template_defaults([one]) == {"raid_x": "x"}
    with pytest.raises(ValueError, match="redefines"):
        app.template_defaults([one, two])


def test_the_commands_are_todays_word_for_word(harness: Harness) -> None:
    from tests.golden import COMMANDS

    assert app.command_specs() == COMMANDS
    assert harness.core.services.commands == COMMANDS

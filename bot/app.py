"""The composition root: the one place that knows every part and puts them together.

:func:`create` loads the rules, helplines and semantic stage, opens the store,
builds the core, then builds each feature of :data:`bot.features.FEATURES` from
its spec (its config section, its repositories, the shared services, and the
siblings it names) and installs them. ``haven run``, ``haven demo`` and the tests
build Haven through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.commands import Commands
from bot.config import Config
from bot.core.clock import Clock
from bot.core.feature import Feature, FeatureContext, FeatureSpec, Siblings
from bot.core.ports import Platform
from bot.core.runtime import Haven
from bot.core.templates import Templates
from bot.core.triage import RulesInForce
from bot.detection.stage import SemanticStage
from bot.features import FEATURES
from bot.rules.engine import Rulebook
from bot.rules.helplines import load_helplines
from bot.store import Store

SECTION_KEYS: Mapping[str, str] = {"alerts": "crisis", "welcome": "welcome",
                                   "unanswered": "unanswered",
                                   "content_warnings": "content_warnings"}
"""The config section each feature reads."""


def template_defaults(specs: Sequence[FeatureSpec[Any, Any]] = FEATURES) -> dict[str, str]:
    """The default texts the features own (names are unique across features)."""
    defaults: dict[str, str] = {}
    for spec in specs:
        clash = set(defaults) & set(spec.templates)
        if clash:
            raise ValueError(f"feature {spec.name} redefines template(s) {sorted(clash)}")
        defaults.update(spec.templates)
    return defaults


async def create(config: Config, platform: Platform, clock: Clock | None = None,
                 store: Store | None = None,
                 features: Sequence[FeatureSpec[Any, Any]] = FEATURES) -> Haven:
    """Load rules and helplines (raising ``ConfigError``), open the store, build Haven."""
    defaults = template_defaults(features)
    names = Templates(config.templates, defaults).names()
    rulebook = Rulebook.load(config.rules.dir, config.rules.packs, names)
    helplines = load_helplines(config.rules.helplines)
    semantic = SemanticStage.from_config(config.detection)
    store = store or await Store.open(config.database)
    core = Haven(config, platform, store, RulesInForce(rulebook), helplines, clock, semantic,
                 defaults)
    core.install(build_features(core, features), Commands(core))
    return core


def build_features(core: Haven, specs: Sequence[FeatureSpec[Any, Any]]) -> dict[str, Feature]:
    """Build each feature from its spec, siblings first; keyed by name, in list order."""
    built: dict[str, Feature] = {}
    by_name = {spec.name: spec for spec in specs}
    if len(by_name) != len(specs):
        raise ValueError("two features share a name")

    def build(spec: FeatureSpec[Any, Any], path: tuple[str, ...]) -> None:
        if spec.name in built:
            return
        for need in spec.needs:
            if need in path:
                raise ValueError(f"features need each other: {' -> '.join((*path, need))}")
            if need not in by_name:
                raise ValueError(f"feature {spec.name} needs {need!r}, which is not listed")
            build(by_name[need], (*path, need))
        built[spec.name] = spec.build(context(core, spec), Siblings(built))

    for spec in specs:
        build(spec, (spec.name,))
    return {spec.name: built[spec.name] for spec in specs}


def context(core: Haven, spec: FeatureSpec[Any, Any]) -> FeatureContext[Any, Any]:
    """The narrow context one feature receives."""
    key = SECTION_KEYS.get(spec.name)
    database = core.store.database
    return FeatureContext(
        name=spec.name,
        config=getattr(core.config, key) if key else None,
        core=core.config,
        repo=spec.repository(database) if spec.repository is not None else None,
        messenger=core.messenger, scheduler=core.scheduler, clock=core.clock,
        templates=core.templates, perms=core.perms, platform=core.platform, kv=core.store.kv,
        helplines=core.helplines, transaction=database.transaction, errors=core,
        hint=core.command_hint,
    )

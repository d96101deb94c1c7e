"""The composition root: the one place that knows every part and puts them together.

:func:`load_config` reads the config with every section: the core's own
(:mod:`bot.core.config`), each feature's (its spec's ``section``), the adapters' and
semantic detection's. :func:`create` loads the rules, helplines and semantic stage,
opens the store, builds the core, then builds each feature of
:data:`bot.features.FEATURES` from its spec (its config section, its repositories,
the shared services, and the siblings it names) and installs them with their
commands. ``haven run``, ``haven demo`` and the tests build Haven through here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.matrix.config import MATRIX_SECTION
from bot.core.clock import Clock
from bot.core.commands import CommandRegistry, specs_of
from bot.core.commandspec import CommandSpec
from bot.core.config import Config, parse_config
from bot.core.feature import Feature, FeatureContext, FeatureSpec, Siblings
from bot.core.metrics import METRICS_SECTION
from bot.core.ports import Platform
from bot.core.runtime import Haven
from bot.core.sections import Checks, Section
from bot.core.templates import Templates
from bot.core.triage import RulesInForce
from bot.core.yamlsrc import load_file, load_text
from bot.dashboard.config import DASHBOARD_SECTION
from bot.detection.settings import DETECTION_SECTION
from bot.detection.stage import SemanticStage
from bot.features import FEATURES
from bot.features.content_warnings.config import CONTENT_WARNINGS_SECTION, ContentWarningsConfig
from bot.features.unanswered.config import UNANSWERED_SECTION
from bot.rules.engine import Rulebook
from bot.rules.helplines import load_helplines
from bot.storage.database import Migration
from bot.storage.store import Store


def _support_places_are_exempt(cw: ContentWarningsConfig, checks: Checks) -> ContentWarningsConfig:
    """Sensitive posts in the unanswered support places stay where they are, unless the
    admin lists the exempt channels themselves (an empty list exempts none)."""
    if checks.given("content_warnings.exempt"):
        return cw
    places = checks.get(UNANSWERED_SECTION).places
    return dataclasses.replace(cw, exempt=tuple(p.channel for p in places))


LINKS: Mapping[str, Any] = {CONTENT_WARNINGS_SECTION.key: _support_places_are_exempt}
"""The one default that joins two features' settings, as a ``finish`` hook."""


SHARED: Mapping[str, Section[Any]] = {"ruleset": DETECTION_SECTION, "dashboard": DASHBOARD_SECTION}
"""Features that read a section they do not own: feedback goes to detection's review file;
the dashboard command reads the web dashboard's address."""


def wired(specs: Sequence[FeatureSpec[Any, Any]]) -> tuple[FeatureSpec[Any, Any], ...]:
    """The specs with the sections the composition root hands them (:data:`SHARED`)."""
    return tuple(dataclasses.replace(s, section=SHARED[s.name]) if s.name in SHARED else s
                 for s in specs)


def sections(specs: Sequence[FeatureSpec[Any, Any]] = FEATURES) -> tuple[Section[Any], ...]:
    """The config sections besides the core's, each once: the features' (in list order),
    the adapters', semantic detection's and the dashboard's."""
    found: dict[str, Section[Any]] = {}
    for spec in specs:
        if isinstance(spec.section, Section):
            hook = LINKS.get(spec.section.key)
            found[spec.section.key] = (dataclasses.replace(spec.section, finish=hook) if hook
                                       else spec.section)
    for section in (DISCORD_SECTION, MATRIX_SECTION, DETECTION_SECTION, DASHBOARD_SECTION,
                    METRICS_SECTION):
        found.setdefault(section.key, section)
    return tuple(found.values())


SECTIONS: tuple[Section[Any], ...] = sections()
"""Every section of the features, adapters and detection, in the order they are read."""


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; raise :class:`~bot.core.errors.ConfigError`
    listing every problem."""
    path = Path(path)
    return parse_config(load_file(path), str(path), path.parent, SECTIONS, template_defaults())


def load_config_text(text: str, filename: str = "config.yaml",
                     base_dir: Path | None = None) -> Config:
    """Load and validate config from text (tests, the embedded demo)."""
    return parse_config(load_text(text, filename), filename, base_dir or Path("."), SECTIONS,
                        template_defaults())


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
    features = wired(features)
    defaults = template_defaults(features)
    names = Templates(config.templates, defaults).names()
    rulebook = Rulebook.load(config.rules.dir, config.rules.packs, names, config.rules.community)
    helplines = load_helplines(config.rules.helplines)
    semantic = SemanticStage.from_config(config.get(DETECTION_SECTION))
    migrations = feature_migrations(features)
    if store is None:
        store = await Store.open(config.database, migrations)
    else:
        await store.migrate(migrations)
    core = Haven(config, platform, store, RulesInForce(rulebook), helplines, clock, semantic,
                 defaults, config.get(MATRIX_SECTION).moderator_power_level)
    contexts = {spec.name: context(core, spec) for spec in features}
    built = build_features(core, features, contexts)
    core.install(built, command_registry(core, features, built, contexts))
    return core


def feature_migrations(specs: Sequence[FeatureSpec[Any, Any]] = FEATURES) -> tuple[Migration, ...]:
    """The owned migrations of every feature's repository (its ``MIGRATIONS``, or those of
    each repository in a bundle that lists them), each once."""
    found: dict[tuple[str, int], Migration] = {}
    for spec in specs:
        for m in getattr(spec.repository, "MIGRATIONS", ()):
            found.setdefault((m.owner, m.number), m)
    return tuple(found.values())


def command_registry(core: Haven, specs: Sequence[FeatureSpec[Any, Any]],
                     built: Mapping[str, Feature],
                     contexts: Mapping[str, FeatureContext[Any, Any]]) -> CommandRegistry:
    """Every feature's command group, in list order, behind one registry."""
    groups = [spec.commands(built[spec.name], contexts[spec.name])
              for spec in specs if spec.commands is not None]
    return CommandRegistry(groups, core.perms, core.platform, core.store.ledger, core.templates,
                           core.clock, core.command_hint)


def build_features(core: Haven, specs: Sequence[FeatureSpec[Any, Any]],
                   contexts: Mapping[str, FeatureContext[Any, Any]] | None = None
                   ) -> dict[str, Feature]:
    """Build each feature from its spec, siblings first; keyed by name, in list order."""
    built: dict[str, Feature] = {}
    by_name = {spec.name: spec for spec in specs}
    if len(by_name) != len(specs):
        raise ValueError("two features share a name")

    def build(spec: FeatureSpec[Any, Any], path: tuple[str, ...]) -> None:
        if spec.name in built:
            return
        for need in (*spec.needs, *(w for w in spec.wants if w in by_name)):
            if need in path:
                raise ValueError(f"features need each other: {' -> '.join((*path, need))}")
            if need not in by_name:
                raise ValueError(f"feature {spec.name} needs {need!r}, which is not listed")
            build(by_name[need], (*path, need))
        ctx = contexts[spec.name] if contexts is not None else context(core, spec)
        built[spec.name] = spec.build(ctx, Siblings(built))

    for spec in specs:
        build(spec, (spec.name,))
    return {spec.name: built[spec.name] for spec in specs}


def context(core: Haven, spec: FeatureSpec[Any, Any]) -> FeatureContext[Any, Any]:
    """The narrow context one feature receives."""
    database = core.store.database
    return FeatureContext(
        name=spec.name,
        config=core.config.get(spec.section) if isinstance(spec.section, Section) else None,
        core=core.config,
        repo=spec.repository(database) if spec.repository is not None else None,
        messenger=core.messenger, scheduler=core.scheduler, clock=core.clock,
        templates=core.templates, perms=core.perms, platform=core.platform, kv=core.store.kv,
        helplines=core.helplines, transaction=database.transaction, errors=core,
        hint=core.command_hint, rules=core.rules, detector=lambda: core.triage.semantic,
        commands=lambda: core.commands.specs if core.commands is not None else (),
        publish=core.submit,
    )


def command_specs(specs: Sequence[FeatureSpec[Any, Any]] = FEATURES) -> tuple[CommandSpec, ...]:
    """Every command, read statically from the features' command groups (list order)."""
    return tuple(c for spec in specs if spec.commands is not None
                 for c in specs_of(spec.commands))

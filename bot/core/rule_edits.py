"""Editing the community's own rule file: what the editor answers, and the editor as the
dashboard sees it (:class:`RuleEditor`; the ruleset feature implements it).

The dashboard may not import a feature, so the results it shows and the protocol it
calls live here, in the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from bot.core.errors import Problem
from bot.core.events import Member
from bot.rules.engine import Rulebook
from bot.rules.model import Rule
from bot.storage.repositories.rule_changes import RuleChange


@dataclass(frozen=True)
class Draft:
    """The community rule file as it is now: its text and SHA-256 (the editor sends the
    SHA back on save, so two people editing at once do not overwrite each other)."""

    text: str
    sha: str
    exists: bool


@dataclass(frozen=True)
class Checked:
    """A draft checked: its problems, then (when there are none) its failing examples."""

    problems: tuple[Problem, ...] = ()
    failures: tuple[str, ...] = ()
    examples: int = 0
    """How many examples the draft's rules have."""
    rules: tuple[Rule, ...] | None = None
    """The draft's rules, when everything validated (``None`` otherwise)."""
    packs: tuple[Rule, ...] = ()
    """The packs' rules it was checked with."""

    @property
    def ok(self) -> bool:
        """Valid and every example passes."""
        return not self.problems and not self.failures and self.rules is not None

    def rulebook(self) -> Rulebook:
        """The rules that would be in force: the packs', then the draft's (builds the
        matcher: slow for big packs, so call it from a worker thread)."""
        assert self.rules is not None
        return Rulebook([*self.packs, *self.rules])


@dataclass(frozen=True)
class Hit:
    """One rule that matched in a dry run, and why."""

    rule: str
    category: str
    severity: str
    description: str
    reason: str
    matched: str
    actions: tuple[str, ...]
    shadow: bool
    file: str
    line: int
    score: float | None = None
    """The semantic stage's score (``None`` for a rule from a file)."""

    @property
    def semantic(self) -> bool:
        """Whether the semantic stage, not a rule file, matched."""
        return self.score is not None


@dataclass(frozen=True)
class DryRun:
    """What a text would trigger (nothing is done)."""

    hits: tuple[Hit, ...] = ()
    problems: tuple[Problem, ...] = ()
    """A draft tried instead of the rules in force, that does not validate."""
    semantic: Literal["on", "off", "failed"] = "off"
    """Whether the semantic stage looked at the text."""
    draft: bool = False
    """Tried against a draft rather than the rules in force."""


SaveStatus = Literal["saved", "unchanged", "invalid", "examples_failed", "conflict",
                     "forbidden", "not_configured", "write_failed"]


@dataclass(frozen=True)
class Saved:
    """What :meth:`RulesEditor.save` did; ``message`` is the moderator-facing sentence."""

    status: SaveStatus
    message: str
    checked: Checked = field(default_factory=Checked)
    change_id: int | None = None
    case_id: int | None = None
    """The id of the ``rules_edit`` case (its number in the community is in ``message``)."""

    @property
    def ok(self) -> bool:
        """Saved, or nothing to save."""
        return self.status in ("saved", "unchanged")


@dataclass(frozen=True)
class Pack:
    """A rule file in force and its rules (in file order)."""

    name: str
    file: str
    rules: tuple[Rule, ...]
    community: bool = False
    """The community's own file (the one the editor edits)."""



@runtime_checkable
class RuleEditor(Protocol):
    """The community's rule file, checked, tried and saved (the ruleset feature's editor)."""

    @property
    def path(self) -> Path | None:
        """The community's rule file (``rules.community``), or ``None`` if not configured."""
        ...

    def read(self) -> Draft:
        """The file's text now ('' while it does not exist); raises ``OSError``."""
        ...

    def packs(self) -> list[Pack]:
        """The rule files in force, each with its rules in file order (community last)."""
        ...

    def validate(self, text: str) -> list[Problem]:
        """Every problem of the rules with ``text`` as the community file (``file:line``)."""
        ...

    def run_examples(self, text: str) -> Checked:
        """Validate ``text``, then run its rules' examples."""
        ...

    async def dry_run(self, message: str, draft: str | None = None) -> DryRun:
        """Which rules match ``message`` and why, and what the semantic stage adds."""
        ...

    async def save(self, text: str, actor: Member, community_id: str,
                   base: str | None = None) -> Saved:
        """Save ``text`` if ``actor`` is an admin, it validates and its examples pass."""
        ...

    async def history(self, community_id: str, limit: int = 20) -> list[RuleChange]:
        """The latest saved changes, newest first."""
        ...

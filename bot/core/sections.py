"""Config sections: a frozen dataclass per ``config.yaml`` section, read by its fields.

A feature or adapter owns its section: it declares a frozen dataclass and a
:class:`Section` next to it. The allowed keys and the conversion of each value come
from the dataclass fields and their type hints:

=====================  ==============================================================
``str``                text, not empty (``opt(template=True)``: any text, checked as a
                       message template)
``bool``               ``true`` or ``false``
``int``                a whole number (``opt(between=(lo, hi))`` bounds it)
``float``              a non-negative number, or a duration with ``opt(duration=True)``
                       (``positive=True``: longer than zero)
``tuple[str, ...]``    a list of names (one name alone is a list of one)
``tuple[int, ...]``    a list of whole numbers (``between`` bounds each)
``Path``               a file path, relative to the config file's folder
``Literal[...]``       one of the choices
``X | None``           X, or absent
=====================  ==============================================================

A field marked ``opt(manual=True)`` is read by the section's ``parse`` hook (for
settings with a shape of their own, like support places); ``hidden=True`` says it is
not a key of the file at all. Every problem is reported as ``file:line: key: message``,
unknown keys with a "did you mean" hint, and every problem of the file at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from bot.core.durations import parse_clock, parse_duration
from bot.core.errors import Problem
from bot.core.templates import validate_templates
from bot.core.yamlsrc import LineDict

C = TypeVar("C")
T = TypeVar("T")

SECRET_KEYS = {"token", "access_token", "password", "secret", "bot_token"}
SECRET_MESSAGE = ("secrets must not be stored in config files; use the HAVEN_DISCORD_TOKEN / "
                  "HAVEN_MATRIX_TOKEN / HAVEN_MATRIX_PASSWORD environment variables")


@dataclass(frozen=True)
class Opt:
    """How one field is read (see :func:`opt`)."""

    duration: bool = False
    positive: bool = False
    between: tuple[int, int] | None = None
    template: bool = False
    clock: bool = False
    items: str | None = None
    manual: bool = False
    hidden: bool = False


def opt(*, duration: bool = False, positive: bool = False, between: tuple[int, int] | None = None,
        template: bool = False, clock: bool = False, items: str | None = None,
        manual: bool = False, hidden: bool = False) -> dict[str, Opt]:
    """Field metadata saying how to read a setting, e.g.
    ``field(default=600.0, metadata=opt(duration=True, positive=True))``.

    ``duration``: a duration like ``10m`` (``positive``: longer than zero); ``between``:
    bounds of a whole number (or of each number of a list); ``template``: message text,
    checked for unknown placeholders; ``clock``: a time of day ``HH:MM`` (minutes after
    midnight); ``items``: what a list holds, for its error message; ``manual``: read by the
    section's ``parse`` hook; ``hidden``: not a key of the file (set by the hook).
    """
    return {"haven": Opt(duration, positive, between, template, clock, items, manual, hidden)}


def options(f: dataclasses.Field[Any]) -> Opt:
    """The :class:`Opt` of a dataclass field (the defaults when it has none)."""
    found = f.metadata.get("haven")
    return found if isinstance(found, Opt) else Opt()


# -- conversions ---------------------------------------------------------------------

Convert = Callable[[Any, Path], Any]
"""Turns a YAML value into a setting (given the config file's folder), or raises
ValueError/TypeError with the message shown to the admin."""


def as_text(value: Any) -> str:
    """Text (a number is taken as its digits), not empty."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def as_names(value: Any) -> tuple[str, ...]:
    """A list of names; one name alone is a list of one."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"expected a list of names, got {value!r}")
    return tuple(as_text(v) for v in value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _whole(between: tuple[int, int] | None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if between is not None and not between[0] <= value <= between[1]:
            raise ValueError(f"must be between {between[0]} and {between[1]}, got {value}")
        return value

    return convert


def _number(value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0):
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return float(value)


def positive_duration(value: Any) -> float:
    """A duration (``10m``, ``2h``) longer than zero, in seconds."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a template must be text")
    return value


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    """A conversion accepting exactly one of ``options``."""
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return str(value)

    return convert


def _path(value: Any, base_dir: Path) -> Path:
    path = Path(as_text(value))
    return path if path.is_absolute() else base_dir / path


def _numbers(item: Callable[[Any], int], noun: str) -> Callable[[Any], tuple[int, ...]]:
    def convert(value: Any) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {noun}")
        return tuple(item(v) for v in value)

    return convert


def _apply(convert: Convert, base_dir: Path, value: Any) -> Any:
    return convert(value, base_dir)


def _plain(convert: Callable[[Any], Any]) -> Convert:
    return lambda value, _base: convert(value)


def converter(hint: Any, o: Opt) -> Convert:
    """The conversion for a field of type ``hint`` read as ``o`` says; TypeError when the
    type has no derived reader (mark the field ``manual`` and parse it by hand)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return converter(rest[0], o)
    elif origin is Literal and all(isinstance(a, str) for a in args):
        return _plain(choice(args))
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if args[0] is str:
            return _plain(as_names)
        if args[0] is int:
            return _plain(_numbers(_whole(o.between), o.items or "whole numbers"))
    elif hint is str:
        return _plain(_template if o.template else as_text)
    elif hint is bool:
        return _plain(_bool)
    elif hint is int:
        return _plain(parse_clock if o.clock else _whole(o.between))
    elif hint is float:
        if o.duration:
            return _plain(positive_duration if o.positive else parse_duration)
        return _plain(_number)
    elif hint is Path:
        return _path
    raise TypeError(f"no derived reader for {hint!r}: mark the field opt(manual=True) "
                    "and read it in the section's parse hook")


@dataclass(frozen=True)
class FieldReader:
    """How one field of a section is read: its key, default and conversion."""

    name: str
    default: Any
    convert: Convert
    template: bool


@cache
def field_readers(cls: type) -> tuple[FieldReader, ...]:
    """The derived readers of ``cls``'s fields that are not read by hand."""
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        o = options(f)
        if o.manual or o.hidden:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{f.name} needs a default")
        out.append(FieldReader(f.name, default, converter(hints[f.name], o), o.template))
    return tuple(out)


@cache
def allowed_keys(cls: type) -> frozenset[str]:
    """The keys of the file that ``cls``'s fields stand for."""
    return frozenset(f.name for f in dataclasses.fields(cls) if not options(f).hidden)


# -- the section object ---------------------------------------------------------------


_KNOWN: dict[str, Section[Any]] = {}


@dataclass(frozen=True)
class Section(Generic[C]):
    """One top-level section of ``config.yaml``, owned by a feature, adapter or the core.

    ``type`` is a frozen dataclass with a default for every field. ``parse`` reads the
    section by hand (it gets a :class:`SectionReader`; default: every field derived).
    ``extra_keys`` are keys ``parse`` reads that are not fields. ``finish`` fills values
    that depend on other sections; ``check`` reports problems that compare settings
    (both get a :class:`Checks`, right after the section is read: they see the sections
    read before it).
    """

    key: str
    type: type[C]
    parse: Callable[[SectionReader], C] | None = None
    check: Callable[[C, Checks], list[Problem]] | None = None
    finish: Callable[[C, Checks], C] | None = None
    extra_keys: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not (dataclasses.is_dataclass(self.type) and self.type.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise TypeError(f"section {self.key!r}: {self.type!r} must be a frozen dataclass")
        if self.parse is None:
            field_readers(self.type)  # every field derivable, or fail now
        _KNOWN[self.key] = self

    def default(self) -> C:
        """The section's value when the config does not give it."""
        return self.type()

    @property
    def keys(self) -> frozenset[str]:
        """The keys allowed in the section."""
        cls: type = self.type
        return allowed_keys(cls) | self.extra_keys


def known_section(key: str) -> Section[Any] | None:
    """The section declared with ``key`` (a section registers itself when created), if any."""
    return _KNOWN.get(key)


# -- reading ------------------------------------------------------------------------


def key_name(key: Any) -> str:
    """A key as shown in a problem: itself when it is a plain name, else quoted (``''``,
    ``1``, ``true``) so an empty or odd key is still visible."""
    if isinstance(key, str) and key.strip() and key == key.strip():
        return key
    return repr(key)


def closest(word: str, options: set[str] | frozenset[str]) -> str | None:
    """The option ``word`` was probably meant to be, if one is close."""
    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None


def _empty(line: int) -> LineDict:
    empty = LineDict()
    empty.line = line
    empty.key_lines = {}
    return empty


class Reader:
    """Reads mappings of one config file, recording every problem with file and line."""

    def __init__(self, file: str, base_dir: Path, problems: list[Problem] | None = None) -> None:
        self.file = file
        self.base_dir = base_dir
        self.problems: list[Problem] = [] if problems is None else problems

    def problem(self, node: Any, key: Any, path: str, message: str, warning: bool = False) -> None:
        """Record a problem at ``key`` of ``node`` (or at ``node`` itself)."""
        line = node.line_of(key) if isinstance(node, LineDict) else getattr(node, "line", 0)
        self.problems.append(Problem(self.file, line, path, message, warning))

    def failed(self, *paths: str) -> bool:
        """Whether any of ``paths`` already has a problem (so checks that compare it
        with other settings would only repeat that problem in other words)."""
        return any(p.key in paths for p in self.problems if not p.warning)

    def mapping(self, parent: LineDict, key: str, allowed: set[str] | frozenset[str],
                path: str = "") -> LineDict:
        """The mapping at ``parent[key]`` with its unknown keys reported (an empty one
        when it is absent or not a mapping)."""
        value = parent.get(key)
        if value is None:
            return _empty(parent.line_of(key))
        if not isinstance(value, LineDict):
            self.problem(parent, key, f"{path}{key}", "must be a mapping of settings")
            return _empty(parent.line_of(key))
        self.unknown(value, allowed, f"{path}{key}")
        return value

    def unknown(self, node: LineDict, allowed: set[str] | frozenset[str], path: str) -> None:
        """Report secrets and unknown keys of ``node``, with a "did you mean" hint."""
        for key in node:
            shown = key_name(key)
            where = f"{path}.{shown}" if path else shown
            if key in SECRET_KEYS:
                self.problem(node, key, where, SECRET_MESSAGE)
            elif key not in allowed:
                hint = closest(str(key), allowed)
                self.problem(node, key, where,
                             "unknown key" + (f" (did you mean {hint!r}?)" if hint else ""))

    def get(self, node: LineDict, key: str, path: str, default: Any,
            convert: Callable[[Any], Any]) -> Any:
        """``convert(node[key])``, or ``default`` when it is absent, null or wrong (wrong
        is recorded as a problem)."""
        if key not in node or node[key] is None:
            return default
        try:
            return convert(node[key])
        except (ValueError, TypeError) as exc:
            self.problem(node, key, f"{path}.{key}" if path else key, str(exc))
            return default

    def fields(self, cls: type, node: LineDict, path: str) -> dict[str, Any]:
        """The derived value of each of ``cls``'s fields that is not read by hand."""
        values = {}
        for f in field_readers(cls):
            value = self.get(node, f.name, path, f.default, partial(_apply, f.convert, self.base_dir))
            if f.template and isinstance(value, str):
                for _, message in validate_templates({f.name: value}):
                    self.problem(node, f.name, f"{path}.{f.name}", message)
            values[f.name] = value
        return values

    def read(self, section: Section[C], root: LineDict) -> C:
        """Read ``section`` from the top-level mapping ``root``."""
        view = SectionReader(self, section, root)
        if section.parse is not None:
            return section.parse(view)
        return view.build()


class SectionReader:
    """What a section's ``parse`` hook gets: the section's node and the reader."""

    def __init__(self, reader: Reader, section: Section[Any], root: LineDict) -> None:
        self.reader = reader
        self.section = section
        self.root = root
        self.path = section.key
        self.raw: Any = root.get(section.key)
        """The section as written (None when absent), for hooks that check it themselves."""
        self._node: LineDict | None = None

    @property
    def base_dir(self) -> Path:
        """The config file's folder (relative paths are relative to it)."""
        return self.reader.base_dir

    @property
    def node(self) -> LineDict:
        """The section's mapping, its unknown keys reported (empty when absent)."""
        if self._node is None:
            self._node = self.reader.mapping(self.root, self.section.key, self.section.keys)
        return self._node

    def fields(self) -> dict[str, Any]:
        """The derived value of every field that is not read by hand."""
        return self.reader.fields(self.section.type, self.node, self.path)

    def build(self, **manual: Any) -> Any:
        """The section's dataclass from the derived fields and ``manual`` ones."""
        return self.section.type(**{**self.fields(), **manual})

    def problem(self, node: Any, key: Any, path: str, message: str) -> None:
        """Record a problem at ``key`` of ``node``."""
        self.reader.problem(node, key, path, message)

    def failed(self, *paths: str) -> bool:
        """Whether any of ``paths`` already has a problem."""
        return self.reader.failed(*paths)


class Checks:
    """What ``finish`` and ``check`` hooks see: the top-level settings and the sections
    read so far (the core's, then the others in the app's order, up to the hook's own),
    and where each key of the file is."""

    def __init__(self, reader: Reader, root: LineDict, values: dict[str, Any],
                 later: set[str] | None = None) -> None:
        self.reader = reader
        self.root = root
        self.values = values
        self.later: set[str] = set() if later is None else later
        """Keys of the sections not read yet."""

    def get(self, section: Section[T]) -> T:
        """The value of ``section`` (its defaults when the app has no such section)."""
        if section.key in self.later:
            raise LookupError(f"section {section.key!r} is read later: list it before the "
                              "section whose hook needs it")
        value = self.values.get(section.key)
        return value if isinstance(value, section.type) else section.default()

    def setting(self, key: str) -> Any:
        """A top-level setting such as ``platform``."""
        return self.values.get(key)

    def given(self, path: str) -> bool:
        """Whether the dotted ``path`` (``content_warnings.exempt``) is in the file."""
        node: Any = self.root
        for part in path.split("."):
            if not isinstance(node, LineDict) or part not in node:
                return False
            node = node[part]
        return True

    def raw(self, path: str) -> Any:
        """The value at the dotted ``path`` as written (None when absent)."""
        node: Any = self.root
        for part in path.split("."):
            if not isinstance(node, LineDict):
                return None
            node = node.get(part)
        return node

    def line(self, path: str) -> int:
        """The line of the dotted ``path``, or of the nearest mapping around it."""
        node: Any = self.root
        line = self.root.line
        for part in path.split("."):
            if not isinstance(node, LineDict):
                break
            line = node.line_of(part)
            if part not in node:
                break
            node = node[part]
        return line

    def failed(self, *paths: str) -> bool:
        """Whether any of ``paths`` already has a problem."""
        return self.reader.failed(*paths)

    def problem(self, path: str, message: str, at: str | None = None) -> Problem:
        """A problem of setting ``path``, located at ``at`` (default: ``path``) in the file."""
        return Problem(self.reader.file, self.line(at or path), path, message)

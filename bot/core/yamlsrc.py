"""Load YAML keeping line numbers, so errors can say ``file:line: key: message``.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both
remember the line of the node itself and of each key or item.

Plain scalars follow YAML 1.2 rather than PyYAML's YAML 1.1 defaults, so that
what an admin writes means what it looks like: only ``true``/``false`` are
booleans (``off``, ``no`` and the country code ``NO`` stay text), ``23:00`` is
text rather than the base-60 integer 1380, and a lone ``=`` is text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.core.errors import ConfigError, Problem


class LineDict(dict):
    """A dict that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        """Line of ``key`` (or of the mapping itself if the key is absent)."""
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A list that knows its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        """Line of item ``index``."""
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class _Loader(yaml.SafeLoader):
    """SafeLoader that records marks and rejects duplicate keys."""


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_VALUE_TAG = "tag:yaml.org,2002:value"
_REPLACED = {_BOOL_TAG, _INT_TAG, _FLOAT_TAG, _VALUE_TAG}

# Start from SafeLoader's resolvers minus the YAML 1.1 surprises, then add
# YAML 1.2-style booleans and numbers (no yes/no/on/off, no base-60 numbers).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""", re.X),
    list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a single value, not a list or mapping",
                key_node.start_mark) from None
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_text(text: str, filename: str) -> Any:
    """Parse YAML text; a syntax error becomes a :class:`ConfigError` with its line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.reader.ReaderError as exc:
        # a control character or the like: say which and where, not "<unicode string>"
        line = text[:max(0, exc.position)].count("\n") + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ConfigError([Problem(filename, line, "yaml",
                                   f"character U+{ord(char):04X} is not allowed in YAML "
                                   "(a control character?): remove it")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        msg = exc.problem or str(exc)
        raise ConfigError([Problem(filename, line, "yaml", msg)]) from None
    except yaml.YAMLError as exc:  # no position known: point at the start of the file
        raise ConfigError([Problem(filename, 1, "yaml", str(exc))]) from None


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file; unreadable files become a :class:`ConfigError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), 0, "file", exc.strerror or str(exc))]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(path), line, "file",
                                   f"not UTF-8 text: {exc.reason} at byte {exc.start}; "
                                   "save the file as UTF-8")]) from None
    return load_text(text, str(path))


def line_of(node: Any, key: Any = None, default: int = 0) -> int:
    """Line of ``node`` or of ``key``/index inside it, when known."""
    if isinstance(node, LineDict):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, LineList):
        return node.line_of(key) if isinstance(key, int) else node.line
    return default


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, false (not an exception) for names the OS refuses (too long, NUL)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def is_file(path: Path) -> bool:
    """``path.is_file()``, false for names the OS refuses."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False

"""The platform-neutral shape of a command, and a parser for text commands.

Features declare their commands with :func:`bot.core.commands.command`, which
produces these specs; adapters get the list from the core
(``core.services.commands``) and build their native commands from it (Discord slash
commands, with groups for two-word names like ``rules reload``) and use
:func:`parse_command_text` for text commands (Matrix ``!haven ...``). The
permission check itself happens in the core (:mod:`bot.core.commands`), never only in
a platform's UI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.errors import CommandError


@dataclass(frozen=True)
class Param:
    """One command parameter.

    ``kind`` is ``text`` (a word, or the rest of the line when ``rest``),
    ``member`` (a user id or mention), ``int``, or ``choice`` (one of ``choices``).
    """

    name: str
    kind: str = "text"
    description: str = ""
    required: bool = True
    rest: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandSpec:
    """A command: its (possibly two-word) name, help text, parameters and who may run it."""

    name: str
    description: str
    params: tuple[Param, ...] = ()
    moderator_only: bool = True

    @property
    def usage(self) -> str:
        """``name <required> [optional]`` for help texts."""
        parts = [self.name]
        for p in self.params:
            label = "|".join(p.choices) if p.choices else p.name
            parts.append(f"<{label}>" if p.required else f"[{label}]")
        return " ".join(parts)




def command_prefix(platform: str, matrix_prefix: str = "!haven") -> str:
    """What a member types before a command name on ``platform``.

    ``/`` on Discord (slash commands), ``!haven `` on Matrix (the configured
    prefix and a space), nothing in the console. Texts that name a command put
    this in front, so "use `!haven resources`" works as written on Matrix.
    """
    if platform == "discord":
        return "/"
    if platform == "matrix":
        return f"{matrix_prefix} "
    return ""


def find(name: str, specs: Sequence[CommandSpec]) -> CommandSpec | None:
    """The command called ``name`` (case-insensitive) among ``specs``, if any."""
    wanted = " ".join(name.lower().split())
    return next((c for c in specs if c.name == wanted), None)


def parse_command_text(text: str, specs: Sequence[CommandSpec]
                       ) -> tuple[CommandSpec, dict[str, str]]:
    """Parse ``rules test some words`` into its spec and options.

    Raises :class:`CommandError` with a usage hint when the command is unknown
    or a required argument is missing or malformed.
    """
    words = text.split()
    if not words:
        default = find("help", specs)
        if default is None:
            raise CommandError("Try `help`.")
        return default, {}
    spec = None
    used = 0
    if len(words) >= 2:
        spec = find(f"{words[0]} {words[1]}", specs)
        used = 2 if spec else 0
    if spec is None:
        spec = find(words[0], specs)
        used = 1
    if spec is None:
        group = [c.usage for c in specs if c.name.startswith(f"{words[0].lower()} ")]
        if group:
            raise CommandError(f"{words[0]} what? One of: " + "; ".join(group))
        raise CommandError(f"Unknown command {words[0]!r}. Try `help`.")
    rest = words[used:]
    options: dict[str, str] = {}
    for param in spec.params:
        if not rest:
            if param.required:
                raise CommandError(f"Missing {param.name}. Usage: {spec.usage}")
            break
        if param.rest:
            options[param.name] = " ".join(rest)
            rest = []
            break
        options[param.name] = rest.pop(0)
    if rest:
        raise CommandError(f"Too many arguments. Usage: {spec.usage}")
    validate_options(spec, options)
    return spec, options


def validate_options(spec: CommandSpec, options: dict[str, str]) -> None:
    """Check option types (ints, choices, required); raise :class:`CommandError` if wrong."""
    for param in spec.params:
        value = options.get(param.name)
        if value is None or value == "":
            if param.required:
                raise CommandError(f"Missing {param.name}. Usage: {spec.usage}")
            continue
        if param.kind == "int":
            try:
                n = int(value.lstrip("#"))
            except ValueError:
                raise CommandError(f"{param.name} must be a whole number, not {value!r}.") from None
            if n < 0:
                raise CommandError(f"{param.name} must not be negative.")
        elif param.kind == "choice" and value.lower() not in param.choices:
            raise CommandError(f"{param.name} must be one of: {', '.join(param.choices)}.")

"""Commands declared on methods, and the registry that runs them.

A feature declares its commands with :func:`command` on methods of a group
object; the method's signature *is* the command's parameter list::

    class Alerts:
        @command("claim", "Take an alert so others know you are on it")
        async def claim(self, inv: Invocation,
                        alert: Annotated[int, Arg("Alert number")]) -> CommandResult: ...

:func:`specs_of` turns a group into the neutral :class:`CommandSpec` list the
adapters build slash commands and ``!haven`` commands from, and
:class:`CommandRegistry` runs an invocation: once per delivery id, permission
checked in the core, options validated with today's messages, then bound to
typed values (``'#12'`` becomes ``12``, a member is resolved on the platform)
before the handler is called. Declaration mistakes raise :class:`TypeError`
when the module is imported, naming the function.
"""

from __future__ import annotations

import inspect
import logging
import re
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, NewType, TypeVar, Union

from bot.core import commandspec
from bot.core.commandspec import CommandSpec, Param
from bot.core.errors import CommandError, PermissionDenied, PlatformError
from bot.core.events import ButtonPressed, CommandInvoked, CommandResult, Member

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.core.permissions import Permissions
    from bot.core.ports import Platform
    from bot.core.templates import Templates
    from bot.storage.repositories.ledger import LedgerRepository

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Callable[..., Awaitable[CommandResult]])
B = TypeVar("B", bound=Callable[..., Awaitable[CommandResult]])

MemberQuery = NewType("MemberQuery", str)
"""A ``member`` parameter handed to the handler as typed, *not* resolved (``history``
reads the cases of someone who has left, by the id they were recorded under)."""

MEMBER_ID = re.compile(r"^<@!?([^>\s]+)>$")

_COMMAND_ATTR = "__haven_command__"
_BUTTON_ATTR = "__haven_button__"


@dataclass(frozen=True)
class Arg:
    """Extra facts about a command parameter, given with ``typing.Annotated``."""

    description: str = ""
    rest: bool = False
    """Takes the rest of the line (only for ``str``, only the last parameter)."""


@dataclass(frozen=True)
class Invocation:
    """What a handler learns about the command run, besides its typed parameters."""

    event: CommandInvoked
    community_id: str
    invoker: Member
    hint: Callable[..., str]
    """``hint("claim", "3")`` is ``/claim 3`` or ``!haven claim 3`` on this platform."""


@dataclass(frozen=True)
class _Bind:
    """How one option string becomes the value a handler receives."""

    name: str
    kind: str  # int | text | choice | member | member_query
    default: Any


@dataclass(frozen=True)
class _Declared:
    """What :func:`command` records on a handler."""

    spec: CommandSpec
    binds: tuple[_Bind, ...]


def not_found_text(query: str) -> str:
    """The refusal when a moderator names someone who is not a member here."""
    return (f"I can't find a member called {query.strip()!r} here. Use their mention, "
            "their id or their exact display name.")


def member_id(value: str) -> str:
    """A member option as an id: accepts ``<@123>``, ``123`` or ``@user:server``."""
    value = value.strip()
    m = MEMBER_ID.match(value)
    return m.group(1) if m else value


# -- declaring ----------------------------------------------------------------------------

_FALLBACK_NAMES: dict[str, object] = {
    "Invocation": Invocation, "Arg": Arg, "Member": Member, "MemberQuery": MemberQuery,
    "CommandResult": CommandResult, "ButtonPressed": ButtonPressed, "Annotated": Annotated,
    "Literal": Literal,
}
"""Names a handler's module may import only for type checking; hints still resolve."""


def _hints(where: str, fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved type hints of ``fn`` (with ``Annotated`` extras), or a clear TypeError."""
    localns = {**_FALLBACK_NAMES, **getattr(fn, "__globals__", {})}
    try:
        return typing.get_type_hints(fn, localns=localns, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{where}: cannot resolve its type hints ({exc})") from None


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(tp, False)``."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = typing.get_args(tp)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) != len(args):
            if len(rest) != 1:
                return tp, True  # X | Y | None: refused by the caller as unmappable
            return rest[0], True
    return tp, False


def _split(tp: Any) -> tuple[Any, Arg, bool]:
    """A parameter's hint as (bare type, its :class:`Arg`, optional?)."""
    arg = Arg()
    if typing.get_origin(tp) is Annotated:
        arg = next((a for a in tp.__metadata__ if isinstance(a, Arg)), arg)
        tp = typing.get_args(tp)[0]
    tp, optional = _unwrap_optional(tp)
    if typing.get_origin(tp) is Annotated:
        arg = next((a for a in tp.__metadata__ if isinstance(a, Arg)), arg)
        tp = typing.get_args(tp)[0]
    return tp, arg, optional


def _param(where: str, name: str, tp: Any, arg: Arg, required: bool) -> tuple[Param, str]:
    """The :class:`Param` for one parameter and its binding kind; TypeError if unmappable."""
    if arg.rest and tp is not str:
        raise TypeError(f"{where}: parameter {name!r}: rest=True needs str, not {tp!r}")
    if tp is int:
        return Param(name, "int", arg.description, required), "int"
    if tp is str:
        return Param(name, "text", arg.description, required, rest=arg.rest), "text"
    if tp is Member:
        return Param(name, "member", arg.description, required), "member"
    if tp is MemberQuery:
        return Param(name, "member", arg.description, required), "member_query"
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        if not choices or not all(isinstance(c, str) and c == c.lower() and c for c in choices):
            raise TypeError(f"{where}: parameter {name!r}: Literal choices must be "
                            f"non-empty lower-case strings, not {choices!r}")
        return Param(name, "choice", arg.description, required, choices=choices), "choice"
    raise TypeError(f"{where}: parameter {name!r} has a type a command cannot take: {tp!r} "
                    "(use int, str, Member, MemberQuery, Literal[...] or X | None)")


def _declare(fn: Callable[..., Any], name: str, description: str,
             moderator_only: bool) -> _Declared:
    """Read a handler's signature into its :class:`CommandSpec` and bindings."""
    where = f"command {name!r} ({fn.__qualname__})"
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{where}: a command handler must be `async def`")
    hints = _hints(where, fn)
    sig = list(inspect.signature(fn).parameters.values())
    if len(sig) < 2 or not (hints.get(sig[1].name) is Invocation
                            or (sig[1].name == "inv" and sig[1].name not in hints)):
        raise TypeError(f"{where}: the handler must take (self, inv: Invocation, ...)")
    params: list[Param] = []
    binds: list[_Bind] = []
    for p in sig[2:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise TypeError(f"{where}: parameter {p.name!r}: *args, **kwargs and positional-only "
                            "parameters cannot be command options")
        if p.name not in hints:
            raise TypeError(f"{where}: parameter {p.name!r} needs a type hint")
        tp, arg, optional = _split(hints[p.name])
        has_default = p.default is not p.empty
        required = not (optional or has_default)
        if params and params[-1].rest:
            raise TypeError(f"{where}: parameter {p.name!r} comes after the rest-of-line "
                            f"parameter {params[-1].name!r}")
        if required and params and not params[-1].required:
            raise TypeError(f"{where}: required parameter {p.name!r} after an optional one")
        param, kind = _param(where, p.name, tp, arg, required)
        params.append(param)
        binds.append(_Bind(p.name, kind, p.default if has_default else None))
    spec = CommandSpec(" ".join(name.lower().split()), description, tuple(params),
                       moderator_only=moderator_only)
    return _Declared(spec, tuple(binds))


def command(name: str, description: str, *, moderator_only: bool = True) -> Callable[[H], H]:
    """Declare a command on a method ``async def f(self, inv: Invocation, <params>)``.

    Parameters come from the signature after ``(self, inv)``, in order, with
    ``typing.Annotated[..., Arg(...)]`` for a description or ``rest=True``:
    ``int`` is an ``int`` option (``#12`` accepted, negatives refused), ``str`` is
    ``text``, ``Member`` is ``member`` (resolved on the platform before the handler
    runs), ``MemberQuery`` is ``member`` handed over unresolved, ``Literal["a", "b"]``
    is a ``choice``, and ``X | None = None`` (or any default) makes it optional.
    Two-word names (``rules reload``) are fine. A parameter the decorator cannot
    map, or a missing ``inv``, raises :class:`TypeError` naming the function.
    """
    def decorate(fn: H) -> H:
        setattr(fn, _COMMAND_ATTR, _declare(fn, name, description, moderator_only))
        return fn
    return decorate


def button(action: str) -> Callable[[B], B]:
    """Declare the handler ``async def f(self, ev: ButtonPressed) -> CommandResult`` of
    the alert button ``action`` (``claim``, ``resolve``)."""
    def decorate(fn: B) -> B:
        _check_button(fn, action)
        setattr(fn, _BUTTON_ATTR, action)
        return fn
    return decorate


def _check_button(fn: Callable[..., Any], action: str) -> None:
    """TypeError unless ``fn`` is ``async def f(self, ev)``."""
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"button {action!r} ({fn.__qualname__}): must be `async def`")
    if len(inspect.signature(fn).parameters) != 2:
        raise TypeError(f"button {action!r} ({fn.__qualname__}): the handler must take "
                        "(self, ev: ButtonPressed)")


def _declared(group: type | object) -> list[tuple[str, _Declared]]:
    """(attribute name, declaration) of a group's commands, in declaration order."""
    cls = group if isinstance(group, type) else type(group)
    found: dict[str, _Declared | None] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            decl = getattr(value, _COMMAND_ATTR, None)
            found[attr] = decl if isinstance(decl, _Declared) else None
    return [(attr, decl) for attr, decl in found.items() if decl is not None]


def _buttons(group: object) -> list[tuple[str, str]]:
    """(attribute name, action) of a group's button handlers."""
    cls = group if isinstance(group, type) else type(group)
    found: dict[str, str | None] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            action = getattr(value, _BUTTON_ATTR, None)
            found[attr] = action if isinstance(action, str) else None
    return [(attr, action) for attr, action in found.items() if action is not None]


def specs_of(group: type | object) -> tuple[CommandSpec, ...]:
    """The commands a group (class or instance) declares, in declaration order."""
    return tuple(decl.spec for _, decl in _declared(group))


# -- running ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    """A command ready to run: its declaration and the bound handler."""

    decl: _Declared
    handler: Callable[..., Awaitable[CommandResult]]
    group: str


class CommandRegistry:
    """Runs the commands and button handlers declared on ``groups``.

    Once per delivery id, permission checked in the core, options validated and
    bound to typed values; a :class:`CommandError` from anywhere becomes a refusal.
    """

    def __init__(self, groups: Sequence[object], perms: Permissions, platform: Platform,
                 ledger: LedgerRepository, templates: Templates, clock: Clock,
                 hint: Callable[..., str]) -> None:
        self.perms = perms
        self.platform = platform
        self.ledger = ledger
        self.templates = templates
        self.clock = clock
        self.hint = hint
        self._commands: dict[str, _Entry] = {}
        self._buttons: dict[str, tuple[Callable[[ButtonPressed], Awaitable[CommandResult]],
                                       str]] = {}
        for group in groups:
            self._add(group)
        self.specs: tuple[CommandSpec, ...] = tuple(e.decl.spec for e in self._commands.values())

    def _add(self, group: object) -> None:
        """Register one group's commands and buttons; a name taken twice is a ValueError."""
        owner = type(group).__qualname__
        for attr, decl in _declared(group):
            name = decl.spec.name
            if name in self._commands:
                raise ValueError(f"command {name!r} is declared twice: by "
                                 f"{self._commands[name].group} and by {owner}")
            self._commands[name] = _Entry(decl, getattr(group, attr), owner)
        for attr, action in _buttons(group):
            if action in self._buttons:
                raise ValueError(f"button {action!r} is handled twice: by "
                                 f"{self._buttons[action][1]} and by {owner}")
            self._buttons[action] = (getattr(group, attr), owner)

    def find(self, name: str) -> CommandSpec | None:
        """The spec of command ``name`` (case-insensitive), if registered."""
        entry = self._commands.get(" ".join(name.lower().split()))
        return entry.decl.spec if entry else None

    async def run(self, ev: CommandInvoked) -> CommandResult:
        """Run a command once per delivery id; refusals come back as ``ok=False``."""
        return await self._once(ev, lambda: self._run(ev))

    async def button(self, ev: ButtonPressed) -> CommandResult:
        """Run an alert button once per delivery id; moderators only."""
        return await self._once(ev, lambda: self._press(ev))

    async def _once(self, ev: CommandInvoked | ButtonPressed,
                    act: Callable[[], Awaitable[CommandResult]]) -> CommandResult:
        """Act once per delivery id, however often the platform delivers it."""
        delivery = ev.delivery_id
        if delivery:
            earlier = await self.ledger.begin_delivery(ev.community_id, delivery,
                                                       self.clock.now())
            if earlier is not None:
                log.info("%s delivery %s arrived again (first one %s); not acting again",
                         type(ev).__name__, delivery, earlier)
                return CommandResult(self.templates.render("already_done"))
        try:
            return await act()
        except CommandError as exc:
            return CommandResult(str(exc), ok=False)
        finally:
            if delivery:
                await self.ledger.finish_delivery(ev.community_id, delivery)

    def _prefix(self) -> str:
        """What goes before a command name on this platform (``/``, ``!haven ``)."""
        return commandspec.command_prefix(self.platform.name, self.platform.command_prefix)

    async def _run(self, ev: CommandInvoked) -> CommandResult:
        """Check permission and options, bind them, call the handler."""
        entry = self._commands.get(" ".join(ev.name.lower().split()))
        if entry is None:
            raise CommandError(f"Unknown command {ev.name!r}. Try `{self._prefix()}help`.")
        spec = entry.decl.spec
        if spec.moderator_only and not self.perms.is_moderator(ev.invoker):
            log.info("refused %s for non-moderator %s", spec.name, ev.invoker.id)
            raise PermissionDenied(f"`{spec.name}` is for moderators only.")
        options = {k: v for k, v in ev.options.items() if v is not None}
        commandspec.validate_options(spec, options)
        values = {b.name: await self._bind(ev, b, options.get(b.name))
                  for b in entry.decl.binds}
        inv = Invocation(ev, ev.community_id, ev.invoker, self.hint)
        return await entry.handler(inv, **values)

    async def _bind(self, ev: CommandInvoked, bind: _Bind, value: str | None) -> Any:
        """One validated option string as the typed value its handler declared."""
        if value is None or value == "":
            return bind.default
        if bind.kind == "int":
            return int(value.lstrip("#"))
        if bind.kind == "choice":
            return value.lower()
        if bind.kind == "member":
            found = await self._lookup(ev, value)
            if found is None:
                raise CommandError(not_found_text(value))
            return found
        if bind.kind == "member_query":
            return MemberQuery(value)
        return value

    async def _lookup(self, ev: CommandInvoked, query: str) -> Member | None:
        """``platform.resolve_member``; a platform failure is a clear refusal, not a crash."""
        try:
            return await self.platform.resolve_member(ev.community_id, query)
        except PlatformError as exc:
            log.warning("member lookup for %s failed: %s", ev.name, exc)
            raise CommandError("I couldn't look up members on the platform just now; nothing "
                               "was done. Please try again in a moment.") from None

    async def _press(self, ev: ButtonPressed) -> CommandResult:
        """Route a button to its handler, moderators only."""
        if not self.perms.is_moderator(ev.member):
            log.info("refused button %s for non-moderator %s", ev.action, ev.member.id)
            return CommandResult("Only moderators can claim or resolve alerts.", ok=False)
        handler = self._buttons.get(ev.action)
        if handler is None:
            return CommandResult(f"Unknown action {ev.action!r}.", ok=False)
        return await handler[0](ev)

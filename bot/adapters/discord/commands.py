"""Slash commands built from the platform-neutral command specs the core hands over
(:attr:`bot.core.ports.AdapterServices.commands`).

Every command becomes an ``app_commands.Command`` (two-word names such as
``rules reload`` become subcommands of a ``rules`` group). Moderator-only
commands get ``default_member_permissions`` (Manage Messages) so the Discord UI
hides them from members, but that is only a convenience: the invocation is
always passed to the core, which does the real permission check.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.core.commandspec import CommandSpec, Param

CommandHandler = Callable[[discord.Interaction[Any], CommandSpec, dict[str, str]], Awaitable[None]]
"""Called as ``handler(interaction, spec, options)`` with every option as a string."""

MemberSeen = Callable[[int, discord.abc.User], None]
"""Called as ``seen(guild_id, user)`` for every member a ``member`` option resolved to."""

MODERATOR_PERMISSIONS = discord.Permissions(manage_messages=True)
"""Default member permissions of moderator-only commands (admins can change them per server)."""

GUILD_ONLY = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)
"""Haven's commands only make sense inside a server."""

_GROUP_DESCRIPTIONS = {"rules": "Haven's rule packs"}

_ANNOTATIONS: dict[str, Any] = {
    "text": str,
    "choice": str,
    "int": app_commands.Range[int, 0, None],
    "member": discord.User,
}


def _option_value(param: Param, value: Any) -> str:
    """Turn a transformed option into the string the core expects."""
    if param.kind == "member" and isinstance(value, discord.abc.Snowflake):
        return str(value.id)
    if isinstance(value, app_commands.Choice):
        return str(value.value)
    return str(value)


def _make_callback(spec: CommandSpec, handler: CommandHandler,
                   member_seen: MemberSeen | None = None) -> Callable[..., Awaitable[None]]:
    """A coroutine function whose signature discord.py reads to build the options."""
    params_by_name = {p.name: p for p in spec.params}

    async def callback(interaction: discord.Interaction[Any], **kwargs: Any) -> None:
        if member_seen is not None and interaction.guild_id is not None:
            for name, value in kwargs.items():
                param = params_by_name.get(name)
                if param is not None and param.kind == "member" and isinstance(value, discord.abc.User):
                    member_seen(interaction.guild_id, value)
        options = {
            name: _option_value(params_by_name[name], value)
            for name, value in kwargs.items()
            if value is not None and name in params_by_name
        }
        await handler(interaction, spec, options)

    parameters = [
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=discord.Interaction)
    ]
    for p in spec.params:
        annotation = _ANNOTATIONS.get(p.kind, str)
        if not p.required:
            annotation = annotation | None
        parameters.append(
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation,
                default=inspect.Parameter.empty if p.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__name__ = "haven_" + spec.name.replace(" ", "_")
    callback.__qualname__ = callback.__name__
    callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
        p.name: (p.description or p.name)[:100] for p in spec.params
    }
    choices = {
        p.name: [app_commands.Choice(name=c, value=c) for c in p.choices]
        for p in spec.params
        if p.choices
    }
    if choices:
        callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
    return callback


def build_commands(
    handler: CommandHandler, specs: tuple[CommandSpec, ...],
    member_seen: MemberSeen | None = None,
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """Top-level slash commands and groups for ``specs``.

    ``member_seen`` is told about every member a ``member`` option resolved to
    (the interaction carries them with nickname and roles).
    """
    top: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    groups: dict[str, app_commands.Group] = {}
    for spec in specs:
        words = spec.name.split()
        command: app_commands.Command[Any, ..., Any] = app_commands.Command(
            name=words[-1],
            description=spec.description[:100],
            # The callback's signature (its options) is built at run time from the spec.
            callback=_make_callback(spec, handler, member_seen),  # type: ignore[arg-type]
            extras={"haven_spec": spec.name},
        )
        if len(words) == 1:
            command.guild_only = True
            command.allowed_contexts = GUILD_ONLY
            if spec.moderator_only:
                command.default_permissions = MODERATOR_PERMISSIONS
            top.append(command)
            continue
        if len(words) != 2:
            raise ValueError(f"command names have one or two words, not {spec.name!r}")
        group = groups.get(words[0])
        if group is None:
            group = app_commands.Group(
                name=words[0],
                description=_GROUP_DESCRIPTIONS.get(words[0], f"Haven {words[0]} commands"),
                guild_only=True,
                allowed_contexts=GUILD_ONLY,
                default_permissions=MODERATOR_PERMISSIONS if spec.moderator_only else None,
            )
            groups[words[0]] = group
            top.append(group)
        elif not spec.moderator_only:
            # A group is only hidden when every subcommand is moderator-only.
            group.default_permissions = None
        group.add_command(command)
    return top


def install_commands(tree: app_commands.CommandTree[Any], handler: CommandHandler,
                     specs: tuple[CommandSpec, ...], member_seen: MemberSeen | None = None) -> None:
    """Add a slash command for each of ``specs`` to ``tree`` (global commands)."""
    for command in build_commands(handler, specs, member_seen):
        tree.add_command(command, override=True)


def commands_fingerprint(tree: app_commands.CommandTree[Any]) -> str:
    """A hash of the commands' JSON, to sync with Discord only when they changed."""
    payload = [c.to_dict(tree) for c in tree.get_commands()]
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]

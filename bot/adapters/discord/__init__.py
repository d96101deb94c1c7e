"""The Discord adapter, split by job.

:mod:`~bot.adapters.discord.adapter` holds :class:`DiscordAdapter`, a thin facade over
the parts: :mod:`state` (client, caches, resolving channels and roles),
:mod:`outbound` (the Platform verbs), :mod:`members`, :mod:`inbound` and
:mod:`reader` (gateway events in), :mod:`catchup`, :mod:`interactions` (slash
commands and buttons, built by :mod:`commands` and :mod:`views`), :mod:`checks`
(private moderators' channel, ``haven check --online``), :mod:`render` (text),
:mod:`invite` (intents, permissions, invite URL), :mod:`errors` and :mod:`env`.
"""

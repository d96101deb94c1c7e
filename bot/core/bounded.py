"""Every platform call the core makes is bounded in time.

A platform library may retry a failing call for a long time (discord.py: about
25 s of back-off). Inside the core that would hold up everything behind it, so
the core talks to the platform through :class:`BoundedPlatform`: each verb
that waits on the network gets at most :data:`PLATFORM_TIMEOUT` seconds, and
then fails with :class:`PlatformTimeout`, an ordinary platform error that the
features already handle (durable jobs such as alerts are retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from bot.core.errors import PlatformError
from bot.core.events import Outgoing

log = logging.getLogger(__name__)

PLATFORM_TIMEOUT = 10.0
"""Seconds one platform call may take before the core gives up on it (configurable: set
``BoundedPlatform.limit``, or this constant before the core is built)."""

BOUNDED_VERBS = frozenset({
    "send", "reply", "send_private", "edit", "hide", "timeout", "repost",
    "tag_post", "resolve_member", "role_member_ids", "set_slow_mode", "lift_timeout",
})
"""The network-bound verbs of :class:`bot.core.ports.Platform`."""

ACTING_VERBS = BOUNDED_VERBS - {"resolve_member", "role_member_ids"}
"""The verbs that change something on the platform: what was stored is made durable first."""


KEYED_VERBS = frozenset({"send", "reply", "send_private", "repost"})
"""Verbs whose message gets a dedupe key inside a :func:`delivery` context."""

_delivery: ContextVar[tuple[str, dict[str, int]] | None] = ContextVar("haven_delivery",
                                                                      default=None)


@contextlib.contextmanager
def delivery(key: str) -> Iterator[None]:
    """Within this block, messages sent get stable dedupe keys (``key:verb:n``).

    Used around durable work (a job, an outbox delivery): when the work is repeated
    after a crash, its sends carry the same keys, so a platform that honours them
    (Matrix transaction ids, Discord nonces) shows each message once.
    """
    token = _delivery.set((key, {}))
    try:
        yield
    finally:
        _delivery.reset(token)


def _keyed(verb: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...],
                                                                            dict[str, Any]]:
    context = _delivery.get()
    if context is None or verb not in KEYED_VERBS:
        return args, kwargs
    prefix, counts = context
    n = counts.get(verb, 0)
    counts[verb] = n + 1
    key = f"{prefix}:{verb}:{n}"
    if isinstance(kwargs.get("msg"), Outgoing) and kwargs["msg"].dedupe_key is None:
        return args, {**kwargs, "msg": dataclasses.replace(kwargs["msg"], dedupe_key=key)}
    if args and isinstance(args[-1], Outgoing) and args[-1].dedupe_key is None:
        return (*args[:-1], dataclasses.replace(args[-1], dedupe_key=key)), kwargs
    return args, kwargs


class PlatformTimeout(PlatformError):
    """A platform call took longer than the core allows."""


class BoundedPlatform:
    """A proxy around a platform: the network verbs time out, everything else passes through.

    Attributes and plain methods (``user_mention``, ``supports_buttons``, a fake
    platform's recorded ``calls``) are read from the wrapped platform.
    """

    def __init__(self, platform: Any, timeout: float | None = None,
                 before: Callable[[], Awaitable[None]] | None = None) -> None:
        object.__setattr__(self, "wrapped", platform)
        object.__setattr__(self, "limit", PLATFORM_TIMEOUT if timeout is None else timeout)
        object.__setattr__(self, "on_error", None)
        """Told of each failed call: (verb, error type name, retry_after or None)."""
        object.__setattr__(self, "before", before)
        """Awaited before every acting verb (the core: make what was stored durable)."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.wrapped, name)
        if name in BOUNDED_VERBS and callable(value):
            return self._bounded(name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in {"limit", "on_error", "before"}:
            object.__setattr__(self, name, value)
        else:
            setattr(self.wrapped, name, value)

    def _bounded(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        before = self.before if name in ACTING_VERBS else None

        async def call(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = _keyed(name, args, kwargs)
            if before is not None:
                await before()  # store first, then act: on disk, not only in the cache
            try:
                return await asyncio.wait_for(fn(*args, **kwargs), self.limit)
            except TimeoutError:
                log.warning("platform error: %s gave no answer within %.1fs; giving up on it",
                            name, self.limit)
                self._tell(name, "PlatformTimeout", None)
                raise PlatformTimeout(f"{name} timed out after {self.limit:.1f}s") from None
            except PlatformError as exc:
                self._tell(name, type(exc).__name__, getattr(exc, "retry_after", None))
                raise

        call.__name__ = name
        return call


    def _tell(self, verb: str, error: str, retry_after: float | None) -> None:
        on_error = object.__getattribute__(self, "on_error")
        if on_error is not None:
            on_error(verb, error, retry_after)


def unwrap(platform: Any) -> Any:
    """The platform inside a :class:`BoundedPlatform` (or the platform itself)."""
    return platform.wrapped if isinstance(platform, BoundedPlatform) else platform

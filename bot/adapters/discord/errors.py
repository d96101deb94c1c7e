"""discord.py's exceptions as :mod:`bot.core.errors`, and error reports that quote no text."""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import AsyncIterator

import aiohttp
import discord

from bot.core.errors import (
    HavenError,
    MissingPermission,
    NotFound,
    PlatformError,
    PrivateMessagesClosed,
    RateLimited,
)


@contextlib.asynccontextmanager
async def platform_errors(permission: str, where: str = "") -> AsyncIterator[None]:
    """Translate discord.py / aiohttp exceptions into :mod:`bot.core.errors`.

    ``permission`` names what a 403 most likely means for this call.
    """
    try:
        yield
    except HavenError:
        raise
    except discord.Forbidden as exc:
        if exc.code == 50007:
            raise PrivateMessagesClosed(f"private messages closed ({exc.text})") from exc
        if exc.code == 50001:
            raise MissingPermission("view_channel", where) from exc
        raise MissingPermission(permission, where) from exc
    except discord.NotFound as exc:
        raise NotFound(f"not found ({exc.code}: {exc.text})" + (f" in {where}" if where else "")) from exc
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            retry = _retry_after(exc)
            raise RateLimited(retry) from exc
        err = PlatformError(f"Discord answered {exc.status} ({exc.code}): {exc.text}")
        if 400 <= exc.status < 500:
            err.retryable = False
        raise err from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise PlatformError(f"connection problem: {exc!r}") from exc


def _retry_after(exc: discord.HTTPException) -> float:
    try:
        return float(exc.response.headers.get("Retry-After", 5.0))
    except (AttributeError, TypeError, ValueError):
        return 5.0


def error_place(exc: BaseException) -> str:
    """``file:line in function`` of the innermost frame of ``exc`` (no message: it may quote text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}"


def traceback_without_message(exc: BaseException) -> str:
    """The frames of ``exc``'s traceback (file, line, code) without the exception's message,
    which may quote the payload (member text)."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()

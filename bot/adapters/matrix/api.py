"""Calling the homeserver: nio's error responses to Haven's errors, short rate limits honoured.

nio is configured with ``max_limit_exceeded=0`` so ``M_LIMIT_EXCEEDED`` comes
back to us: short waits (``retry_after_ms``) are honoured here a few times with
the same transaction id (no duplicates), longer ones raise
:class:`~bot.core.errors.RateLimited` for the core to reschedule.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from nio import AsyncClient, ErrorResponse, UploadResponse
from nio.exceptions import LocalProtocolError

from bot.core.errors import MissingPermission, NotFound, PlatformError, RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")


def translate_error(resp: ErrorResponse, action: str, where: str = "") -> PlatformError:
    """Haven's exception for a nio ``*Error`` response."""
    code = resp.status_code or ""
    if code == "M_LIMIT_EXCEEDED" or code == 429:
        return RateLimited((resp.retry_after_ms or 1000) / 1000.0, f"{action} rate limited")
    if code == "M_FORBIDDEN":
        return MissingPermission(action, where)
    if code == "M_NOT_FOUND":
        return NotFound(f"{action}: not found" + (f" ({where})" if where else ""))
    error = PlatformError(f"{action} failed: {code} {resp.message}".strip())
    if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_BAD_JSON", "M_NOT_JSON",
                "M_INVALID_PARAM", "M_TOO_LARGE", "M_UNRECOGNIZED"):
        error.retryable = False
    return error


class LoginFailed(PlatformError):
    """The homeserver refused Haven's secret (wrong password, unknown token)."""

    retryable = False


def login_failed(user_id: str, secret: str, resp: Any) -> LoginFailed:
    """A clear login error from a nio error response: which secret, and the server's reason."""
    code = getattr(resp, "status_code", None) or ""
    reason = getattr(resp, "message", None) or "no reason given"
    if code in ("M_LIMIT_EXCEEDED", 429):
        reason += " (too many attempts; wait and try again)"
    return LoginFailed(f"Matrix login failed for {user_id} with {secret}: the homeserver said "
                       f"{code} {reason}".replace("  ", " "))


class Api:
    """nio calls with Haven's error translation and short rate-limit retries."""

    def __init__(self, client: AsyncClient, max_rate_retries: int = 3,
                 max_rate_wait: float = 10.0) -> None:
        self.client = client
        self.max_rate_retries = max_rate_retries
        self.max_rate_wait = max_rate_wait

    async def call(self, action: str, where: str, fn: Callable[..., Awaitable[T]],
                   *args: Any, **kwargs: Any) -> T:
        """Call a nio method; honour short rate limits, translate errors to Haven's."""
        attempts = 0
        while True:
            try:
                resp = await fn(*args, **kwargs)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise PlatformError(f"{action}: network error: {exc!r}") from exc
            except LocalProtocolError as exc:
                raise PlatformError(f"{action}: {exc}") from exc
            if isinstance(resp, ErrorResponse):
                error = translate_error(resp, action, where)
                if isinstance(error, RateLimited):
                    attempts += 1
                    if attempts <= self.max_rate_retries and error.retry_after <= self.max_rate_wait:
                        log.info("rate limited while %s; retrying in %.1fs", action,
                                 error.retry_after)
                        await asyncio.sleep(error.retry_after)
                        continue
                raise error
            return resp


async def upload_call(client: AsyncClient, provider: Callable[[int, int], io.BytesIO],
                      content_type: str, filename: str, encrypt: bool,
                      size: int) -> Any:
    """``client.upload`` returns a tuple; give :meth:`Api.call` the response first."""
    resp, keys = await client.upload(provider, content_type=content_type, filename=filename,
                                     encrypt=encrypt, filesize=size)
    if isinstance(resp, ErrorResponse):
        return resp
    assert isinstance(resp, UploadResponse)
    return resp, keys

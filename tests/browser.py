"""Real-browser testing: Debian's headless Chromium driven by Playwright.

Playwright's PyPI wheel bundles its own driver; the browser is the distribution's
``/usr/bin/chromium`` (``make test`` installs it with apt-get when it is missing).
Nothing is downloaded: ``playwright install`` is never run, and Chromium starts
with background networking, component updates and sync switched off, on a fresh
profile per browser.

Use the ``browser`` fixture (re-exported by ``tests/conftest.py``) and
:func:`new_page` / :func:`screenshots`::

    async def test_x(browser):
        page = await new_page(browser)
        await page.goto(url)
        await screenshots(page, "alerts")   # alerts-phone.png, alerts-desktop.png

Where Chromium or Playwright is missing the browser tests are skipped with the
reason, except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path(os.environ.get("HAVEN_CHROMIUM", "/usr/bin/chromium"))
"""The browser binary: Debian's package, or ``HAVEN_CHROMIUM``."""

CHROMIUM_ARGS = (
    "--no-sandbox",            # tests run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)
"""Headless, offline and quiet: nothing fetched from anywhere but the test server."""

PHONE = {"width": 390, "height": 844}
"""A phone's viewport (an iPhone 12-15 sized screen)."""
DESKTOP = {"width": 1280, "height": 900}
"""A laptop's viewport."""

SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
"""Where screenshots go (gitignored test artefacts)."""

LAUNCH_TIMEOUT_MS = 30_000
"""How long Chromium may take to start on a busy machine."""


def missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        return (f"no Chromium at {CHROMIUM} (apt-get install chromium"
                + (f"; or set HAVEN_CHROMIUM={found}" if found else "") + ")")
    return None


def require_browser() -> None:
    """Skip the calling test when there is no browser; fail instead under CI."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium on a fresh profile, closed after the test."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS),
            timeout=LAUNCH_TIMEOUT_MS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Browser, viewport: dict[str, int] | None = None,
                   **options: Any) -> Page:
    """A page in a new browser context (own cookies), desktop-sized by default.

    Console errors and failed page scripts are collected on ``page.errors`` so a
    test can assert that a page runs cleanly.
    """
    context = await browser.new_context(viewport=viewport or DESKTOP, **options)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.request.method} {r.url}")
            if r.status >= 400 else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def screenshots(page: Page, name: str) -> list[Path]:
    """Full-page screenshots of ``page`` at phone and desktop width.

    Saved as ``tests/artifacts/screenshots/<name>-phone.png`` and
    ``<name>-desktop.png``; the page's viewport is restored afterwards.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    paths = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        path = SCREENSHOTS / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    if before:
        await page.set_viewport_size(before)
    return paths


async def overflows_horizontally(page: Page) -> bool:
    """Whether the page is wider than its viewport (a phone would scroll sideways)."""
    return bool(await page.evaluate(
        "() => document.documentElement.scrollWidth > window.innerWidth + 1"))

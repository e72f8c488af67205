"""Headless Debian Chromium through Playwright (never Playwright's own browser download),
and the screenshots the browser tests take.

Screenshots go to `test-results/screenshots/` (ignored by git), so a test run never changes
tracked files. `make screenshots` runs the browser tests with `SCREENSHOTS_DIR=docs/screenshots`
to refresh the README's pictures on purpose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# This machine has no network: without the background-networking flags Chromium keeps
# trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def screenshots_dir() -> Path:
    """Return where screenshots go: SCREENSHOTS_DIR (relative to the checkout), else test-results/."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or "test-results/screenshots")
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, name: str, **options) -> Path:
    """Save a screenshot of page as <name>.png (options as Playwright's page.screenshot)."""
    path = screenshots_dir() / f"{name}.png"
    page.screenshot(path=str(path), **options)
    return path


@contextmanager
def chromium() -> Iterator:
    """Yield a launched Chromium browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

"""Headless Debian Chromium through Playwright (never Playwright's own browser download)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator:
    """Yield a launched Chromium browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def notebook_open(page, name: str, *, timeout: float = 60_000) -> None:
    """Wait until JupyterLab shows notebook name as the current tab, with its cells rendered."""
    page.wait_for_selector(f".lm-TabBar-tab.jp-mod-current:has-text('{name}')", timeout=timeout)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=timeout)

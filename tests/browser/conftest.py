"""Headless Chromium (Debian's) driven by Playwright, as a person would use the portal."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS

# Playwright's sync API runs an event loop in this thread; the ORM calls in tests are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Launch Debian's Chromium per module (never a downloaded browser).

    Module scope: Playwright's sync API allows one running instance per thread, and the hub's
    browser tests start their own.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    """Open a fresh browser context (no cookies) and page, like a new visitor."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()

"""Headless Chromium (Debian's) driven by Playwright, as a person would use the portal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.samples import SAMPLES_DIR, sample_repo_build
from catalog.sync import catalog_sync
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


# The sizes the public pages are checked at: a laptop screen, and a phone (iPhone 12 to 15).
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 860}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture
def new_page(browser) -> Iterator:
    """Yield a factory of fresh visitor pages (own context, no cookies) at a named viewport."""
    contexts = []

    def open_page(viewport: str = "desktop", **options):
        context = browser.new_context(**VIEWPORTS[viewport], **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def sample_catalog(tmp_path: Path, settings) -> str:
    """Sync the bundled sample workshops, as the embedded default does on first start."""
    repo = tmp_path / "sample-content.git"
    sample_repo_build(source=SAMPLES_DIR, dest=repo)
    settings.CATALOG_SOURCE = str(repo)
    run = catalog_sync()
    assert run.status == "ok", run.report
    return str(repo)

"""A new learner, in a real browser: catalog, sign in with GitHub, Launch, the notebook open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hub.browser import chromium, notebook_open

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(autouse=True)
def _sync_playwright_beside_django(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM is not used meanwhile.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_new_learner_goes_from_the_catalog_to_the_first_notebook(hub, workshop, fake_github):
    fake_github.approve_as = "hubber"
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on(
            "framenavigated",
            lambda frame: seen.append(frame.url) if frame == page.main_frame else None,
        )
        page.goto(f"{hub.portal_url}/workshops/")
        page.get_by_role("link", name="Intro to the API").first.click()
        page.get_by_role("link", name="Sign in with GitHub to launch").click()
        page.wait_for_selector("#launch")  # back on the workshop page, signed in
        assert page.locator("#who").inner_text() == "hubber"
        page.screenshot(path=str(SHOTS / "catalog-signed-in.png"))

        page.locator("#launch").click()
        try:
            notebook_open(page, "0-Welcome.ipynb")
        except Exception:
            page.screenshot(path=str(SHOTS.parent.parent / "test-results" / "launch-failure.png"))
            raise AssertionError(f"stuck at {page.url}; went through {seen}") from None
        assert page.url.startswith(f"{hub.url}/user/hubber/lab")
        # The notebook's own first heading, rendered in the visible notebook.
        panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
        page.wait_for_selector(f"{panel} .jp-RenderedMarkdown h1:has-text('Welcome to the API')")
        page.wait_for_timeout(1500)  # JupyterLab would show its news prompt by now
        assert page.get_by_text("notified about official Jupyter news").count() == 0
        page.screenshot(path=str(SHOTS / "launch-jupyterlab.png"))

    # The learner went through the hub's progress page, not a blank wait.
    assert any("/hub/spawn-pending/hubber" in url for url in seen), seen
    assert (hub.home("hubber") / "workshops" / "intro-api" / "0-Welcome.ipynb").is_file()
    hub.stop_server("hubber")
    assert os.path.getsize(SHOTS / "launch-jupyterlab.png") > 10_000

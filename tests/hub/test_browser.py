"""A new learner, in a real browser: catalog, sign in with GitHub, Launch, the notebook open."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.chromium import screenshot
from tests.hub.browser import chromium, notebook_open
from tests.hub.conftest import ORG

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _sync_playwright_beside_django(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM is not used meanwhile.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_new_learner_goes_from_the_catalog_to_the_first_notebook(hub, workshop, fake_github):
    fake_github.approve_as = "hubber"
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
        screenshot(page, "catalog-signed-in")

        page.locator("#launch").click()
        try:
            notebook_open(page, "0-Welcome.ipynb")
        except Exception:
            screenshot(page, "launch-failure")
            raise AssertionError(f"stuck at {page.url}; went through {seen}") from None
        assert page.url.startswith(f"{hub.url}/user/hubber/lab")
        # The notebook's own first heading, rendered in the visible notebook.
        panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
        page.wait_for_selector(f"{panel} .jp-RenderedMarkdown h1:has-text('Welcome to the API')")
        page.wait_for_timeout(1500)  # JupyterLab would show its news prompt by now
        assert page.get_by_text("notified about official Jupyter news").count() == 0
        shot = screenshot(page, "launch-jupyterlab")

    # The learner went through the hub's progress page, not a blank wait.
    assert any("/hub/spawn-pending/hubber" in url for url in seen), seen
    assert (hub.home("hubber") / "workshops" / "intro-api" / "0-Welcome.ipynb").is_file()
    hub.stop_server("hubber")
    assert os.path.getsize(shot) > 10_000


def test_a_waiting_learner_sees_their_place_move_and_the_workshop_opens_by_itself(
    hub, workshop, fake_github, settings, queued
):
    """Capacity 1, taken: the learner waits behind someone, watches their place change without
    reloading, and lands in JupyterLab by themselves when the server is freed; later, every
    portal page warns them before their server stops."""
    from playwright.sync_api import expect

    from portal import admission
    from tests.hub.cullkit import servers_start, servers_stop_all

    settings.HUB_CAPACITY = 1
    settings.ADMISSION_PREFIX = f"test-wait-{time.monotonic_ns()}:"
    fake_github.add_user("waiter", orgs=(ORG,))
    fake_github.approve_as = "waiter"
    servers_start(hub, ["blocker"])  # the only slot is taken
    admission.queue_join(user="ahead", workshop=workshop.slug)  # someone waits already
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            navigations: list[str] = []
            page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
            page.goto(f"{hub.portal_url}/workshops/{workshop.slug}/")
            page.get_by_role("link", name="Sign in with GitHub to launch").click()
            page.locator("#launch").click()
            page.wait_for_url(f"**/workshops/{workshop.slug}/wait")
            assert page.locator("#queue-position").inner_text() == "2"
            assert "waiting list" in page.locator("#queue-state").inner_text()
            screenshot(page, "waiting")

            seen_before = len(navigations)
            admission.queue_leave(user="ahead")
            expect(page.locator("#queue-position")).to_have_text("1", timeout=15_000)
            assert len(navigations) == seen_before  # updated in place, not by a reload

            servers_stop_all(hub, ["blocker"])
            notebook_open(page, "0-Welcome.ipynb", timeout=120_000)
            assert page.url.startswith(f"{hub.url}/user/waiter/lab")
            assert hub.home("waiter").joinpath("workshops", "intro-api", "0-Welcome.ipynb").is_file()

            # Ten minutes from the idle timeout: the warning shows on any portal page.
            settings.CULL_IDLE_TIMEOUT = 500
            page.goto(f"{hub.portal_url}/workshops/")
            banner = page.locator("#server-banner")
            banner.wait_for(state="visible", timeout=15_000)
            assert "stops in about" in banner.inner_text() and "unless you use it" in banner.inner_text()
            assert page.locator("#server-banner-link").get_attribute("href") == "/me/server"
            screenshot(page, "stop-warning", clip={"x": 0, "y": 0, "width": 1280, "height": 420})
    finally:
        admission.queue_leave(user="ahead")
        servers_stop_all(hub, ["blocker", "waiter"])


def test_a_later_launch_opens_only_the_workshops_first_notebook(hub, workshop, fake_github):
    """Tabs left open in an earlier session are not restored over the notebook Launch opens."""
    fake_github.add_user("relauncher", orgs=(ORG,))
    fake_github.approve_as = "relauncher"
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{hub.portal_url}/workshops/{workshop.slug}/")
            page.get_by_role("link", name="Sign in with GitHub to launch").click()
            page.locator("#launch").click()
            notebook_open(page, "0-Welcome.ipynb", timeout=120_000)
            page.goto(f"{hub.portal_url}/workshops/{workshop.slug}/")  # JupyterLab closed: it saves no more
            # Earlier, the learner had another notebook open: JupyterLab keeps that in the
            # workspace it restores on every page load (stored here through its own REST API).
            other = "workshops/intro-api/1-Calls.ipynb"
            workspace = {
                "data": {
                    "layout-restorer:data": {
                        "main": {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": [f"notebook:{other}"]}}
                    },
                    f"notebook:{other}": {"data": {"path": other, "factory": "Notebook"}},
                },
                "metadata": {"id": "default"},
            }
            saved = httpx.put(
                f"{hub.url}/user/relauncher/lab/api/workspaces/default",
                json=workspace,
                headers={"Authorization": f"token {hub.tester_token}"},
                timeout=60,
            )
            assert saved.status_code == 204, saved.text
            page.locator("#launch").click()
            notebook_open(page, "0-Welcome.ipynb", timeout=120_000)
            page.wait_for_timeout(1500)  # a restored tab would be back by now
            tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").all_inner_texts()
            assert [t.strip() for t in tabs] == ["0-Welcome.ipynb"], tabs
    finally:
        hub.stop_server("relauncher")

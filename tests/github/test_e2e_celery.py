"""End to end: a real git push, a signed webhook to the live portal, a real Celery worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.celeryworker import celery_worker
from tests.contentrepo import ContentRepo, workshop_yml
from tests.fakegithub_rest import FakeGitHub
from tests.github.conftest import (
    REPOSITORY,
    SECRET,
    as_body,
    pull_request_payload,
    push_payload,
    signed_headers,
)

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout: float = 30.0, every: float = 0.1):
    """Poll predicate until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


@pytest.fixture(scope="module")
def world(tmp_path_factory, django_db_setup, django_db_blocker, live_server) -> Iterator[dict]:
    """A content repository, the fake GitHub and a real Celery worker on the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database: needs PostgreSQL")
    root = tmp_path_factory.mktemp("e2e")
    repo = ContentRepo(root / "content")
    repo.add_workshop("redfish-basics", notebooks=2, meta={"title": "Redfish basics"})
    repo.add_workshop("oneview-101", notebooks=1, meta={"title": "OneView 101"})
    repo.commit("initial")
    fake = FakeGitHub(token="e2e-token").start()
    fake.repo_add(REPOSITORY)
    db = connection.settings_dict
    url = live_server.url.replace("localhost", "127.0.0.1")
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PORTAL_VAR_DIR": str(root / "var"),
        "CATALOG_SOURCE": repo.url,
        "CATALOG_BRANCH": "main",
        "CATALOG_CACHE_DIR": str(root / "worker-cache"),
        "GITHUB_API_URL": fake.url,
        "GITHUB_TOKEN": "e2e-token",
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SECONDS_BETWEEN_WRITES": "0",
        "PORTAL_URL": url,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,  # where the live portal queues its tasks
    }
    try:
        with celery_worker(env=env, log_path=root / "worker.log", name="test-github"):
            yield {"repo": repo, "fake": fake, "url": url, "log": root / "worker.log"}
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def portal_settings(world, settings, tmp_path):
    """Configure the live portal like the worker."""
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    settings.GITHUB_REPOSITORY = REPOSITORY
    settings.CATALOG_SOURCE = world["repo"].url
    settings.CATALOG_BRANCH = "main"
    settings.CATALOG_CACHE_DIR = tmp_path / "cache"


def _deliver(world, event: str, payload: dict) -> httpx.Response:
    body = as_body(payload)
    headers = {k.removeprefix("HTTP_").replace("_", "-"): v for k, v in signed_headers(body, event).items()}
    headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    response = httpx.post(f"{world['url']}/github/webhook", content=body, headers=headers, timeout=10)
    response.elapsed_s = time.perf_counter() - started  # type: ignore[attr-defined]
    return response


def _api(world, slug: str) -> dict | None:
    response = httpx.get(f"{world['url']}/api/workshops/{slug}", timeout=10)
    return response.json() if response.status_code == 200 else None


def test_push_webhook_worker_sync_shows_change_on_page_and_api(world):
    repo = world["repo"]
    first = _deliver(world, "push", push_payload(repo.head()))
    assert first.status_code == 202  # the first one also opens the broker connection
    _wait(lambda: _api(world, "redfish-basics"))

    repo.write("redfish-basics/workshop.yml", workshop_yml(title="Redfish basics, revised"))
    repo.write(
        "redfish-basics/2-Part2.ipynb",
        repo.work.joinpath("redfish-basics/1-Part1.ipynb").read_bytes(),
    )
    sha = repo.commit("Revise the Redfish workshop")
    response = _deliver(world, "push", push_payload(sha))
    assert response.status_code == 202 and response.json()["queued"] == "sync"
    assert response.elapsed_s < 0.5  # all work is queued: the answer is quick

    data = _wait(lambda: (d := _api(world, "redfish-basics")) and d["title"] == "Redfish basics, revised" and d)
    assert data["source"]["commit"] == sha
    assert len(data["notebooks"]) == 3
    page = httpx.get(f"{world['url']}/workshops/redfish-basics/", timeout=10).text
    assert "Redfish basics, revised" in page and sha[:7] in page
    assert _api(world, "oneview-101")["title"] == "OneView 101"  # untouched workshop still there


def test_pr_with_broken_notebook_gets_failure_status(world):
    repo, fake = world["repo"], world["fake"]
    repo.write("oneview-101/1-Broken.ipynb", b'{"nbformat": 4, "cells": [')
    sha = repo.commit("Add a broken notebook", push=False)
    repo._git("push", "--quiet", "--force", "origin", "HEAD:refs/pull/42/head")
    repo._git("reset", "--quiet", "--hard", "HEAD~1")  # main stays as it was
    fake.pull_add(REPOSITORY, 42, head_sha=sha, files=["oneview-101/1-Broken.ipynb"])

    response = _deliver(world, "pull_request", pull_request_payload(42, sha))
    assert response.status_code == 202 and response.json()["queued"] == "validate"

    statuses = _wait(lambda: [s for s in fake.statuses(REPOSITORY, sha) if s["state"] != "pending"])
    assert statuses[0]["state"] == "failure"
    assert "1-Broken.ipynb" in statuses[0]["description"]
    assert "not valid JSON" in statuses[0]["description"]
    assert statuses[0]["context"] == "workshops/validate"
    assert statuses[0]["target_url"].startswith(f"{world['url']}/validation/")
    report = httpx.get(statuses[0]["target_url"], timeout=10)
    assert report.status_code == 200 and "1-Broken.ipynb" in report.text
    assert [s["state"] for s in fake.statuses(REPOSITORY, sha)][0] == "pending"

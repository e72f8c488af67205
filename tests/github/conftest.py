"""Fixtures for the GitHub integration: the fake GitHub, signed deliveries, a content repo."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from catalog.github_events import signature_compute
from tests.contentrepo import ContentRepo
from tests.fakegithub_rest import FakeGitHub

SECRET = "It's a Secret to Everybody"
REPOSITORY = "hpe-dev/workshops"


@pytest.fixture(autouse=True)
def _needs_postgres(request: pytest.FixtureRequest) -> None:
    """Skip database tests unless DATABASE_URL points at PostgreSQL (the models use its types)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and connection.vendor != "postgresql":
        pytest.skip("set DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal")


@pytest.fixture
def fake_github(settings) -> Iterator[FakeGitHub]:
    """Run the fake GitHub REST API and point the portal at it."""
    fake = FakeGitHub(token="test-token").start()
    fake.repo_add(REPOSITORY)
    settings.GITHUB_API_URL = fake.url
    settings.GITHUB_TOKEN = "test-token"
    settings.GITHUB_REPOSITORY = REPOSITORY
    settings.GITHUB_SECONDS_BETWEEN_WRITES = 0.0
    settings.GITHUB_SECONDARY_RATE_WAIT = 1.0
    settings.GITHUB_MAX_RATE_WAIT = 10.0
    yield fake
    fake.stop()


@pytest.fixture
def webhook_settings(settings) -> Any:
    """Configure the webhook secret and the catalog branch."""
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    settings.GITHUB_REPOSITORY = REPOSITORY
    settings.CATALOG_BRANCH = "main"
    settings.PORTAL_URL = "http://portal.test"
    return settings


@pytest.fixture
def content_repo(tmp_path: Path, settings) -> ContentRepo:
    """A real git content repository the portal reads from (its own cache)."""
    repo = ContentRepo(tmp_path / "content")
    settings.CATALOG_SOURCE = repo.url
    settings.CATALOG_CACHE_DIR = tmp_path / "cache"
    return repo


def signed_headers(body: bytes, event: str, *, secret: str = SECRET, delivery: str | None = None) -> dict:
    """Return the headers GitHub sends with a delivery of body."""
    return {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
        "HTTP_X_HUB_SIGNATURE_256": signature_compute(secret=secret, body=body),
        "HTTP_USER_AGENT": "GitHub-Hookshot/abc123",
    }


def push_payload(after: str, *, ref: str = "refs/heads/main", before: str = "0" * 40) -> dict:
    """Return a push payload shaped like GitHub's (trimmed)."""
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
        "pusher": {"name": "maintainer"},
        "commits": [{"id": after, "message": "Fix a notebook"}],
        "head_commit": {"id": after, "message": "Fix a notebook"},
    }


def pull_request_payload(number: int, head_sha: str, *, action: str = "opened") -> dict:
    """Return a pull_request payload shaped like GitHub's (trimmed)."""
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": "Improve the Redfish workshop",
            "head": {"ref": "feature", "sha": head_sha,
                     "repo": {"full_name": REPOSITORY, "clone_url": "https://github.com/x/y.git"}},
            "base": {"ref": "main", "sha": "0" * 40, "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }  # fmt: skip


def as_body(payload: Any) -> bytes:
    """Serialise a payload as GitHub does."""
    return json.dumps(payload).encode()

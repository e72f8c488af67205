"""Fixtures shared by every test: real git content repositories and isolated caches.

The suites: `tests/catalog` and `tests/portal` (unit and database tests), `tests/github`
(against the fake GitHub, a real HTTP server on 127.0.0.1), `tests/hub` (a real JupyterHub
with configurable-http-proxy and real single-user servers; marker `hub`), `tests/browser`
(Debian's Chromium through Playwright; marker `browser`). Marker `celery`: a real worker.
Only GitHub is faked; nothing of the project is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contentrepo import ContentRepo


@pytest.fixture(autouse=True)
def _isolated_cache(settings, tmp_path: Path, request) -> None:
    """Give each test its own clone cache and var dir, so tests never share git state."""
    settings.CATALOG_CACHE_DIR = tmp_path / "cache"
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    # The launch mirror lives in the var dir too; but learners' clones on the session's hub outlive
    # a test, and keep the origin they were cloned from: the hub fixture gives one for the session.
    if settings.LAUNCH_MIRROR_DIR is not None and "hub" not in request.fixturenames:
        settings.LAUNCH_MIRROR_DIR = settings.VAR_DIR / "launch" / "content.git"
    # Service tokens as a deployment configures them (the generated-file path: test_contract.py).
    settings.HUB_SERVICE_TOKEN = settings.HUB_SERVICE_TOKEN or "0" * 16 + "portal-test-token-0123456789abcdef"
    settings.CULLER_SERVICE_TOKEN = settings.CULLER_SERVICE_TOKEN or "0" * 16 + "culler-test-token-0123456789abcdef"


@pytest.fixture
def content_repo(tmp_path: Path, settings) -> ContentRepo:
    """Return an empty real content repository that the catalog syncs from."""
    repo = ContentRepo(tmp_path / "content")
    settings.CATALOG_SOURCE = repo.url
    settings.CATALOG_BRANCH = repo.branch
    return repo


def _database_url(connection) -> str:
    """Return a DATABASE_URL naming the test database, for subprocesses."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path: Path):
    """Start a real Celery worker on its own queue, using this test's database and settings."""
    from django.db import connection

    from tests.celeryworker import celery_worker

    env = {
        "DATABASE_URL": _database_url(connection),
        "CATALOG_SOURCE": settings.CATALOG_SOURCE,
        "CATALOG_BRANCH": settings.CATALOG_BRANCH,
        "CATALOG_CACHE_DIR": str(tmp_path / "worker-cache"),
        "PORTAL_VAR_DIR": str(tmp_path / "worker-var"),
    }
    with celery_worker(env=env, log_path=tmp_path / "worker.log") as proc:
        yield proc


class BrokerQueue:
    """A private queue on the real Redis broker (and its capacity queue, where cull and admission
    tasks go), read back to see which tasks were sent to it.

    Compares equal to a list of (task name, kwargs) in sending order (the capacity queue's
    after the others), so a test says `assert queued == [("catalog_sync_task", {...})]` about
    what really reached the broker.
    """

    def __init__(self, name: str, broker_url: str) -> None:
        import redis

        from tests.celeryworker import capacity_queue

        self.name = name
        self.names = (name, capacity_queue(name))
        self.redis = redis.Redis.from_url(broker_url)

    def tasks(self) -> list[tuple[str, dict]]:
        """Return the tasks waiting in the queues, oldest first."""
        import base64
        import json

        found = []
        for name in self.names:
            for raw in reversed(self.redis.lrange(name, 0, -1)):  # kombu pushes on the left
                message = json.loads(raw)
                _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                found.append((message["headers"]["task"].rsplit(".", 1)[-1], kwargs))
        return found

    def __eq__(self, other: object) -> bool:
        return self.tasks() == other

    def __len__(self) -> int:
        return len(self.tasks())

    def __getitem__(self, index: int) -> tuple[str, dict]:
        return self.tasks()[index]

    def __repr__(self) -> str:
        return f"BrokerQueue({self.tasks()!r})"


@pytest.fixture
def queued(settings) -> Iterator[BrokerQueue]:
    """Send this test's Celery tasks (and its capacity tasks) to queues of its own on the real broker."""
    import uuid

    from tests.celeryworker import routed_to

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.fail(f"these tests need Redis as the Celery broker, not {settings.CELERY_BROKER_URL}")
    queue = BrokerQueue(f"test-queued-{uuid.uuid4().hex[:8]}", settings.CELERY_BROKER_URL)
    try:
        with routed_to(queue.name):
            yield queue
    finally:
        queue.redis.delete(*queue.names)
        queue.redis.close()


@pytest.fixture(autouse=True)
def _fresh_page_cache(settings) -> None:
    """Check the catalog version on every request in tests, and start with an empty cache."""
    from django.core.cache import cache

    settings.CATALOG_VERSION_TTL = 0
    cache.clear()

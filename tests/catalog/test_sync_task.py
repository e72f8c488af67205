"""The sync as a Celery task: run by a real worker, scheduled as a periodic reconcile."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from catalog.models import SyncRun, Workshop
from catalog.tasks import catalog_sync_task
from tests.contentrepo import ContentRepo


@pytest.mark.celery
def test_real_worker_syncs_the_catalog(content_repo: ContentRepo, celery_worker_process) -> None:
    """A queued sync is picked up by a real worker and the workshops appear."""
    content_repo.add_workshop("redfish-101", meta={"title": "Redfish 101"})
    sha = content_repo.commit("first")
    catalog_sync_task.apply_async(kwargs={"commit": sha, "trigger": "test"})
    deadline = time.monotonic() + 60
    while not SyncRun.objects.filter(trigger="test", status="ok").exists():
        assert time.monotonic() < deadline, "the worker did not sync within 60 s"
        time.sleep(0.2)
    assert Workshop.objects.get(slug="redfish-101").commit_sha == sha


def test_reconcile_is_scheduled_with_an_expiry_shorter_than_its_interval() -> None:
    """Beat queues a reconcile every CATALOG_SYNC_INTERVAL; a stale one expires before the next."""
    entry = settings.CELERY_BEAT_SCHEDULE["catalog-reconcile"]
    assert entry["task"] == "catalog.tasks.catalog_sync_task"
    assert entry["schedule"] == settings.CATALOG_SYNC_INTERVAL
    assert entry["options"]["expires"] < entry["schedule"]

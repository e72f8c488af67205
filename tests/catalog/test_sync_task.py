"""The sync as a Celery task: run by a real worker, scheduled as a periodic reconcile."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

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


@pytest.fixture
def git_subcommands(tmp_path: Path, monkeypatch) -> Path:
    """Log the subcommand of every git run from now on (a shim first on PATH runs the real git)."""
    real = shutil.which("git")
    shim = tmp_path / "git-shim"
    shim.mkdir()
    log = tmp_path / "git-subcommands.log"
    (shim / "git").write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.django_db
def test_a_push_costs_one_git_fetch(content_repo: ContentRepo, git_subcommands: Path, settings) -> None:
    """The push task resolves the pushed commit inside the sync's own fetch: one fetch per push."""
    settings.CELERY_BROKER_URL = "filesystem://"  # this test's own file lock, not the shared Redis one
    content_repo.add_workshop("redfish-101", meta={"title": "Redfish 101"})
    content_repo.commit("first")
    catalog_sync_task.apply(kwargs={"trigger": "schedule"})
    content_repo.add_workshop("oneview-101", meta={"title": "OneView 101"})
    sha = content_repo.commit("second")
    git_subcommands.write_text("")

    run_id = catalog_sync_task.apply(kwargs={"commit": sha, "trigger": "push"}).get()

    run = SyncRun.objects.get(pk=run_id)
    assert (run.status, run.commit_sha, run.report["added"]) == (SyncRun.Status.OK, sha, ["oneview-101"])
    assert git_subcommands.read_text().split().count("fetch") == 1

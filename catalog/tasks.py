"""Celery tasks of the catalog: thin wrappers around the sync and validation services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from catalog.sync import catalog_sync
from portal.locks import LockBusy, singleton_lock


@shared_task(bind=True, soft_time_limit=540, time_limit=600, ignore_result=True, max_retries=5)
def catalog_sync_task(self, *, commit: str | None = None, trigger: str = "schedule") -> int | None:
    """Sync the catalog (one sync at a time); return the SyncRun id."""
    try:
        with singleton_lock("catalog-sync", timeout=600, wait=60):
            return catalog_sync(commit=commit, trigger=trigger).pk
    except LockBusy:
        if trigger == "push":
            # The running sync may predate this push: try again rather than wait for the reconcile.
            raise self.retry(countdown=30) from None
        return None  # a scheduled reconcile can skip: the running sync does the same work


@shared_task(soft_time_limit=540, time_limit=600, ignore_result=True, acks_late=True)
def pull_request_validate_task(*, run_id: int) -> str:
    """Validate the workshops a pull request touches and post the commit status."""
    # Imported when run (HackSoft's recipe for tasks): services may import tasks, never a loop.
    from catalog.github_pulls import pull_request_validate

    return pull_request_validate(run_id=run_id)


@shared_task(soft_time_limit=60, time_limit=120, ignore_result=True)
def webhook_deliveries_prune_task() -> int:
    """Forget webhook deliveries older than the redelivery window."""
    # Imported when run: github_deliveries imports this module to queue tasks.
    from catalog.github_deliveries import webhook_deliveries_prune

    return webhook_deliveries_prune(now=timezone.now())

"""Celery tasks of the catalog: thin wrappers around the sync service."""

from __future__ import annotations

from celery import shared_task

from catalog.services.sync import catalog_sync
from portal.locks import LockBusy, singleton_lock


@shared_task(soft_time_limit=540, time_limit=600, ignore_result=True)
def catalog_sync_task(*, commit: str | None = None, trigger: str = "schedule") -> int | None:
    """Sync the catalog (one sync at a time); return the SyncRun id."""
    try:
        with singleton_lock("catalog-sync", timeout=600, wait=60):
            return catalog_sync(commit=commit, trigger=trigger).pk
    except LockBusy:
        return None  # another sync holds the lock and will bring the catalog up to date

"""Celery tasks of the catalog: thin wrappers around the sync, validation and outbox services."""

from __future__ import annotations

from celery import current_app, shared_task
from django.utils import timezone

from catalog.outbox import outbox_relay
from catalog.sync import catalog_recover, catalog_sync
from portal.locks import LockBusy
from portal.redis_client import redis_started_at

# A push sync that finds another sync running tries again every SYNC_RETRY_SECONDS, for longer
# than a sync may hold the lock (catalog.sync.SYNC_LOCK_MAX): the running one may predate the
# push. Its commit is recorded (SyncRequest), so even a sync that gives up loses nothing:
# catalog_recover queues another.
SYNC_RETRY_SECONDS = 5
SYNC_RETRIES = 150


@shared_task(bind=True, soft_time_limit=540, time_limit=600, ignore_result=True, max_retries=SYNC_RETRIES)
def catalog_sync_task(
    self, *, branch: str | None = None, commit: str | None = None, trigger: str = "schedule"
) -> int | None:
    """Sync the catalog (one sync at a time; a push reads its branch's newest pushed commit); return the SyncRun id."""
    try:
        return catalog_sync(branch=branch, commit=commit, trigger=trigger, lock_wait=2).pk
    except LockBusy:
        if trigger == "push":
            raise self.retry(countdown=SYNC_RETRY_SECONDS) from None
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


@shared_task(soft_time_limit=30, time_limit=60, ignore_result=True)
def outbox_relay_task() -> int:
    """Send accepted work that has not reached Redis yet; return how many messages went."""
    return outbox_relay()


@shared_task(soft_time_limit=30, time_limit=60, ignore_result=True)
def catalog_recover_task() -> dict[str, int]:
    """Close sync runs whose worker died, and queue a sync for pushed commits none will read."""
    return catalog_recover(now=timezone.now(), broker_since=redis_started_at(current_app.conf.broker_url or ""))

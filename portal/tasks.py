"""Celery tasks of the portal: thin wrappers around the cull service and the lab reset."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

# Below portal.cull.LOCK_TIMEOUT, the longest a pass may hold the lock.
CULL_SOFT_LIMIT, CULL_HARD_LIMIT = 240, 300


@shared_task(soft_time_limit=CULL_SOFT_LIMIT, time_limit=CULL_HARD_LIMIT, ignore_result=True, acks_late=False)
def servers_cull_task() -> int | None:
    """Run one cull pass (skipped if another holds the lock); return the CullRun id."""
    # Services are imported in the task body (HackSoft's Celery recipe): launch imports this module
    # to queue a pass, and needs none of the culler.
    from portal.cull import servers_cull

    report = servers_cull(now=timezone.now())
    return report.run.pk if report.run else None


@shared_task(soft_time_limit=60, time_limit=120, ignore_result=True)
def capacity_samples_prune_task() -> int:
    """Forget capacity samples and cull runs older than a week."""
    from portal.cull import capacity_samples_prune  # in the body, as above

    return capacity_samples_prune(now=timezone.now())


# Above any pool's sensible reset timeout: the command itself is killed at its pool's reset_timeout_s.
LAB_RESET_SOFT_LIMIT, LAB_RESET_HARD_LIMIT = 900, 960


@shared_task(soft_time_limit=LAB_RESET_SOFT_LIMIT, time_limit=LAB_RESET_HARD_LIMIT, ignore_result=True)
def lab_lease_reset_task(*, lease_id: int) -> str:
    """Run the pool's reset command for a released lease (idempotent: a done reset is not run again)."""
    from portal.lab_reset import lease_reset  # in the body, as above

    return lease_reset(lease_id=lease_id, now=timezone.now())

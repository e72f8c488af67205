"""Handle GitHub webhook deliveries: remember them, and queue the work they ask for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from catalog.github_events import webhook_route
from catalog.models import ValidationRun, WebhookDelivery
from catalog.tasks import catalog_sync_task, pull_request_validate_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookOutcome:
    """The answer to a delivery: HTTP status and a short JSON body."""

    status: int
    body: dict[str, Any]


def _enqueue_sync(commit: str) -> None:
    """Queue a sync of the pushed commit (called once the transaction commits)."""
    catalog_sync_task.apply_async(kwargs={"commit": commit, "trigger": "push"})


def _enqueue_validation(run_id: int) -> None:
    """Queue the validation of a pull request (called once the transaction commits)."""
    pull_request_validate_task.apply_async(kwargs={"run_id": run_id})


def webhook_receive(*, delivery_id: str, event: str, payload: Any) -> WebhookOutcome:
    """Record a verified delivery and queue its work; a delivery seen before does nothing."""
    action = webhook_route(
        event=event,
        payload=payload,
        branch=settings.CATALOG_BRANCH,
        repository=settings.GITHUB_REPOSITORY,
    )
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(delivery_id=delivery_id, event=event[:50], action=action.kind)
            if action.kind == "sync":
                commit = action.args["commit"]
                transaction.on_commit(lambda: _enqueue_sync(commit))
            elif action.kind == "validate":
                args = action.args
                run = ValidationRun.objects.create(
                    repository=args["repository"],
                    source=args["head_clone_url"] or settings.CATALOG_SOURCE,
                    pull_number=args["pull_number"],
                    head_sha=args["head_sha"],
                    base_ref=args["base_ref"],
                    title=args["title"],
                )
                transaction.on_commit(lambda: _enqueue_validation(run.pk))
    except IntegrityError:
        return WebhookOutcome(200, {"delivery": delivery_id, "duplicate": True, "detail": "already handled"})
    log.info("webhook %s %s: %s (%s)", event, delivery_id, action.kind, action.reason)
    if action.kind == "ping":
        return WebhookOutcome(200, {"delivery": delivery_id, "pong": True})
    if action.kind == "ignore":
        return WebhookOutcome(202, {"delivery": delivery_id, "ignored": action.reason})
    return WebhookOutcome(202, {"delivery": delivery_id, "queued": action.kind, "detail": action.reason})


def webhook_deliveries_prune(*, now: datetime, keep_days: int | None = None) -> int:
    """Forget deliveries older than keep_days (never fewer than 3: GitHub redelivers for 3 days)."""
    days = max(keep_days if keep_days is not None else settings.GITHUB_DELIVERY_KEEP_DAYS, 3)
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=now - timedelta(days=days)).delete()
    return deleted

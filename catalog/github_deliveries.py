"""Handle GitHub webhook deliveries: remember them, and queue the work they ask for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction

from catalog.github_events import webhook_route
from catalog.models import ValidationRun, WebhookDelivery
from catalog.outbox import outbox_add
from catalog.sync import sync_request
from catalog.tasks import pull_request_validate_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookOutcome:
    """The answer to a delivery: HTTP status and a short JSON body."""

    status: int
    body: dict[str, Any]


def webhook_receive(*, delivery_id: str, event: str, payload: Any) -> WebhookOutcome:
    """Record a verified delivery and its work in one transaction; a delivery seen before does nothing.

    The work is durable before the answer: a push is recorded as its branch's newest commit
    (pushes coalesce: at most one sync waits) and queued through the outbox, which Celery
    gets after the commit or, if Redis is down, from the periodic relay. With the database
    down nothing is recorded and the answer is 503, so GitHub shows a failure and its
    redelivery (same id) does the work.
    """
    action = webhook_route(
        event=event,
        payload=payload,
        branch=settings.CATALOG_BRANCH,
        repository=settings.GITHUB_REPOSITORY,
    )
    queued = True
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(delivery_id=delivery_id, event=event[:50], action=action.kind)
            if action.kind == "sync":
                queued = sync_request(branch=settings.CATALOG_BRANCH, commit=action.args["commit"])
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
                outbox_add(task=pull_request_validate_task.name, kwargs={"run_id": run.pk})
    except IntegrityError:
        return WebhookOutcome(200, {"delivery": delivery_id, "duplicate": True, "detail": "already handled"})
    except DatabaseError as error:
        log.error("webhook %s %s not recorded (database): %s", event, delivery_id, error)
        return WebhookOutcome(
            503, {"delivery": delivery_id, "error": "the delivery could not be recorded; redeliver it later"}
        )
    log.info("webhook %s %s: %s (%s)", event, delivery_id, action.kind, action.reason)
    if action.kind == "ping":
        return WebhookOutcome(200, {"delivery": delivery_id, "pong": True})
    if action.kind == "ignore":
        return WebhookOutcome(202, {"delivery": delivery_id, "ignored": action.reason})
    body = {"delivery": delivery_id, "queued": action.kind, "detail": action.reason}
    if not queued:
        body["coalesced"] = True  # the sync already waiting reads this commit
    return WebhookOutcome(202, body)


def webhook_deliveries_prune(*, now: datetime, keep_days: int | None = None) -> int:
    """Forget deliveries older than keep_days (never fewer than 3: GitHub redelivers for 3 days)."""
    days = max(keep_days if keep_days is not None else settings.GITHUB_DELIVERY_KEEP_DAYS, 3)
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=now - timedelta(days=days)).delete()
    return deleted

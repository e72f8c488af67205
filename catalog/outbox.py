"""The outbox: tasks accepted from outside are recorded in the database, then relayed to Celery.

A webhook answers 202 only once its work is committed here, in the same transaction as the
delivery record. The relay sends a message after that commit and, for any it could not send
(Redis down), again from a periodic task until Redis takes it. Tasks are named, not imported,
so services below the task layer can queue them; every queued task is idempotent, so a
message sent twice (a relay that died between sending and recording it) does no harm.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from catalog.models import OutboxMessage

log = logging.getLogger(__name__)

# A relay pass sends at most this many messages (the next pass takes the rest).
RELAY_BATCH = 200
# The periodic relay leaves younger unsent messages to the after-commit relay of their request.
RELAY_GRACE = timedelta(seconds=5)
# Sent messages are kept this long for inspection, then deleted by the relay.
KEEP_SENT = timedelta(days=1)


def outbox_add(*, task: str, kwargs: dict[str, Any]) -> OutboxMessage:
    """Record task(**kwargs) to be sent, in the caller's transaction; it is sent once that commits.

    kwargs must be JSON (ids, not objects). Nothing reaches Redis if the transaction rolls back.
    """
    message = OutboxMessage.objects.create(task=task, kwargs=kwargs)
    transaction.on_commit(lambda: outbox_relay(ids=[message.pk]), robust=True)
    return message


def _send(message: OutboxMessage) -> str:
    """Publish message to the broker; return "" or why it failed (a failure never raises)."""
    try:
        # retry=False: one quick attempt; the periodic relay is the retry, not this request.
        current_app.send_task(message.task, kwargs=message.kwargs, task_id=f"outbox-{message.pk}", retry=False)
    except Exception as error:  # noqa: BLE001 - any broker failure leaves the message for later
        return f"{type(error).__name__}: {error}"[:2000]
    return ""


def outbox_relay(*, ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Send unsent messages (the given ids, else those older than RELAY_GRACE); return how many went.

    Each message is locked while it is sent (a concurrent relay skips it) and marked sent only
    when the broker took it; a failed send records its error and stays for the next relay. At
    most RELAY_BATCH messages per call, oldest first; sent messages older than KEEP_SENT go.
    """
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        unsent = OutboxMessage.objects.select_for_update(skip_locked=True).filter(sent_at=None)
        unsent = unsent.filter(pk__in=ids) if ids is not None else unsent.filter(created_at__lte=now - RELAY_GRACE)
        for message in unsent.order_by("created_at", "id")[:RELAY_BATCH]:
            error = _send(message)
            message.attempts += 1
            message.error = error
            if not error:
                message.sent_at = timezone.now()
                sent += 1
            message.save(update_fields=["attempts", "error", "sent_at"])
            if error:
                log.warning("outbox: %s not sent (kept for the next relay): %s", message.task, error)
                break  # the broker is down: the others would fail the same way
    if ids is None:
        OutboxMessage.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    return sent

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
from kombu import Connection

from catalog.models import OutboxMessage

log = logging.getLogger(__name__)

# A relay pass sends at most this many messages (the next pass takes the rest).
RELAY_BATCH = 200
# Sent messages are kept this long for inspection, then deleted by the relay.
KEEP_SENT = timedelta(days=1)
# Seconds a relay tries to reach the broker before leaving its messages for the next relay.
CONNECT_TIMEOUT = 2.0


def outbox_add(*, task: str, kwargs: dict[str, Any]) -> OutboxMessage:
    """Record task(**kwargs) to be sent, in the caller's transaction; it is sent once that commits.

    kwargs must be JSON (ids, not objects). Nothing reaches Redis if the transaction rolls back.
    """
    message = OutboxMessage.objects.create(task=task, kwargs=kwargs)
    transaction.on_commit(lambda: outbox_relay(ids=[message.pk]), robust=True)
    return message


def _error(error: Exception) -> str:
    """Return why a send failed, for the message's record."""
    return f"{type(error).__name__}: {error}"[:2000]


def _send(message: OutboxMessage, connection: Connection) -> str:
    """Publish message on connection; return "" or why it failed (a failure never raises)."""
    try:
        # retry=False: one attempt; the periodic relay is the retry, not the webhook's request.
        current_app.send_task(
            message.task, kwargs=message.kwargs, task_id=f"outbox-{message.pk}", connection=connection, retry=False
        )
    except Exception as error:  # noqa: BLE001 - any broker failure leaves the message for later
        return _error(error)
    return ""


def outbox_relay(*, ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Send unsent messages (the given ids, else all); return how many went.

    Each message is locked while it is sent (a concurrent relay skips it, so none is sent twice)
    and marked sent only when the broker took it; a failed send records its error and stays for
    the next relay. At most RELAY_BATCH messages per call, oldest first; the periodic relay
    (ids None) also deletes sent messages older than KEEP_SENT.
    """
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        unsent = OutboxMessage.objects.select_for_update(skip_locked=True).filter(sent_at=None)
        if ids is not None:
            unsent = unsent.filter(pk__in=ids)
        messages = list(unsent.order_by("created_at", "id")[:RELAY_BATCH])
        if messages:
            with current_app.connection_for_write() as connection:
                try:
                    # Fail within seconds (kombu's default keeps trying for several): a message not
                    # sent now is sent by the next relay, and a webhook's answer must not wait.
                    connection.ensure_connection(max_retries=1, interval_start=0, timeout=CONNECT_TIMEOUT)
                except Exception as error:  # noqa: BLE001 - the broker is unreachable: all stay unsent
                    messages[0].attempts, messages[0].error = messages[0].attempts + 1, _error(error)
                    messages[0].save(update_fields=["attempts", "error"])
                    log.warning("outbox: %d message(s) kept for the next relay: %s", len(messages), error)
                    messages = []
                for message in messages:
                    error = _send(message, connection)
                    message.attempts, message.error = message.attempts + 1, error
                    message.sent_at = None if error else timezone.now()
                    message.save(update_fields=["attempts", "error", "sent_at"])
                    if error:
                        log.warning("outbox: %s not sent (kept for the next relay): %s", message.task, error)
                        break  # the broker failed: the others would fail the same way
                    sent += 1
    if ids is None:
        OutboxMessage.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    return sent

"""One launch or stop at a time per learner, across the portal's processes.

Why: a learner who presses Launch in two tabs at once got two lab grants, the second ending the
first while the hub (refusing a second start) kept the server the first one started, whose lease
was then released and could go to someone else; a Stop during a Launch did the same. A Redis lock
per learner makes them take turns; each then reads the hub afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import redis
from django.conf import settings

from portal.locks import redis_lock

log = logging.getLogger(__name__)

# Seconds a launch or stop may hold it (a launch's hub calls are bounded by HUB_LAUNCH_TIMEOUT
# each), and the longest the other waits for it.
HOLD_SECONDS = 60
WAIT_SECONDS = 30


@contextmanager
def learner_lock(*, name: str) -> Iterator[None]:
    """Hold name's launch lock; without Redis, go on unlocked (logged): launching must not depend
    on it. LockBusy when another launch or stop of theirs held it all WAIT_SECONDS."""
    with ExitStack() as held:
        try:
            held.enter_context(
                redis_lock(
                    f"{settings.ADMISSION_PREFIX}learner:{name}", timeout=HOLD_SECONDS, wait=WAIT_SECONDS, poll=0.02
                )
            )
        except redis.exceptions.RedisError as error:
            log.warning("launch lock of %s unavailable (%s): going on without it", name, type(error).__name__)
        yield

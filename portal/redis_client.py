"""The one Redis client of the portal (waiting list and locks), built from REDIS_URL."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """Return the Redis client for REDIS_URL, with short timeouts: a dead Redis must not hold a
    launch up (the waiting list degrades instead), nor a worker waiting for a lock."""
    url = settings.REDIS_URL
    if url not in _clients:  # one connection pool per URL (tests point REDIS_URL elsewhere)
        _clients[url] = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5, decode_responses=True)
    return _clients[url]


def redis_started_at(url: str) -> datetime | None:
    """Return the latest moment the Redis server at url can have last started (from its INFO
    uptime_in_seconds, a second of margin), or
    None when url is not Redis or the server does not answer within a second.

    Why: a restart loses what the server held only in memory and what workers held for it (a
    retry's countdown, a prefetched message they could not hand back while it was down), even
    with persistence; work queued before this moment may be gone.
    """
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        uptime = int(client.info("server")["uptime_in_seconds"])
    except (redis.RedisError, KeyError, ValueError) as error:
        log.warning("broker: cannot read its uptime: %s", type(error).__name__)
        return None
    finally:
        client.close()
    # INFO's uptime is the difference of two whole-second clocks (now and the start, each rounded
    # down), so it is up to a second off either way: the latest the start can have been is a second
    # later. Work queued in that second counts as queued before the restart: queued twice, it does
    # no harm; missed, it would wait SYNC_WAIT_STALE.
    return timezone.now() - timedelta(seconds=uptime - 1)

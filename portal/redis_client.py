"""The one Redis client of the portal (waiting list and locks), built from REDIS_URL."""

from __future__ import annotations

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """Return the Redis client for REDIS_URL, with short timeouts: a dead Redis must not hold a
    launch up (the waiting list degrades instead), nor a worker waiting for a lock."""
    url = settings.REDIS_URL
    if url not in _clients:  # one connection pool per URL (tests point REDIS_URL elsewhere)
        _clients[url] = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5, decode_responses=True)
    return _clients[url]

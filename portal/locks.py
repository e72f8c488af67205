"""Locks that make a job a singleton across workers: Redis when configured, else a file lock."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from django.conf import settings

from portal.redis_client import redis_client


class LockBusy(RuntimeError):
    """Another process holds the lock."""


@contextmanager
def redis_lock(key: str, *, timeout: int, wait: float) -> Iterator[None]:
    """Hold the Redis lock key, waiting up to wait seconds for it; it expires after timeout seconds
    even if its holder dies. Raise LockBusy if another holds it all that time."""
    lock = redis_client().lock(key, timeout=timeout, blocking_timeout=wait)
    if not lock.acquire(blocking=wait > 0):
        raise LockBusy(key)
    try:
        yield
    finally:
        with suppress(redis.exceptions.LockError):  # expired: the timeout already freed it
            lock.release()


@contextmanager
def _file_lock(name: str, *, wait: float) -> Iterator[None]:
    """Hold an flock on a file in VAR_DIR (one host only: the embedded default)."""
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(settings.VAR_DIR / f".lock-{name}", "w") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(name) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def singleton_lock(name: str, *, timeout: int, wait: float = 0) -> Iterator[None]:
    """Run the block only if no other worker holds lock name; else raise LockBusy."""
    if settings.CELERY_BROKER_URL.startswith("redis"):
        with redis_lock(f"portal:lock:{name}", timeout=timeout, wait=wait):
            yield
    else:
        with _file_lock(name, wait=wait):
            yield

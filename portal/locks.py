"""Locks that make a job a singleton across workers: Redis when configured, else a file lock.

A Redis lock is a short lease (LOCK_LEASE_SECONDS) that a heartbeat thread renews while its
holder works, so a worker killed mid-job frees it within one lease, not at the end of the
job's longest possible run. A file lock (the embedded default, one host) is released by the
kernel when its holder dies. Either way, lock_held tells a reaper whether a job that left a
"running" record behind still has a live holder.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from django.conf import settings
from django.db import connection

from portal.redis_client import redis_client

log = logging.getLogger(__name__)


class LockBusy(RuntimeError):
    """Another process holds the lock."""


def _renew(lock: redis.lock.Lock, *, lease: float, until: float, stop: threading.Event) -> None:
    """Extend lock to a full lease every third of a lease, until stop is set or the time until.

    Renewal stops at until (the holder's longest allowed hold): a holder hung past its hard time
    limit then loses the lock within one lease instead of keeping it for ever. A Redis that does
    not answer is tried again at the next beat; the lease gives it two more chances.
    """
    while not stop.wait(lease / 3):
        if time.monotonic() >= until:
            log.error("lock %s held past its limit: no longer renewed", lock.name)
            return
        try:
            lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            log.error("lock %s was lost (expired before its renewal): another worker may take it", lock.name)
            return
        except redis.exceptions.RedisError as error:
            log.warning("lock %s not renewed (Redis: %s); retrying", lock.name, error)


@contextmanager
def redis_lock(key: str, *, timeout: float, wait: float, poll: float = 0.1) -> Iterator[None]:
    """Hold the Redis lock key for at most timeout seconds, waiting up to wait seconds for it
    (asking Redis every poll seconds while another holds it).

    The lease is LOCK_LEASE_SECONDS (or timeout if shorter), renewed by a heartbeat thread while
    the block runs: a holder that dies frees the key within one lease. Raise LockBusy if another
    holds it all the wait.
    """
    lease = max(1.0, min(float(settings.LOCK_LEASE_SECONDS), timeout))
    # thread_local=False: the heartbeat thread renews with the token the acquiring thread got.
    lock = redis_client().lock(key, timeout=lease, sleep=poll, blocking_timeout=wait, thread_local=False)
    if not lock.acquire(blocking=wait > 0):
        raise LockBusy(key)
    stop = threading.Event()
    heartbeat = threading.Thread(
        target=_renew,
        kwargs={"lock": lock, "lease": lease, "until": time.monotonic() + timeout, "stop": stop},
        name=f"lock-heartbeat {key}",
        daemon=True,
    )
    heartbeat.start()
    try:
        yield
    finally:
        stop.set()
        heartbeat.join()
        with suppress(redis.exceptions.LockError, redis.exceptions.RedisError):  # lapsed: already free
            lock.release()


def _lock_path(name: str):
    """Return the file of lock name in VAR_DIR."""
    return settings.VAR_DIR / f".lock-{name}"


@contextmanager
def _file_lock(name: str, *, wait: float) -> Iterator[None]:
    """Hold an flock on a file in VAR_DIR (one host only: the embedded default)."""
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(name), "w") as handle:
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


def _uses_redis() -> bool:
    """Tell whether locks live in Redis (the broker is Redis) rather than in files."""
    return settings.CELERY_BROKER_URL.startswith("redis")


def _redis_key(name: str) -> str:
    """Return the Redis key of lock name, scoped by database: a singleton guards one database's
    records, so deployments (or test runs) sharing a Redis never block one another."""
    return f"portal:lock:{connection.settings_dict['NAME']}:{name}"


@contextmanager
def singleton_lock(name: str, *, timeout: float, wait: float = 0) -> Iterator[None]:
    """Run the block only if no other worker holds lock name; else raise LockBusy.

    timeout is the longest the block may hold the lock (seconds): past it the lock is no longer
    renewed. A holder that dies frees it within LOCK_LEASE_SECONDS.
    """
    if _uses_redis():
        with redis_lock(_redis_key(name), timeout=timeout, wait=wait):
            yield
    else:
        with _file_lock(name, wait=wait):
            yield


def lock_held(name: str) -> bool:
    """Tell whether some live process holds singleton lock name (its lease not lapsed)."""
    if _uses_redis():
        return bool(redis_client().exists(_redis_key(name)))
    path = _lock_path(name)
    if not path.exists():
        return False
    with open(path, "a") as handle:  # flock is per open file: this probe conflicts with any holder
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False

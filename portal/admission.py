# One concept, the waiting list: `admission` in code (its list: `queue_*`), `/queue/...` in URLs, "waiting" on pages.
"""Admission at launch: a slot while running + starting < capacity, else a FIFO waiting list in Redis.

Keys (under ADMISSION_PREFIX):
- ``queue``: sorted set of learners waiting, scored by arrival (a learner holds one place);
- ``seen:<user>``: the workshop they wait for, expiring ADMISSION_PLACE_TTL after their last
  poll (a place left unattended is released);
- ``pool:<user>``: the credentials pool they wait for, when their workshop's lab ran out of
  accounts (portal.lab): they are admitted only while the pool has a free account, keeping
  their place meanwhile (those behind them who need no account go first);
- ``turns``: sorted set of learners holding a slot they have not used yet, scored by expiry
  (admitted from the queue, or between the admission check and the hub's answer to the start,
  and for OCCUPIED_MAX_AGE + a margin after that answer: see below);
- ``occupied``: the hub's running and starting servers as last read (JSON with the time read),
  shared by every portal process for OCCUPIED_MAX_AGE seconds.
Slots are counted as turns + the hub's servers, each learner once, under one Redis lock, so
concurrent launches never over-admit. The hub is read at most once per OCCUPIED_MAX_AGE, not
once per launch (forty learners pressing Launch at once queued behind forty hub reads): a
snapshot may miss a server started after it was read, so a started learner keeps their turn
until any snapshot in use is newer than their start (`turn_settle`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from django.conf import settings

from portal.cull_policy import wait_estimate
from portal.lifetimes import lifetime_observed
from portal.locks import LockBusy, redis_lock
from portal.redis_client import redis_client

log = logging.getLogger(__name__)

GO, WAIT, DEGRADED = "go", "wait", "degraded"
# Free accounts per credentials pool, asked of portal.lab by the callers (this module reads no database).
PoolsFree = Callable[[Collection[str]], dict[str, int]]
# Seconds a read of the hub's servers is used for admission decisions, and the margin a started
# learner's turn outlives it by (a decision taken with an older snapshot still counts them).
OCCUPIED_MAX_AGE = 2.0
TURN_SETTLE_MARGIN = 3.0


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached: the waiting list is degraded."""


@dataclass(frozen=True)
class Ticket:
    """A learner's place: go (launch now), wait (position, estimate) or degraded (no queue)."""

    status: str
    position: int = 0
    estimate_seconds: float = 0.0
    workshop: str = ""


def _key(name: str) -> str:
    return settings.ADMISSION_PREFIX + name


@contextmanager
def _queue() -> Iterator[redis.Redis]:
    """Yield Redis, turning its failures into QueueUnavailable."""
    try:
        yield redis_client()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        log.warning("waiting list unavailable: %s", error)
        raise QueueUnavailable(str(error)) from error


@contextmanager
def _admit_lock() -> Iterator[None]:
    """Serialise admission decisions (a few milliseconds each) across every portal process."""
    try:
        # Asked for every 5 ms, not redis-py's 100: a decision holds it for milliseconds, and forty
        # launches at once would otherwise queue in 100 ms steps (4 s for the last one).
        with redis_lock(_key("admit-lock"), timeout=30, wait=20, poll=0.005):
            yield
    except LockBusy as error:
        raise QueueUnavailable("admission lock not acquired") from error


def _turns_held(r: redis.Redis) -> set[str]:
    r.zremrangebyscore(_key("turns"), "-inf", time.time())
    return set(r.zrange(_key("turns"), 0, -1))


def _occupied(r: redis.Redis, occupied_read: Callable[[], set[str]]) -> set[str]:
    """Return who has a server: the shared snapshot if younger than OCCUPIED_MAX_AGE, else the
    hub's answer now (stored as the new snapshot). Called under the admission lock."""
    now = time.time()
    raw = r.get(_key("occupied"))
    if raw:
        snapshot = json.loads(raw)
        if now - OCCUPIED_MAX_AGE < snapshot["at"] <= now:
            return set(snapshot["names"])
    names = occupied_read()
    r.set(_key("occupied"), json.dumps({"at": now, "names": sorted(names)}), ex=int(OCCUPIED_MAX_AGE) + 1)
    return names


def _slots_free(r: redis.Redis, occupied_read: Callable[[], set[str]]) -> int:
    """Return capacity less the slots in use: turns and the hub's servers, each learner once.

    Turns are read first, then the hub (or its snapshot): a turn that lapsed in between was
    already a server in it (turn_settle keeps it longer than a snapshot lives). A learner between
    their turn and the hub's answer appears in both, and counts once.
    """
    held = _turns_held(r)
    return settings.HUB_CAPACITY - len(held | _occupied(r, occupied_read))


def _queue_prune(r: redis.Redis) -> None:
    """Release the places of learners who stopped polling."""
    members = r.zrange(_key("queue"), 0, -1)
    if not members:
        return
    pipe = r.pipeline()
    for user in members:
        pipe.exists(_key(f"seen:{user}"))
    for user, alive in zip(members, pipe.execute(), strict=True):
        if not alive:
            log.info("waiting list: %s left (place unattended)", user)
            r.zrem(_key("queue"), user)


def queue_length() -> int:
    """Return how many learners wait."""
    with _queue() as r:
        return r.zcard(_key("queue"))


def queue_admit(*, occupied_read: Callable[[], set[str]], pools_free: PoolsFree | None = None) -> list[str]:
    """Give the free slots to the first learners in the waiting list; return them.

    occupied_read returns who has a running or starting server; it is called under the
    admission lock when the shared snapshot is older than OCCUPIED_MAX_AGE.
    """
    with _queue() as r, _admit_lock():
        return _admit(r, free=_slots_free(r, occupied_read), pools_free=pools_free)


def _admit(r: redis.Redis, *, free: int, pools_free: PoolsFree | None = None) -> list[str]:
    """Give up to free slots to the waiting learners in order; one waiting for a pool only while
    the pool has an account left (pools_free; None: not checked, their launch checks)."""
    _queue_prune(r)
    if free <= 0:
        return []
    members = r.zrange(_key("queue"), 0, -1)
    if not members:
        return []
    pools = dict(zip(members, r.mget([_key(f"pool:{user}") for user in members]), strict=True))
    needed = {pool for pool in pools.values() if pool}
    left = pools_free(needed) if needed and pools_free is not None else {}
    admitted: list[str] = []
    for user in members:
        if len(admitted) >= free:
            break
        pool = pools.get(user)
        if pool and pools_free is not None:
            if left.get(pool, 0) <= 0:
                continue  # their pool is still full: they keep their place
            left[pool] -= 1
        admitted.append(user)
    if admitted:
        expiry = time.time() + settings.ADMISSION_TURN_TTL
        pipe = r.pipeline()
        pipe.zrem(_key("queue"), *admitted)
        pipe.zadd(_key("turns"), dict.fromkeys(admitted, expiry))
        pipe.execute()
        log.info("waiting list: admitted %s", ", ".join(admitted))
    return admitted


def _waiting_ticket(r: redis.Redis, *, user: str, workshop: str) -> Ticket:
    rank = r.zrank(_key("queue"), user)
    position = (rank or 0) + 1
    return Ticket(
        status=WAIT,
        position=position,
        estimate_seconds=wait_estimate(position=position, capacity=settings.HUB_CAPACITY, lifetime=lifetime_observed()),
        workshop=workshop,
    )


def admission_request(*, user: str, workshop: str, occupied_read: Callable[[], set[str]]) -> Ticket:
    """Admit a learner who needs a new server, or give them a place in the waiting list.

    occupied_read returns who has a running or starting server. On GO the learner holds a turn
    until `turn_release` (call it once the hub answered the start). Redis down: DEGRADED, and
    the hub's active_server_limit is the only limit.
    """
    try:
        with _queue() as r:
            now = time.time()
            if (r.zscore(_key("turns"), user) or 0) > now:
                return Ticket(status=GO, workshop=workshop)  # their turn came
            if r.zscore(_key("queue"), user) is not None:
                r.set(_key(f"seen:{user}"), workshop, ex=settings.ADMISSION_PLACE_TTL)
                return _waiting_ticket(r, user=user, workshop=workshop)
            with _admit_lock():
                _queue_prune(r)
                if r.zcard(_key("queue")) == 0 and _slots_free(r, occupied_read) > 0:
                    r.zadd(_key("turns"), {user: now + settings.ADMISSION_TURN_TTL})
                    return Ticket(status=GO, workshop=workshop)
            return queue_join(user=user, workshop=workshop)
    except QueueUnavailable:
        return Ticket(status=DEGRADED, workshop=workshop)


def queue_join(*, user: str, workshop: str, pool: str = "") -> Ticket:
    """Put a learner at the end of the waiting list (once); pool: the credentials pool they wait
    for (their workshop's lab ran out of accounts), else none."""
    try:
        with _queue() as r:
            r.set(_key(f"seen:{user}"), workshop, ex=settings.ADMISSION_PLACE_TTL)
            if pool:
                r.set(_key(f"pool:{user}"), pool, ex=settings.ADMISSION_PLACE_TTL)
            else:
                r.delete(_key(f"pool:{user}"))
            r.zadd(_key("queue"), {user: r.incr(_key("seq"))}, nx=True)
            return _waiting_ticket(r, user=user, workshop=workshop)
    except QueueUnavailable:
        return Ticket(status=DEGRADED, workshop=workshop)


def turn_release(*, user: str) -> None:
    """Drop a learner's turn: the hub refused their server (or they gave the slot up)."""
    try:
        with _queue() as r:
            r.zrem(_key("turns"), user)
    except QueueUnavailable:
        pass


def turn_settle(*, user: str) -> None:
    """Keep a learner's turn only until the hub's servers are read again after their start.

    The hub counts their server from now on, but a snapshot read before it (OCCUPIED_MAX_AGE at
    most) does not: the turn covers them until every snapshot in use is newer.
    """
    try:
        with _queue() as r:
            r.zadd(_key("turns"), {user: time.time() + OCCUPIED_MAX_AGE + TURN_SETTLE_MARGIN}, xx=True)
    except QueueUnavailable:
        pass


def queue_poll(*, user: str, occupied_read: Callable[[], set[str]], pools_free: PoolsFree | None = None) -> Ticket:
    """Return a waiting learner's ticket, admitting the head of the queue if slots are free."""
    try:
        with _queue() as r:
            if (r.zscore(_key("turns"), user) or 0) > time.time():
                return Ticket(status=GO, workshop=r.get(_key(f"seen:{user}")) or "")
            workshop = r.get(_key(f"seen:{user}"))
            if r.zscore(_key("queue"), user) is None or workshop is None:
                return Ticket(status="gone")
            r.set(_key(f"seen:{user}"), workshop, ex=settings.ADMISSION_PLACE_TTL)
            r.expire(_key(f"pool:{user}"), settings.ADMISSION_PLACE_TTL)
            # One poller per second does the admission check for everyone: the hub sees one
            # request a second however many learners wait.
            if r.set(_key("poll-admit"), "1", nx=True, ex=1):
                with _admit_lock():
                    _admit(r, free=_slots_free(r, occupied_read), pools_free=pools_free)
                if (r.zscore(_key("turns"), user) or 0) > time.time():
                    return Ticket(status=GO, workshop=workshop)
            return _waiting_ticket(r, user=user, workshop=workshop)
    except QueueUnavailable:
        return Ticket(status=DEGRADED)


def queue_leave(*, user: str) -> None:
    """Give up a place in the waiting list."""
    try:
        with _queue() as r:
            r.zrem(_key("queue"), user)
            r.delete(_key(f"seen:{user}"))
    except QueueUnavailable:
        pass


def queue_state() -> tuple[int, bool]:
    """Return (learners waiting, whether the waiting list works) for the status page."""
    try:
        return queue_length(), True
    except QueueUnavailable:
        return 0, False

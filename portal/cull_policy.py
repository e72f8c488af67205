"""The culling policy: pure functions deciding each server's fate (`now` passed in).

Like jupyterhub-idle-culler's `cull_arbiter`, nothing here talks to the hub or reads the
clock, so every rule is tested with plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

KEEP, CULL, SKIP = "keep", "cull", "skip"
IDLE, MAX_AGE, PRESSURE = "idle", "max-age", "pressure"


@dataclass(frozen=True)
class CullPolicy:
    """The operator's culling settings, in seconds (0 switches a rule off)."""

    idle_timeout: int = 1800
    max_age: int = 4 * 3600
    pressure_idle: int = 600

    @classmethod
    def from_settings(cls, settings: Any) -> CullPolicy:
        """Build from the CULL_* settings (the settings object is passed in: no Django here)."""
        return cls(
            idle_timeout=settings.CULL_IDLE_TIMEOUT,
            max_age=settings.CULL_MAX_AGE,
            pressure_idle=settings.CULL_PRESSURE_IDLE,
        )


@dataclass(frozen=True)
class ServerFacts:
    """What the hub says about one server."""

    user: str
    server: str  # "" is the default server
    ready: bool
    pending: str | None
    started: datetime | None
    last_activity: datetime | None
    extra_age: int = 0  # seconds granted by the learner's one extension

    @property
    def key(self) -> str:
        """Return the server's identity ("user" or "user/name")."""
        return f"{self.user}/{self.server}" if self.server else self.user


@dataclass(frozen=True)
class Decision:
    """keep, cull (reason idle / max-age / pressure) or skip (reason pending / not-ready)."""

    facts: ServerFacts
    action: str
    reason: str
    idle: float  # seconds since the last activity (or since the start)
    age: float  # seconds since the start

    @property
    def key(self) -> str:
        """Return the server's identity."""
        return self.facts.key


@dataclass(frozen=True)
class Pressure:
    """The host is full and learners wait: how many slots the waiting list needs."""

    capacity: int
    occupied: int  # running + starting servers
    waiting: int

    @property
    def slots_needed(self) -> int:
        """Return how many servers must go for every waiting learner to get one."""
        free = max(self.capacity - self.occupied, 0)
        return max(self.waiting - free, 0)


def _seconds(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)


def server_judge(*, facts: ServerFacts, now: datetime, policy: CullPolicy, busy: bool) -> Decision:
    """Decide one server by the idle and max-age rules (pressure is decided over all servers)."""
    age = _seconds(now, facts.started)
    # No activity yet (never connected): idle since the start, as the idle-culler does.
    idle = _seconds(now, facts.last_activity)
    idle = age if idle is None else idle
    age_s, idle_s = age or 0.0, idle or 0.0
    if facts.pending:
        return Decision(facts, SKIP, facts.pending, idle_s, age_s)
    if not facts.ready:
        return Decision(facts, SKIP, "not-ready", idle_s, age_s)
    if policy.max_age and age is not None and age >= policy.max_age + facts.extra_age:
        return Decision(facts, CULL, MAX_AGE, idle_s, age_s)  # a workshop slot is over, busy or not
    if busy:
        return Decision(facts, KEEP, "busy", idle_s, age_s)
    if policy.idle_timeout and idle is not None and idle >= policy.idle_timeout:
        return Decision(facts, CULL, IDLE, idle_s, age_s)
    return Decision(facts, KEEP, "active", idle_s, age_s)


def cull_decide(
    *,
    servers: Iterable[ServerFacts],
    now: datetime,
    policy: CullPolicy,
    busy: Mapping[str, bool],
    pressure: Pressure | None = None,
) -> list[Decision]:
    """Decide every server: the idle and max-age rules, then the pressure rule if the host is full.

    busy maps a server's key to whether a kernel is busy; an unchecked server counts as not busy.
    """
    decisions = [server_judge(facts=f, now=now, policy=policy, busy=busy.get(f.key, False)) for f in servers]
    if pressure is None or not policy.pressure_idle:
        return decisions
    needed = pressure.slots_needed - sum(1 for d in decisions if d.action == CULL)
    if needed <= 0:
        return decisions
    eligible = [
        i
        for i, d in enumerate(decisions)
        if d.action == KEEP and d.reason == "active" and d.idle >= policy.pressure_idle
    ]
    # The longest idle go first; the key breaks ties so the order never depends on the hub's.
    eligible.sort(key=lambda i: (-decisions[i].idle, decisions[i].key))
    for i in eligible[:needed]:
        d = decisions[i]
        decisions[i] = Decision(d.facts, CULL, PRESSURE, d.idle, d.age)
    return decisions


def busy_check_needed(
    *,
    servers: Iterable[ServerFacts],
    now: datetime,
    policy: CullPolicy,
    pressure: Pressure | None = None,
) -> list[str]:
    """Return the keys of servers a busy kernel could save (would be culled for idle or pressure).

    Only these are asked about their kernels, so a pass with nothing to cull costs no request
    per server.
    """
    keys = []
    for facts in servers:
        d = server_judge(facts=facts, now=now, policy=policy, busy=False)
        if (d.action == CULL and d.reason == IDLE) or (
            pressure is not None
            and pressure.slots_needed > 0
            and policy.pressure_idle
            and d.action == KEEP
            and d.idle >= policy.pressure_idle
        ):
            keys.append(d.key)
    return keys


def backoff_seconds(*, failures: int, interval: float, cap: float) -> float:
    """Return how long to wait after failures consecutive failed runs (exponential, capped)."""
    if failures <= 0:
        return 0.0
    return min(interval * 2 ** min(failures - 1, 30), cap)


def wait_estimate(*, position: int, capacity: int, lifetime: float) -> float:
    """Return the expected wait in seconds for the position-th learner in the queue.

    With capacity servers each living lifetime seconds on average and started at spread-out
    times, a slot frees every lifetime / capacity seconds.
    """
    if position <= 0:
        return 0.0
    return position * lifetime / max(capacity, 1)


def stop_forecast(*, facts: ServerFacts, now: datetime, policy: CullPolicy) -> tuple[float, str] | None:
    """Return (seconds left, "idle" or "age") before the culler stops the server as it is."""
    limits = []
    if policy.max_age and facts.started:
        limits.append((policy.max_age + facts.extra_age - (now - facts.started).total_seconds(), "age"))
    if policy.idle_timeout:
        last = facts.last_activity or facts.started
        if last:
            limits.append((policy.idle_timeout - (now - last).total_seconds(), "idle"))
    if not limits:
        return None
    seconds, reason = min(limits)
    return max(seconds, 0.0), reason

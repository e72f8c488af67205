"""The culling policy, as pure functions: plain values in, decisions out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.cull_policy import (
    CULL,
    IDLE,
    KEEP,
    MAX_AGE,
    PRESSURE,
    SKIP,
    CullPolicy,
    Pressure,
    ServerFacts,
    backoff_seconds,
    busy_check_needed,
    cull_decide,
    server_judge,
    stop_forecast,
    wait_estimate,
)

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
POLICY = CullPolicy(idle_timeout=1800, max_age=4 * 3600, pressure_idle=600)


def server(user="ada", *, idle=0, age=3600, pending=None, ready=True, extra=0) -> ServerFacts:
    return ServerFacts(
        user=user,
        server="",
        ready=ready,
        pending=pending,
        started=NOW - timedelta(seconds=age),
        last_activity=NOW - timedelta(seconds=idle),
        extra_age=extra,
    )


def judge(facts, busy=False):
    d = server_judge(facts=facts, now=NOW, policy=POLICY, busy=busy)
    return d.action, d.reason


def test_idle_longer_than_the_timeout_is_culled_and_shorter_is_kept():
    assert judge(server(idle=1800)) == (CULL, IDLE)
    assert judge(server(idle=1799)) == (KEEP, "active")


def test_a_busy_kernel_protects_an_idle_server_but_not_past_the_maximum_age():
    assert judge(server(idle=7200), busy=True) == (KEEP, "busy")
    assert judge(server(idle=7200, age=4 * 3600), busy=True) == (CULL, MAX_AGE)
    assert judge(server(idle=0, age=4 * 3600)) == (CULL, MAX_AGE)


def test_an_extension_pushes_the_maximum_age():
    assert judge(server(age=4 * 3600 + 10, extra=3600)) == (KEEP, "active")
    assert judge(server(age=5 * 3600, extra=3600)) == (CULL, MAX_AGE)


def test_pending_and_not_ready_servers_are_skipped_even_when_old():
    assert judge(server(idle=9999, age=99999, pending="spawn")) == (SKIP, "spawn")
    assert judge(server(idle=9999, age=99999, pending="stop")) == (SKIP, "stop")
    assert judge(server(idle=9999, ready=False)) == (SKIP, "not-ready")


def test_no_activity_yet_counts_idle_from_the_start():
    facts = ServerFacts("ada", "", True, None, NOW - timedelta(seconds=2000), None)
    assert judge(facts) == (CULL, IDLE)


def test_a_rule_set_to_zero_is_off():
    off = CullPolicy(idle_timeout=0, max_age=0, pressure_idle=0)
    d = server_judge(facts=server(idle=10**6, age=10**7), now=NOW, policy=off, busy=False)
    assert (d.action, d.reason) == (KEEP, "active")


def test_under_pressure_the_longest_idle_go_first_one_per_waiting_learner():
    servers = [server("a", idle=700), server("b", idle=1500), server("c", idle=100), server("d", idle=900)]
    pressure = Pressure(capacity=4, occupied=4, waiting=2)
    decisions = {
        d.key: (d.action, d.reason)
        for d in cull_decide(servers=servers, now=NOW, policy=POLICY, busy={}, pressure=pressure)
    }
    assert decisions == {"a": (KEEP, "active"), "b": (CULL, PRESSURE), "c": (KEEP, "active"), "d": (CULL, PRESSURE)}


def test_pressure_counts_regular_culls_and_free_slots_and_spares_busy_and_recent_servers():
    servers = [server("a", idle=4000), server("b", idle=1500), server("c", idle=100), server("d", idle=900)]
    # Two waiting, one slot free: one more slot needed, and a's idle cull already gives it.
    pressure = Pressure(capacity=5, occupied=4, waiting=2)
    got = cull_decide(servers=servers, now=NOW, policy=POLICY, busy={}, pressure=pressure)
    assert [d.key for d in got if d.action == CULL] == ["a"]
    # Three waiting, host full: b is busy, c too recent: only d can go besides a.
    pressure = Pressure(capacity=4, occupied=4, waiting=3)
    got = cull_decide(servers=servers, now=NOW, policy=POLICY, busy={"b": True}, pressure=pressure)
    assert {d.key: d.reason for d in got if d.action == CULL} == {"a": IDLE, "d": PRESSURE}


def test_busy_checks_are_asked_only_for_servers_a_kernel_could_save():
    servers = [
        server("idle", idle=4000),
        server("fresh", idle=10),
        server("old", age=5 * 3600),
        server("mid", idle=900),
    ]
    assert busy_check_needed(servers=servers, now=NOW, policy=POLICY) == ["idle"]
    pressure = Pressure(capacity=4, occupied=4, waiting=1)
    assert busy_check_needed(servers=servers, now=NOW, policy=POLICY, pressure=pressure) == ["idle", "mid"]


@given(
    idles=st.lists(st.integers(min_value=0, max_value=20000), min_size=0, max_size=30),
    waiting=st.integers(min_value=0, max_value=40),
    capacity=st.integers(min_value=1, max_value=40),
)
def test_pressure_never_culls_more_than_needed_and_prefers_the_longest_idle(idles, waiting, capacity):
    servers = [server(f"u{i}", idle=idle, age=idle + 60) for i, idle in enumerate(idles)]
    pressure = Pressure(capacity=capacity, occupied=len(servers), waiting=waiting)
    decisions = cull_decide(servers=servers, now=NOW, policy=POLICY, busy={}, pressure=pressure)
    regular = [d for d in decisions if d.reason in (IDLE, MAX_AGE)]
    pressured = [d for d in decisions if d.reason == PRESSURE]
    assert len(pressured) <= max(pressure.slots_needed - len(regular), 0)
    kept = [d for d in decisions if d.action == KEEP and d.idle >= POLICY.pressure_idle]
    if pressured and kept:
        assert min(d.idle for d in pressured) >= max(d.idle for d in kept)


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(failures=n, interval=60, cap=900) for n in range(6)] == [0, 60, 120, 240, 480, 900]


def test_wait_estimate_and_remaining_time():
    assert wait_estimate(position=2, capacity=4, lifetime=1200) == 600
    assert wait_estimate(position=0, capacity=4, lifetime=1200) == 0
    assert stop_forecast(facts=server(idle=1700, age=100), now=NOW, policy=POLICY)[0] == 100
    assert stop_forecast(facts=server(idle=0, age=4 * 3600 - 50), now=NOW, policy=POLICY)[0] == 50


def test_the_stop_forecast_says_whether_using_the_server_would_help():
    # Idle: using the server resets the clock; over age: only an extension helps.
    assert stop_forecast(facts=server(idle=1700, age=100), now=NOW, policy=POLICY) == (100, "idle")
    assert stop_forecast(facts=server(idle=0, age=4 * 3600 - 50), now=NOW, policy=POLICY) == (50, "age")
    assert stop_forecast(facts=server(idle=0, age=4 * 3600 - 50, extra=3600), now=NOW, policy=POLICY) == (
        1800,
        "idle",
    )
    assert stop_forecast(facts=server(), now=NOW, policy=CullPolicy(idle_timeout=0, max_age=0)) is None

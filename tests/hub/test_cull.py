"""The culler against a real hub: idle, busy kernels, maximum age, pagination, one run at a time."""

from __future__ import annotations

import io
import math
import os
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from portal.cull import servers_cull
from portal.hub import HubClient
from portal.models import CullEvent, CullRun
from tests.hub.cullkit import kernel_make_busy, servers_running, servers_start, servers_stop_all, users_create

pytestmark = [pytest.mark.hub, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cull_settings(hub, settings):
    """Default policy; a waiting list of its own (the Redis is shared)."""
    settings.CULL_IDLE_TIMEOUT = 1800
    settings.CULL_MAX_AGE = 4 * 3600
    settings.CULL_PRESSURE_IDLE = 600
    settings.HUB_CAPACITY = 4
    settings.ADMISSION_PREFIX = f"test-cull-{time.monotonic_ns()}:"
    return settings


def kernel_processes(kernel: str) -> list[int]:
    """Return the ids of the processes running the kernel kernel (its id is in its command line)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if kernel.encode() in cmdline.read():
                    found.append(int(pid))
        except OSError:
            pass  # ended meanwhile
    return found


def mine(report, names):
    return {d.key: (d.action, d.reason) for d in report.decisions if d.key in names}


def test_idle_servers_are_culled_after_the_timeout_and_recorded(hub, cull_settings):
    names = ["idle-ada", "idle-bob"]
    servers_start(hub, names)
    try:
        now = timezone.now()
        report = servers_cull(now=now)
        assert mine(report, names) == {n: ("keep", "active") for n in names}
        assert not any(k in names for k in report.stops)

        out = io.StringIO()
        call_command("cull", "--dry-run", stdout=out)
        lines = {line.split()[0]: line.split()[1:3] for line in out.getvalue().splitlines() if line.startswith("idle-")}
        assert lines == {n: ["keep", "active"] for n in names}
        assert "dry run: none stopped" in out.getvalue()

        # Half an hour later (time injected: the hub's activity never goes backwards).
        later = now + timedelta(seconds=1800 + 60)
        report = servers_cull(now=later)
        assert mine(report, names) == {n: ("cull", "idle") for n in names}
        assert all(report.stops[n] in ("stopped", "stopping") for n in names)
        for name in names:
            hub.wait_stopped(name)
        events = CullEvent.objects.filter(user__in=names)
        assert sorted((e.user, e.reason, e.decided_at) for e in events) == [(n, "idle", later) for n in names]
        assert all(e.outcome in ("stopped", "stopping") and e.idle_seconds >= 1800 for e in events)
        run = CullRun.objects.latest()
        assert run.outcome == "ok" and run.culled >= 2
    finally:
        servers_stop_all(hub, names)


def test_every_server_end_counts_as_a_lifetime_for_the_wait_estimate(hub, cull_settings):
    """A learner stopping their own server (not a cull) still tells the waiting page how long
    servers live."""
    from portal.lifetimes import lifetime_observed
    from portal.models import ServerLife

    names = ["life-ada", "life-bob"]
    servers_start(hub, names)
    try:
        seen = timezone.now()
        servers_cull(now=seen)
        assert set(ServerLife.objects.filter(ended__isnull=True).values_list("user", flat=True)) >= set(names)
        assert lifetime_observed() == 1800  # nothing ended yet: the idle timeout stands in

        servers_stop_all(hub, ["life-ada"])  # the learner pressed Stop
        servers_cull(now=seen + timedelta(seconds=60))
        ada = ServerLife.objects.get(user="life-ada")
        bob = ServerLife.objects.get(user="life-bob")
        assert ada.ended == seen and bob.ended is None and bob.last_seen == seen + timedelta(seconds=60)
        assert lifetime_observed() == pytest.approx((seen - ada.started).total_seconds())
        assert not CullEvent.objects.filter(user__in=names).exists()  # nobody was culled
    finally:
        servers_stop_all(hub, names)


def test_a_busy_kernel_protects_its_server_until_the_maximum_age(hub, cull_settings):
    names = ["busy-cleo"]
    servers_start(hub, names)
    try:
        kernel = kernel_make_busy(hub, "busy-cleo")
        assert kernel_processes(kernel), "the busy kernel's process should be found"
        now = timezone.now()
        report = servers_cull(now=now + timedelta(hours=1))
        assert mine(report, names) == {"busy-cleo": ("keep", "busy")}
        assert "busy-cleo" in servers_running(hub)

        report = servers_cull(now=now + timedelta(hours=4, minutes=1))
        assert mine(report, names) == {"busy-cleo": ("cull", "max-age")}
        assert report.stops["busy-cleo"] in ("stopped", "stopping")
        hub.wait_stopped("busy-cleo", timeout=60)
        assert CullEvent.objects.get(user="busy-cleo").reason == "max-age"
        # The kernel does not outlive its server: a leaked kernel would hold the host's memory.
        deadline = time.monotonic() + 20
        while kernel_processes(kernel) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not kernel_processes(kernel)
    finally:
        servers_stop_all(hub, names)


def test_the_maximum_age_stops_an_active_server(hub, cull_settings):
    names = ["old-dan"]
    servers_start(hub, names)
    try:
        now = timezone.now()
        with hub.api() as api:  # active a minute before "now + 4 h": never idle
            stamp = (now + timedelta(hours=4)).isoformat().replace("+00:00", "Z")
            api.post("/users/old-dan/activity", json={"servers": {"": {"last_activity": stamp}}})
        report = servers_cull(now=now + timedelta(hours=4, seconds=1))
        assert mine(report, names) == {"old-dan": ("cull", "max-age")}
        hub.wait_stopped("old-dan")
    finally:
        servers_stop_all(hub, names)


def test_pagination_is_followed_past_200_users_and_across_pages_of_servers(hub, cull_settings):
    many = [f"page-{i:03}" for i in range(210)]
    users_create(hub, many)
    with HubClient(api_url=hub.api_url, token=hub.culler_token) as client:
        listed = [u.name for u in client.users_list()]
        assert set(many) <= set(listed) and len(listed) == len(set(listed))
        assert client.requests == math.ceil(len(listed) / 200)

    names = ["page-207", "page-208", "page-209"]
    servers_start(hub, names)
    try:
        # Pages of two servers: the cull must walk every page, in as many requests.
        client = HubClient(api_url=hub.api_url, token=hub.culler_token, page_size=2, public_url=hub.url)
        with client:
            dry = servers_cull(now=timezone.now(), dry_run=True, hub=client)
        assert len(dry.decisions) == len(servers_running(hub))
        assert dry.hub_requests == math.ceil(len(dry.decisions) / 2)
        with HubClient(api_url=hub.api_url, token=hub.culler_token, page_size=2, public_url=hub.url) as client:
            report = servers_cull(now=timezone.now() + timedelta(hours=1), hub=client)
        assert mine(report, names) == {n: ("cull", "idle") for n in names}
        for name in names:
            hub.wait_stopped(name)
    finally:
        servers_stop_all(hub, names)


def test_two_concurrent_runs_never_stop_a_server_twice(hub, cull_settings):
    names = ["twice-eve", "twice-fay", "twice-gus"]
    servers_start(hub, names)
    later = timezone.now() + timedelta(hours=1)
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        from django.db import connection

        barrier.wait()
        try:
            reports.append(servers_cull(now=later))
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stopped = [k for r in reports for k in r.stops if k in names]
        assert sorted(stopped) == sorted(names)  # each once, by whichever run held the lock
        assert sorted(CullEvent.objects.filter(user__in=names).values_list("user", flat=True)) == sorted(names)
        assert {r.outcome for r in reports} <= {"ok", "busy"}
    finally:
        servers_stop_all(hub, names)


def test_the_culler_token_cannot_start_servers_or_create_users(hub, cull_settings):
    users_create(hub, ["token-hal"])
    with hub.api(hub.culler_token) as api:
        assert api.get("/users", params={"state": "ready"}).status_code == 200  # list:users
        assert api.post("/users/token-hal/server").status_code == 403
        assert api.post("/users", json={"usernames": ["intruder"]}).status_code == 403
        assert api.post("/users/intruder").status_code == 403
        assert api.post("/users/token-hal/tokens", json={}).status_code == 403
        assert api.delete("/users/token-hal").status_code == 403
        assert api.get("/users/intruder").status_code == 404
    assert "token-hal" not in servers_running(hub)


def test_a_down_hub_is_backed_off_not_flooded(hub, cull_settings, db):
    cull_settings.CULL_INTERVAL = 60
    dead = HubClient(api_url="http://127.0.0.1:9/hub/api", token="x", timeout=1)
    now = timezone.now()
    first = servers_cull(now=now, hub=dead)
    assert first.outcome == "hub-down" and first.hub_requests == 1
    # Within the back-off window: no request at all.
    second = servers_cull(now=now + timedelta(seconds=30), hub=dead)
    assert second.outcome == "backoff" and dead.requests == 1
    # After one interval it tries again, fails again, and the window doubles.
    assert servers_cull(now=now + timedelta(seconds=61), hub=dead).outcome == "hub-down"
    assert servers_cull(now=now + timedelta(seconds=150), hub=dead).outcome == "backoff"
    assert dead.requests == 2
    # A healthy run resets the back-off.
    assert servers_cull(now=now + timedelta(seconds=400)).outcome == "ok"


def test_a_token_the_hub_does_not_know_ends_the_run_as_failed_and_is_retried(hub, cull_settings):
    """The culler missing from the hub's configuration (its token unknown there): the hub answers
    403, the run ends as failed with that answer recorded (never left "running"), and the next
    pass is not backed off: with the right token it culls again."""
    now = timezone.now()
    with HubClient(api_url=hub.api_url, token="a-token-this-hub-never-issued", public_url=hub.url) as stranger:
        report = servers_cull(now=now, hub=stranger)
    run = CullRun.objects.get(pk=report.run.pk)
    assert report.outcome == run.outcome == "failed" and run.finished_at is not None
    assert "403" in run.error, run.error
    assert servers_cull(now=now + timedelta(seconds=1)).outcome == "ok"


def test_a_cull_pass_gives_back_the_labs_of_servers_it_stopped_and_of_servers_gone(hub, cull_settings, lab_key):
    """A culled learner's lab and that of a learner whose server went away otherwise (stopped from
    the hub's own page, or dead) end: ports and leases back, a running learner's kept."""
    from django.contrib.auth.models import User

    from portal.lab import lab_grant
    from portal.models import LabPort, LabSession, Lease
    from tests.portal.labkit import SPEC, pool_load

    pool_load(accounts=3)
    names = ["lab-idle", "lab-busy"]
    servers_start(hub, names)
    try:
        for name in [*names, "lab-gone"]:
            lab_grant(user=User.objects.create(username=name), workshop_slug="redfish", spec=SPEC)
        busy = kernel_make_busy(hub, "lab-busy")
        assert busy
        later = timezone.now() + timedelta(seconds=1800 + 60)
        report = servers_cull(now=later)
        assert mine(report, names) == {"lab-idle": ("cull", "idle"), "lab-busy": ("keep", "busy")}
        ended = dict(LabSession.objects.filter(ended_at__isnull=False).values_list("user__username", "end_reason"))
        assert ended.keys() == {"lab-idle", "lab-gone"} and ended["lab-idle"] == "culled"
        assert LabSession.objects.get(user__username="lab-busy").ended_at is None
        held = Lease.objects.filter(released_at__isnull=True).values_list("session__user__username", flat=True)
        assert list(held) == ["lab-busy"]
        assert set(
            LabPort.objects.filter(released_at__isnull=True).values_list("session__user__username", flat=True)
        ) == {"lab-busy"}
    finally:
        servers_stop_all(hub, names)

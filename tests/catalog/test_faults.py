"""Faults: locks that lapse with their holder, stale runs reaped, pushes that survive a dead
worker, and the cull that never waits behind a sync.

The worker tests (marker celery) run real Celery workers on a Redis of their own, kill them
with SIGKILL in the middle of a sync held up by a git that hangs, and look at what an
operator and a learner would see: the runs, the catalog, the lock.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import OutboxMessage, SyncRequest, SyncRun, Workshop
from catalog.sync import RUN_ABANDONED, SYNC_LOCK, SYNC_TASK, SYNC_WAIT_STALE, catalog_recover, sync_request
from catalog.tasks import catalog_sync_task
from portal.locks import LockBusy, lock_held, singleton_lock
from tests.celeryworker import celery_worker
from tests.contentrepo import ContentRepo, workshop_yml
from tests.faultkit import RedisServer, SlowGit, database_url, free_port, own_redis, wait_for, worker_env

LEASE = 2  # the workers' lock lease in these tests (seconds; production: 30)
ROOT = Path(__file__).resolve().parent.parent.parent


# --- locks ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lock_outlives_its_lease_while_its_holder_works_and_is_free_after(settings) -> None:
    """The heartbeat renews the lease: a job longer than the lease keeps its lock to the end."""
    settings.LOCK_LEASE_SECONDS = 1
    name = f"test-{uuid.uuid4().hex[:8]}"
    with singleton_lock(name, timeout=60):
        time.sleep(2.5)  # two and a half leases
        assert lock_held(name)
        with pytest.raises(LockBusy), singleton_lock(name, timeout=60):
            pass
    assert not lock_held(name)


@pytest.mark.django_db
def test_a_lock_held_past_its_limit_is_no_longer_renewed(settings) -> None:
    """A holder hung past its longest allowed hold loses the lock within one lease."""
    settings.LOCK_LEASE_SECONDS = 1
    name = f"test-{uuid.uuid4().hex[:8]}"
    with singleton_lock(name, timeout=1.2):
        wait_for(lambda: not lock_held(name), timeout=5, what="the lock to lapse")


def test_lock_held_sees_a_file_lock_holder(settings) -> None:
    """On the embedded default (file locks) a reaper can tell a live holder too."""
    settings.CELERY_BROKER_URL = "filesystem://"
    assert not lock_held("catalog-sync")
    with singleton_lock("catalog-sync", timeout=60):
        assert lock_held("catalog-sync")
    assert not lock_held("catalog-sync")


# --- pushes coalesce; a pushed commit stays until synced -------------------------------


def _push(branch: str, commit: str) -> bool:
    """Record a push as the webhook does: in a transaction of its own."""
    with transaction.atomic():
        return sync_request(branch=branch, commit=commit)


@pytest.mark.django_db
def test_pushes_coalesce_into_one_waiting_sync_that_reads_the_newest_commit(content_repo: ContentRepo) -> None:
    content_repo.add_workshop("redfish-101", meta={"title": "Redfish 101"})
    first = content_repo.commit("first")
    content_repo.write("redfish-101/workshop.yml", workshop_yml(title="Redfish 101, revised"))
    second = content_repo.commit("second")

    assert _push("main", first) is True  # queues a sync
    assert _push("main", second) is False  # the waiting sync will read it
    assert list(OutboxMessage.objects.values_list("task", "kwargs")) == [
        (SYNC_TASK, {"branch": "main", "trigger": "push"})
    ]

    run = SyncRun.objects.get(pk=catalog_sync_task.apply(kwargs={"branch": "main", "trigger": "push"}).get())
    assert (run.status, run.commit_sha) == (SyncRun.Status.OK, second)
    assert Workshop.objects.get(slug="redfish-101").title == "Redfish 101, revised"
    pending = SyncRequest.objects.get(branch="main")
    assert (pending.commit, pending.waiting_since, pending.pushes) == ("", None, 2)
    assert _push("main", second) is True  # nothing waits any more: the next push queues a sync


@pytest.mark.django_db
def test_a_failed_sync_keeps_the_pushed_commit_and_recovery_queues_it_again(content_repo, settings) -> None:
    content_repo.add_workshop("redfish-101")
    sha = content_repo.commit("first")
    _push("main", sha)
    source = settings.CATALOG_SOURCE
    settings.CATALOG_SOURCE = str(content_repo.root / "gone.git")  # the content host is down

    run = SyncRun.objects.get(pk=catalog_sync_task.apply(kwargs={"branch": "main", "trigger": "push"}).get())
    assert run.status == SyncRun.Status.ERROR
    assert SyncRequest.objects.get(branch="main").commit == sha  # not forgotten

    assert catalog_recover() == {"reaped": 0, "queued": 1}
    assert OutboxMessage.objects.filter(task=SYNC_TASK).count() == 2
    assert catalog_recover() == {"reaped": 0, "queued": 0}  # queued once: that sync now waits
    settings.CATALOG_SOURCE = source
    run = SyncRun.objects.get(pk=catalog_sync_task.apply(kwargs={"branch": "main", "trigger": "push"}).get())
    assert (run.status, run.commit_sha) == (SyncRun.Status.OK, sha)
    assert SyncRequest.objects.get(branch="main").commit == ""


@pytest.mark.django_db
def test_recovery_queues_again_a_sync_that_waited_too_long() -> None:
    """A queued sync lost with its message (Redis lost it) is queued again after SYNC_WAIT_STALE."""
    now = timezone.now()
    SyncRequest.objects.create(branch="main", commit="a" * 40, waiting_since=now - timedelta(minutes=1))
    assert catalog_recover(now=now)["queued"] == 0  # still young: it is probably behind other work
    assert catalog_recover(now=now + SYNC_WAIT_STALE)["queued"] == 1
    assert SyncRequest.objects.get().waiting_since == now + SYNC_WAIT_STALE


@pytest.mark.django_db
def test_recovery_closes_a_run_whose_worker_is_gone_but_not_a_live_one(settings) -> None:
    settings.LOCK_LEASE_SECONDS = 5
    stale = SyncRun.objects.create(source="x", branch="main")
    with singleton_lock(SYNC_LOCK, timeout=60):  # a live sync: its run is not stale
        assert catalog_recover()["reaped"] == 0
    assert SyncRun.objects.get(pk=stale.pk).status == SyncRun.Status.RUNNING
    assert catalog_recover()["reaped"] == 1
    stale.refresh_from_db()
    assert (stale.status, stale.error) == (SyncRun.Status.FAILED, RUN_ABANDONED)
    assert stale.finished_at is not None


@pytest.mark.django_db
def test_a_sync_closes_runs_left_running_before_it_starts(content_repo) -> None:
    content_repo.add_workshop("redfish-101")
    content_repo.commit("first")
    stale = SyncRun.objects.create(source="x", branch="main")
    run = SyncRun.objects.get(pk=catalog_sync_task.apply(kwargs={"trigger": "schedule"}).get())
    assert run.status == SyncRun.Status.OK
    assert SyncRun.objects.get(pk=stale.pk).status == SyncRun.Status.FAILED


def test_the_queued_sync_task_is_the_registered_one() -> None:
    assert catalog_sync_task.name == SYNC_TASK


@pytest.mark.django_db
def test_a_cull_pass_closes_passes_left_running(settings) -> None:
    """A pass whose worker died stays "running" only until the next pass (every CULL_INTERVAL)."""
    from portal.cull import RUN_ABANDONED as CULL_ABANDONED
    from portal.cull import servers_cull
    from portal.models import CullRun

    settings.HUB_API_URL = f"http://127.0.0.1:{free_port()}/hub/api"  # hub down: the pass ends at once
    stale = CullRun.objects.create(started_at=timezone.now() - timedelta(minutes=5))
    report = servers_cull(now=timezone.now())
    stale.refresh_from_db()
    assert (stale.outcome, stale.error) == (CullRun.Outcome.FAILED, CULL_ABANDONED)
    assert report.run.outcome == CullRun.Outcome.HUB_DOWN


def test_cull_and_admission_have_their_own_queue_and_worker_in_every_deployment(settings) -> None:
    """Routes send the capacity tasks to their queue; the Procfile and compose run a worker for it
    beside the sync worker, which does not take it."""
    import yaml

    capacity, default = settings.CELERY_CAPACITY_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE
    routes = settings.CELERY_TASK_ROUTES
    assert capacity != default
    assert routes["portal.tasks.servers_cull_task"] == {"queue": capacity}  # cull and admission
    assert routes["catalog.tasks.outbox_relay_task"] == {"queue": capacity}
    assert "catalog.tasks.catalog_sync_task" not in routes and "catalog.tasks.pull_request_validate_task" not in routes
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert "-Q ${CELERY_CAPACITY_QUEUE:-capacity} " in procfile["capacity"]
    assert "-Q ${CELERY_TASK_DEFAULT_QUEUE:-celery} " in procfile["worker"]
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, queue in (
        ("capacity", "${CELERY_CAPACITY_QUEUE:-capacity}"),
        ("worker", "${CELERY_TASK_DEFAULT_QUEUE:-celery}"),
    ):
        command = services[name]["command"]
        assert command[:4] == ["celery", "-A", "portal", "worker"] and command[command.index("-Q") + 1] == queue
    # Workers give back the memory of a large task, and every periodic task expires before its next run.
    assert settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD > 0 and settings.CELERY_WORKER_MAX_TASKS_PER_CHILD > 0
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert 0 < entry["options"]["expires"] < entry["schedule"]


# --- real workers, killed ----------------------------------------------------------------


@pytest.fixture
def redis_of_our_own(tmp_path, settings):
    """A Redis for this test alone, the broker and lock store of this process and its workers."""
    if connection.vendor != "postgresql":
        pytest.skip("workers share the test database: needs PostgreSQL")
    with own_redis(tmp_path / "redis", settings) as server:
        yield server


def _env(tmp_path, settings, server: RedisServer, **extra: str) -> dict[str, str]:
    return worker_env(database_url=database_url(), broker_url=server.url, tmp=tmp_path, settings=settings,
                      LOCK_LEASE_SECONDS=str(LEASE), **extra)  # fmt: skip


def _kill(pid: int) -> None:
    """SIGKILL one process we started (a worker, or the git shim it ran)."""
    with suppress(ProcessLookupError):  # already gone
        os.kill(pid, signal.SIGKILL)


@pytest.mark.celery
def test_a_cull_runs_promptly_while_a_long_sync_holds_the_catalog_worker(
    content_repo, transactional_db, redis_of_our_own, tmp_path, settings
) -> None:
    from portal.models import CullRun
    from portal.tasks import servers_cull_task

    content_repo.add_workshop("redfish-101")
    content_repo.commit("first")
    git = SlowGit(tmp_path)
    git.close_gate()
    env = _env(tmp_path, settings, redis_of_our_own, HUB_API_URL=f"http://127.0.0.1:{free_port()}/hub/api",
               CULLER_SERVICE_TOKEN=settings.CULLER_SERVICE_TOKEN)  # fmt: skip
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    try:
        with (
            celery_worker(env={**env, "PATH": git.path}, log_path=tmp_path / "catalog.log", queue=queue,
                          consume="default"),
            celery_worker(env=env, log_path=tmp_path / "capacity.log", queue=queue, consume="capacity"),
        ):  # fmt: skip
            catalog_sync_task.apply_async(kwargs={"trigger": "schedule"})
            wait_for(git.hanging, timeout=30, what="the sync to hang in git fetch")
            queued_at = time.monotonic()
            servers_cull_task.apply_async(expires=60)
            run = wait_for(lambda: CullRun.objects.exclude(outcome="running").first(), timeout=30, what="a cull")
            delay = time.monotonic() - queued_at
            assert SyncRun.objects.get().status == SyncRun.Status.RUNNING  # the sync still holds its worker
            assert run.outcome == CullRun.Outcome.HUB_DOWN  # it ran (against a hub that is down)
            assert delay < 10, f"the cull waited {delay:.1f} s"  # the sync hangs until the gate opens
            git.open_gate()
            wait_for(lambda: SyncRun.objects.filter(status="ok").exists(), timeout=30, what="the sync")
    finally:
        git.open_gate()


@pytest.mark.celery
def test_a_worker_killed_mid_sync_frees_the_lock_within_a_lease_and_the_newer_push_is_synced(
    content_repo, transactional_db, redis_of_our_own, tmp_path, settings
) -> None:
    """Two catalog workers: one hangs in git and is killed; the push that arrived meanwhile,
    retrying behind the dead worker's lock, syncs the catalog once the lease lapses."""
    content_repo.add_workshop("redfish-101", meta={"title": "Redfish 101"})
    first = content_repo.commit("first")
    git = SlowGit(tmp_path)
    git.close_gate()
    env = {**_env(tmp_path, settings, redis_of_our_own), "PATH": git.path}
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    try:
        with (
            celery_worker(env=env, log_path=tmp_path / "w1.log", queue=queue, consume="default") as one,
            celery_worker(env=env, log_path=tmp_path / "w2.log", queue=queue, consume="default") as two,
        ):
            _push("main", first)
            shim, worker = wait_for(git.hanging, timeout=30, what="the sync to hang in git fetch")
            dead = SyncRun.objects.get(status="running")
            content_repo.add_workshop("oneview-101", meta={"title": "OneView 101"})
            second = content_repo.commit("second")
            assert _push("main", second) is True  # the running sync claimed the first: a new one waits
            time.sleep(1)  # the other worker takes it, finds the lock busy and retries

            assert worker in (one.pid, two.pid)
            _kill(worker)
            _kill(shim)
            killed_at = time.monotonic()
            git.open_gate()
            wait_for(lambda: not lock_held(SYNC_LOCK), timeout=LEASE + 5, what="the dead worker's lock to lapse")
            assert time.monotonic() - killed_at <= LEASE + 1.5

            done = wait_for(lambda: SyncRun.objects.filter(status="ok").first(), timeout=60, what="the next sync")
    finally:
        git.open_gate()
    assert done.commit_sha == second and done.trigger == "push"
    assert set(Workshop.objects.values_list("slug", "commit_sha")) == {("redfish-101", second),
                                                                       ("oneview-101", second)}  # fmt: skip
    dead.refresh_from_db()
    assert (dead.status, dead.error) == (SyncRun.Status.FAILED, RUN_ABANDONED)
    assert SyncRequest.objects.get(branch="main").commit == ""


@pytest.mark.celery
def test_a_pushed_commit_whose_sync_died_is_synced_after_recovery(
    content_repo, transactional_db, redis_of_our_own, tmp_path, settings
) -> None:
    """One worker, killed while syncing the only push: nothing else is queued, so the periodic
    recovery closes the run and queues the commit again for the restarted worker."""
    content_repo.add_workshop("redfish-101", meta={"title": "Redfish 101"})
    sha = content_repo.commit("first")
    git = SlowGit(tmp_path)
    git.close_gate()
    env = _env(tmp_path, settings, redis_of_our_own)
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    try:
        with celery_worker(env={**env, "PATH": git.path}, log_path=tmp_path / "w1.log", queue=queue,
                           consume="default"):  # fmt: skip
            _push("main", sha)
            shim, worker = wait_for(git.hanging, timeout=30, what="the sync to hang in git fetch")
            _kill(worker)
            _kill(shim)
    finally:
        git.open_gate()
    wait_for(lambda: not lock_held(SYNC_LOCK), timeout=LEASE + 5, what="the lock to lapse")
    with celery_worker(env=env, log_path=tmp_path / "w2.log", queue=queue, consume="default"):  # restarted
        assert catalog_recover() == {"reaped": 1, "queued": 1}  # what beat runs every minute
        assert SyncRun.objects.get().error == RUN_ABANDONED
        done = wait_for(lambda: SyncRun.objects.filter(status="ok").first(), timeout=60, what="the sync")
    assert done.commit_sha == sha
    assert Workshop.objects.get(slug="redfish-101").commit_sha == sha
    assert SyncRequest.objects.get(branch="main").commit == ""


class FrozenHub:
    """A hub that accepts connections and never answers (SIGSTOPped, or wedged)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hub/api"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.celery
def test_a_cull_pass_left_running_by_a_killed_worker_is_closed_by_the_next_pass(
    transactional_db, redis_of_our_own, tmp_path, settings
) -> None:
    from portal.cull import RUN_ABANDONED as CULL_ABANDONED
    from portal.models import CullRun
    from portal.tasks import servers_cull_task

    hub = FrozenHub()
    env = _env(tmp_path, settings, redis_of_our_own, HUB_API_URL=hub.api_url, CULL_TIMEOUT="120",
               CULLER_SERVICE_TOKEN=settings.CULLER_SERVICE_TOKEN)  # fmt: skip
    try:
        with celery_worker(env=env, log_path=tmp_path / "capacity.log", consume="capacity") as worker:
            servers_cull_task.apply_async(expires=60)
            dead = wait_for(lambda: CullRun.objects.filter(outcome="running").first(), timeout=30, what="a pass")
            _kill(worker.pid)
            worker.wait()
    finally:
        hub.close()
    wait_for(lambda: not lock_held("servers-cull"), timeout=LEASE + 5, what="the cull lock to lapse")
    settings.HUB_API_URL = f"http://127.0.0.1:{free_port()}/hub/api"
    from portal.cull import servers_cull

    servers_cull(now=timezone.now())
    dead.refresh_from_db()
    assert (dead.outcome, dead.error) == (CullRun.Outcome.FAILED, CULL_ABANDONED)
    assert dead.finished_at is not None

"""The webhook on a bad day: a flood of pushes, Redis down or restarted, the database down.

Signed deliveries reach the real webhook view; a real Celery worker syncs from a real git
repository through a Redis of the test's own (stopped and restarted at will).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from django.utils import timezone

from catalog.models import OutboxMessage, SyncRequest, SyncRun, WebhookDelivery, Workshop
from catalog.sync import catalog_recover
from catalog.tasks import outbox_relay_task
from portal.redis_client import redis_started_at
from tests.celeryworker import celery_worker, routed_to
from tests.contentrepo import ContentRepo, workshop_yml
from tests.faultkit import compose_redis_args, database_url, free_port, own_redis, wait_for, worker_env
from tests.github.conftest import REPOSITORY, SECRET, as_body, push_payload, signed_headers

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent.parent
URL = "/github/webhook"


@pytest.fixture
def redis_of_our_own(tmp_path, settings):
    """A Redis for this test alone, the broker and lock store of this process and its workers."""
    with own_redis(tmp_path / "redis", settings) as server:
        yield server


def _http_headers(body: bytes, *, delivery: str | None = None) -> dict[str, str]:
    """Return GitHub's headers for a push delivery of body, as HTTP header names."""
    headers = {k.removeprefix("HTTP_").replace("_", "-"): v
               for k, v in signed_headers(body, "push", delivery=delivery).items()}  # fmt: skip
    return {**headers, "Content-Type": "application/json"}


def _post(client, sha: str, *, delivery: str | None = None):
    """Deliver a signed push of sha to the webhook view."""
    body = as_body(push_payload(sha))
    return client.post(URL, data=body, content_type="application/json",
                       **signed_headers(body, "push", delivery=delivery))  # fmt: skip


def _env(tmp_path, settings, server) -> dict[str, str]:
    return worker_env(database_url=database_url(), broker_url=server.url, tmp=tmp_path, settings=settings)


def test_a_flood_of_signed_pushes_keeps_one_sync_waiting_and_ends_at_the_newest_commit(
    live_server, content_repo: ContentRepo, webhook_settings, redis_of_our_own, tmp_path, settings
) -> None:
    """500 pushes over 20 commits, 8 at a time: every one is accepted, at most one sync ever
    waits in the broker, and the catalog ends at the last commit pushed."""
    commits, per_commit = 20, 25
    content_repo.add_workshop("redfish-basics", meta={"title": "Redfish basics, revision 0"})
    content_repo.commit("initial")
    queue = f"flood-{uuid.uuid4().hex[:8]}"
    url = live_server.url.replace("localhost", "127.0.0.1") + URL
    broker = redis.Redis.from_url(redis_of_our_own.url)
    waiting, done = [0], threading.Event()

    def sample() -> None:  # what the broker holds for the catalog worker, every 5 ms
        while not done.is_set():
            waiting[0] = max(waiting[0], broker.llen(queue))
            time.sleep(0.005)

    latencies: list[float] = []

    def deliver(sha: str) -> int:
        body = as_body(push_payload(sha))
        started = time.perf_counter()
        status = httpx.post(url, content=body, headers=_http_headers(body), timeout=30).status_code
        latencies.append(time.perf_counter() - started)
        return status

    sampler = threading.Thread(target=sample)
    with celery_worker(env=_env(tmp_path, settings, redis_of_our_own), log_path=tmp_path / "worker.log",
                       queue=queue, consume="default"):  # fmt: skip
        sampler.start()
        statuses = []
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                for revision in range(1, commits + 1):
                    content_repo.write("redfish-basics/workshop.yml",
                                       workshop_yml(title=f"Redfish basics, revision {revision}"))  # fmt: skip
                    sha = content_repo.commit(f"revision {revision}")
                    statuses += pool.map(deliver, [sha] * per_commit)
            flood_seconds = time.monotonic() - started
            wait_for(lambda: Workshop.objects.filter(commit_sha=sha).exists()
                     and not SyncRequest.objects.exclude(commit="").exists(),
                     timeout=120, what="the catalog at the newest commit")  # fmt: skip
        finally:
            done.set()
            sampler.join()
    workshop = Workshop.objects.get(slug="redfish-basics")
    latencies.sort()
    print(f"flood: {len(statuses)} deliveries in {flood_seconds:.1f} s (p50 {latencies[len(latencies) // 2]:.3f} s, "
          f"p99 {latencies[int(len(latencies) * 0.99)]:.3f} s), {SyncRun.objects.count()} syncs, "
          f"at most {waiting[0]} waiting")  # fmt: skip
    assert statuses == [202] * commits * per_commit
    assert WebhookDelivery.objects.count() == commits * per_commit  # each one recorded
    assert waiting[0] <= 1
    assert (workshop.title, workshop.commit_sha) == (f"Redfish basics, revision {commits}", sha)
    assert SyncRun.objects.count() < len(statuses) / 4  # coalesced: far from one sync per delivery
    assert SyncRequest.objects.get(branch="main").pushes == commits * per_commit


def test_deliveries_accepted_while_redis_is_down_are_relayed_when_it_is_back(
    client, content_repo: ContentRepo, webhook_settings, redis_of_our_own, tmp_path, settings
) -> None:
    content_repo.add_workshop("redfish-basics", meta={"title": "Redfish basics"})
    sha = content_repo.commit("initial")
    redis_of_our_own.stop()

    started = time.monotonic()
    response = _post(client, sha, delivery="d-while-down")
    assert response.status_code == 202 and response.json()["queued"] == "sync"
    assert time.monotonic() - started < 5  # one quick try: the relay retries, not GitHub's request
    message = OutboxMessage.objects.get()
    assert (message.sent_at, message.attempts) == (None, 1) and "Connection" in message.error
    assert not SyncRun.objects.exists()

    redis_of_our_own.start()  # the broker is back
    with celery_worker(env=_env(tmp_path, settings, redis_of_our_own), log_path=tmp_path / "worker.log"):
        outbox_relay_task.apply_async()  # what beat sends every OUTBOX_RELAY_INTERVAL
        run = wait_for(lambda: SyncRun.objects.filter(status="ok").first(), timeout=60, what="the sync")
        assert run.commit_sha == sha and Workshop.objects.get(slug="redfish-basics").commit_sha == sha
        assert OutboxMessage.objects.get().sent_at is not None

        again = _post(client, sha, delivery="d-while-down")  # GitHub's redelivery of the same delivery
        assert again.status_code == 200 and again.json()["duplicate"] is True
        time.sleep(1)
    assert OutboxMessage.objects.count() == 1 and SyncRun.objects.count() == 1  # no work twice
    assert SyncRequest.objects.get(branch="main").pushes == 1


def test_a_delivery_accepted_just_before_a_redis_restart_is_still_done(
    client, content_repo: ContentRepo, webhook_settings, tmp_path, settings
) -> None:
    """Redis run with docker-compose.yml's own persistence settings keeps the queued sync."""
    content_repo.add_workshop("redfish-basics", meta={"title": "Redfish basics"})
    sha = content_repo.commit("initial")
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    with own_redis(tmp_path / "redis", settings, args=compose_redis_args()) as server:
        with routed_to(queue):
            assert _post(client, sha).status_code == 202
        assert OutboxMessage.objects.get().sent_at is not None  # Redis took it
        assert redis.Redis.from_url(server.url).llen(queue) == 1
        server.stop()  # a restart: SIGTERM, then the same server again
        server.start()
        with celery_worker(env=_env(tmp_path, settings, server), log_path=tmp_path / "worker.log", queue=queue):
            run = wait_for(lambda: SyncRun.objects.filter(status="ok").first(), timeout=60, what="the sync")
    assert run.commit_sha == sha


def test_a_push_whose_message_redis_lost_is_queued_again_by_recovery(
    client, content_repo: ContentRepo, webhook_settings, tmp_path, settings
) -> None:
    """Even a Redis without persistence loses no push: the commit is recorded in the database,
    and recovery, seeing the broker restarted after the sync was queued, queues it again."""
    content_repo.add_workshop("redfish-basics", meta={"title": "Redfish basics"})
    sha = content_repo.commit("initial")
    queue = f"lost-{uuid.uuid4().hex[:8]}"
    with own_redis(tmp_path / "redis", settings, args=["--save", "", "--appendonly", "no"]) as server:
        with routed_to(queue):
            assert _post(client, sha).status_code == 202
        server.stop()
        server.start()
        assert redis.Redis.from_url(server.url).llen(queue) == 0  # the message is gone
        time.sleep(1.1)  # Redis tells its uptime in whole seconds
        with celery_worker(env=_env(tmp_path, settings, server), log_path=tmp_path / "worker.log", queue=queue):
            assert catalog_recover(now=timezone.now())["queued"] == 0  # without the restart: only late
            assert catalog_recover(now=timezone.now(), broker_since=redis_started_at(server.url))["queued"] == 1
            assert catalog_recover(now=timezone.now(), broker_since=redis_started_at(server.url))["queued"] == 0
            run = wait_for(lambda: SyncRun.objects.filter(status="ok").first(), timeout=60, what="the sync")
    assert run.commit_sha == sha


def test_with_the_database_down_a_delivery_is_refused_and_its_redelivery_is_done(
    client, webhook_settings, queued, tmp_path
) -> None:
    """The portal (gunicorn) cannot reach PostgreSQL: 503, nothing recorded, so GitHub shows a
    failure; its redelivery (same id) once the database is back is accepted and queued."""
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PORTAL_IGNORE_DOTENV": "1",
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/portal",  # nothing listens there
           "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PORTAL_VAR_DIR": str(tmp_path / "var"),
           "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_REPOSITORY": REPOSITORY, "CATALOG_BRANCH": "main"}  # fmt: skip
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
                            "--workers", "1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    body = as_body(push_payload("b" * 40))
    delivery = str(uuid.uuid4())
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code > 0
            except httpx.TransportError:
                return False

        wait_for(up, timeout=30, what="gunicorn")
        response = httpx.post(f"http://127.0.0.1:{port}{URL}", content=body,
                              headers=_http_headers(body, delivery=delivery), timeout=30)  # fmt: skip
    finally:
        web.terminate()
        web.wait(timeout=20)
        log.close()
    assert response.status_code == 503, (tmp_path / "gunicorn.log").read_text()[-2000:]
    assert "redeliver" in response.json()["error"]
    assert not WebhookDelivery.objects.exists() and not OutboxMessage.objects.exists()

    again = client.post(URL, data=body, content_type="application/json",
                        **signed_headers(body, "push", delivery=delivery))  # fmt: skip
    assert again.status_code == 202 and again.json()["queued"] == "sync"
    assert queued == [("catalog_sync_task", {"branch": "main", "trigger": "push"})]

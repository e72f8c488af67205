"""The portal on a bad day (issue 11), under its production server on 127.0.0.1.

Starts its own Redis (redis-server on a free port, docker-compose.yml's persistence settings),
a fresh PostgreSQL database with 1,000 workshops, the Procfile's web, worker, capacity and beat
processes, and a stub hub (a separate process, so it can be SIGSTOPped). Then:

5. signed-in vs anonymous catalog throughput (wrk, a session cookie for signed-in);
2. ten slow-body clients (a large Content-Length, then a byte a second) while /healthz and the
   catalog are polled: p99 of /healthz;
3. the hub frozen (SIGSTOP) while anonymous and signed-in visitors browse: p99 of the catalog;
1. 500 signed push deliveries in 5 s with a cull queued in the middle: the most syncs ever
   waiting in the broker, and the seconds from queueing the cull until its run finished;
4. Redis SIGKILLed and restarted (same port and folder) while signed deliveries arrive: how
   many acknowledged deliveries' commits had not reached the catalog --settle-seconds after the
   last one (a newer commit reaching it covers older ones: syncs coalesce).

Every load is bounded in count and time; every process started is stopped, even on failure.
Last line: flood_max_waiting_syncs=... cull_delay_s=... slow_clients_healthz_p99_ms=...
hub_frozen_catalog_p99_ms=... lost_deliveries=... signed_in_ratio=...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from statistics import median

import httpx
from _common import ROOT, django_setup, free_port, fresh_database

sys.path.insert(0, str(ROOT))

from catalog.github_events import signature_compute  # noqa: E402
from tests.contentrepo import ContentRepo, workshop_yml  # noqa: E402
from tests.faultkit import RedisServer, compose_redis_args, wait_for  # noqa: E402

SECRET = "bench-resilience-secret"  # noqa: S105 - a throwaway secret for a local run
REPOSITORY = "hpe-dev/workshops"
DB_NAME = "bench_resil"
FLOOD_DELIVERIES, FLOOD_SECONDS = 500, 5.0
SLOW_CLIENTS = 10

# A hub API that knows no servers: enough for a cull pass and for the pages' server state.
# It runs as its own process so that SIGSTOP freezes it as it would a real hub.
HUB_STUB = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/hub/api"):
            body = {"version": "5.3.0"}
        elif path.endswith("/users"):
            body = []
        else:
            body = {"name": path.rsplit("/", 1)[-1], "last_activity": None, "servers": {}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_POST = do_DELETE = do_GET
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
server.daemon_threads = True
server.serve_forever()
"""


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile of values (nearest rank); values in any unit."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def wait_http(url: str, *, timeout: float, proc: subprocess.Popen) -> None:
    """Wait until url answers at all; RuntimeError if proc exits or timeout (s) passes."""
    deadline = time.monotonic() + timeout
    while True:
        with suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.2)


class Processes:
    """Subprocesses started by this benchmark (each in its own session), stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as out:
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def procfile(name: str) -> str:
    """Return the Procfile's command for name (bash expands its ${VAR:-default})."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{name}:"))
    return line.split(":", 1)[1].strip()


def push_body(sha: str) -> bytes:
    """Return a GitHub push payload for sha on main (trimmed), as bytes."""
    payload = {"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "created": False, "deleted": False,
               "forced": False, "repository": {"full_name": REPOSITORY, "default_branch": "main"},
               "pusher": {"name": "maintainer"}, "commits": [{"id": sha, "message": "bench"}],
               "head_commit": {"id": sha, "message": "bench"}}  # fmt: skip
    return json.dumps(payload).encode()


def deliver(client: httpx.Client, url: str, sha: str) -> int:
    """POST a signed push delivery of sha; return the status (0 if no answer)."""
    body = push_body(sha)
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": signature_compute(secret=SECRET, body=body),
               "User-Agent": "GitHub-Hookshot/bench", "Content-Type": "application/json"}  # fmt: skip
    try:
        return client.post(url, content=body, headers=headers, timeout=30).status_code
    except httpx.HTTPError:
        return 0


def wrk(url: str, *, seconds: int, connections: int, cookie: str = "") -> float:
    """Load url with wrk (optionally with a Cookie header); return requests per second."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors while loading {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def signed_in_ratio(base: str, cookie: str, *, seconds: int, rounds: int) -> float:
    """Signed-in over anonymous catalog throughput (interleaved rounds, medians)."""
    for c in ("", cookie):
        wrk(base + "/workshops/", seconds=2, connections=8, cookie=c)  # warm-up
    anon, signed = [], []
    for _ in range(rounds):
        anon.append(wrk(base + "/workshops/", seconds=seconds, connections=8))
        signed.append(wrk(base + "/workshops/", seconds=seconds, connections=8, cookie=cookie))
    print(f"catalog anonymous {median(anon):.0f} req/s, signed-in {median(signed):.0f} req/s", flush=True)
    return median(signed) / median(anon)


def slow_clients_healthz_p99(base: str, port: int, *, seconds: float) -> float:
    """p99 (ms) of /healthz while ten clients trickle a body a byte a second."""
    slow = []
    for _ in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /github/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000\r\n\r\n{")  # fmt: skip
        slow.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in slow:
                with suppress(OSError):  # the server may close a connection it finds idle
                    sock.send(b" ")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    healthz, catalog = [], []
    try:
        with httpx.Client(base_url=base, timeout=10) as visitor:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for path, timings in (("/healthz", healthz), ("/workshops/", catalog)):
                    started = time.perf_counter()
                    status = visitor.get(path).status_code
                    timings.append((time.perf_counter() - started) * 1000)
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status} under slow clients")
    finally:
        stop.set()
        trickler.join(5)
        for sock in slow:
            sock.close()
    print(f"slow clients: /healthz {len(healthz)} polls p99 {percentile(healthz, 99):.1f} ms, "
          f"catalog p99 {percentile(catalog, 99):.1f} ms", flush=True)  # fmt: skip
    return percentile(healthz, 99)


def hub_frozen_catalog_p99(base: str, cookie: dict[str, str], hub: subprocess.Popen, *, seconds: float) -> float:
    """p99 (ms) of the catalog for anonymous and signed-in visitors while the hub is SIGSTOPped."""
    timings: list[float] = []
    errors: list[int] = []
    stop = threading.Event()

    def visitor(cookies: dict[str, str] | None) -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=10) as browser:
            while not stop.is_set():
                started = time.perf_counter()
                status = browser.get("/workshops/").status_code
                timings.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    errors.append(status)
                stop.wait(0.05)

    os.kill(hub.pid, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=visitor, args=(c,), daemon=True) for c in (None, None, cookie, cookie)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(15)
    finally:
        os.kill(hub.pid, signal.SIGCONT)
    if errors:
        raise RuntimeError(f"catalog answered {sorted(set(errors))} while the hub was frozen")
    print(f"hub frozen {seconds:.0f} s: {len(timings)} catalog views, p50 {percentile(timings, 50):.1f} ms, "
          f"p99 {percentile(timings, 99):.1f} ms", flush=True)  # fmt: skip
    return percentile(timings, 99)


def flood(webhook: str, repo: ContentRepo, broker_url: str, queue: str) -> tuple[int, float]:
    """500 signed pushes over 5 s, a cull queued at half time; return (max waiting syncs, cull delay s)."""
    import redis
    from django.utils import timezone

    from portal.models import CullRun
    from portal.tasks import servers_cull_task

    shas = []
    for revision in range(5):
        repo.write("redfish-basics/workshop.yml", workshop_yml(title=f"Redfish basics, flood {revision}"))
        shas.append(repo.commit(f"flood {revision}"))
    broker = redis.Redis.from_url(broker_url)
    waiting, done = [0], threading.Event()

    def sample() -> None:  # what the broker holds for the sync worker, every 5 ms
        while not done.is_set():
            with suppress(redis.exceptions.RedisError):
                waiting[0] = max(waiting[0], broker.llen(queue))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    statuses: list[int] = []
    cull_queued: list[tuple[float, object]] = []
    started = time.monotonic()

    local = threading.local()
    clients: list[httpx.Client] = []

    def one(i: int) -> None:
        if not hasattr(local, "client"):  # one client per thread: a new one costs the CPU a TLS context
            local.client = httpx.Client()
            clients.append(local.client)
        time.sleep(max(0.0, started + i * FLOOD_SECONDS / FLOOD_DELIVERIES - time.monotonic()))
        if i == FLOOD_DELIVERIES // 2:
            cull_queued.append(timezone.now())
            servers_cull_task.apply_async()  # routed to the capacity queue (CELERY_TASK_ROUTES)
        statuses.append(deliver(local.client, webhook, shas[i * len(shas) // FLOOD_DELIVERIES]))

    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(one, range(FLOOD_DELIVERIES)))
        for client in clients:
            client.close()
        flood_seconds = time.monotonic() - started
        queued_wall = cull_queued[0]
        run = wait_for(lambda: CullRun.objects.filter(started_at__gte=queued_wall, finished_at__isnull=False)
                       .order_by("started_at").first(), timeout=60, every=0.05, what="the cull run")  # fmt: skip
        cull_delay = (run.finished_at - queued_wall).total_seconds()
    finally:
        done.set()
        sampler.join(5)
    from catalog.models import SyncRun

    accepted = sum(1 for s in statuses if 200 <= s < 300)
    syncs = SyncRun.objects.count()
    print(f"flood: {accepted}/{len(statuses)} accepted in {flood_seconds:.1f} s, {syncs} syncs so far, at most "
          f"{waiting[0]} waiting; cull ({run.outcome}) done {cull_delay:.2f} s after queueing", flush=True)  # fmt: skip
    return waiting[0], cull_delay


def redis_restart_lost(
    webhook: str, repo: ContentRepo, server: RedisServer, workers: dict[str, subprocess.Popen], *, settle: float
) -> int:
    """Deliver a push every 0.25 s for 10 s, SIGKILL Redis at 3 s and restart it at 5 s; return how
    many acknowledged deliveries' commits the catalog never reached (within settle seconds)."""
    from catalog.models import Workshop

    acked: list[tuple[int, str]] = []
    order: dict[str, int] = {}
    with httpx.Client() as client:
        started = time.monotonic()
        killed = restarted = False
        for i in range(40):
            time.sleep(max(0.0, started + i * 0.25 - time.monotonic()))
            elapsed = time.monotonic() - started
            if elapsed >= 3 and not killed:
                server.stop(signal.SIGKILL)
                killed = True
            if elapsed >= 5 and not restarted:
                server.start()
                restarted = True
            repo.write("redfish-basics/workshop.yml", workshop_yml(title=f"Redfish basics, restart {i}"))
            sha = repo.commit(f"restart {i}")
            order[sha] = i
            status = deliver(client, webhook, sha)
            if 200 <= status < 300:
                acked.append((i, sha))
    if not acked:
        raise RuntimeError("no delivery was acknowledged around the Redis restart")
    newest = acked[-1][0]

    def reached() -> int:
        sha = Workshop.objects.filter(slug="redfish-basics").values_list("commit_sha", flat=True).first()
        return order.get(sha or "", -1)

    with suppress(AssertionError):  # not reached in time: counted as lost below
        wait_for(lambda: reached() >= newest, timeout=settle, every=0.2, what="the newest acknowledged commit")
    at = reached()
    lost = sum(1 for i, _ in acked if i > at)
    if not lost:
        print(f"redis restart: the catalog reached the newest acknowledged commit {time.monotonic() - started:.1f} s "
              "after the first delivery (Redis killed at 3 s, back at 5 s)", flush=True)  # fmt: skip
    if lost:
        from catalog.models import SyncRequest
        from catalog.sync import SYNC_WAIT_STALE

        waiting = SyncRequest.objects.filter(branch="main").values_list("waiting_since", flat=True).first()
        print(f"redis restart: a sync has been waiting since {waiting}; recovery queues another once it sees "
              f"Redis restarted after that, or after {SYNC_WAIT_STALE} (catalog.sync)", flush=True)  # fmt: skip
    print(f"redis restart: {len(acked)}/40 acknowledged, catalog at delivery {at}, {lost} lost", flush=True)
    for name, proc in workers.items():
        if proc.poll() is not None:  # nothing restarts it here (compose's restart policy would)
            print(f"redis restart: the {name} process exited (code {proc.returncode}); see its log", flush=True)
    return lost


def main() -> None:
    """Set up, run each scenario, print the figures; stop everything started, even on failure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--freeze-seconds", type=float, default=20.0, help="how long the hub stays frozen")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="how long slow clients trickle")
    parser.add_argument("--wrk-seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle-seconds", type=float, default=60.0, help="wait for the catalog after faults")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-resil-"))
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs")
    redis_server = RedisServer(tmp / "redis", args=compose_redis_args())
    redis_server.start()
    try:
        repo = ContentRepo(tmp / "content")
        repo.add_workshop("redfish-basics", meta={"title": "Redfish basics"})
        repo.commit("initial")
        port, hub_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        queue = f"resil-{uuid.uuid4().hex[:8]}"
        env = {
            "DATABASE_URL": fresh_database(DB_NAME), "REDIS_URL": redis_server.url,
            "CELERY_BROKER_URL": redis_server.url, "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CELERY_CAPACITY_QUEUE": f"{queue}-capacity", "PORTAL_IGNORE_DOTENV": "1", "DEBUG": "false",
            "SECRET_KEY": secrets.token_hex(32), "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
            "PORTAL_PORT": str(port), "PORTAL_URL": base, "PORTAL_VAR_DIR": str(tmp / "var"),
            "HUB_URL": f"http://127.0.0.1:{hub_port}", "HUB_API_URL": f"http://127.0.0.1:{hub_port}/hub/api",
            "PORTAL_SERVICE_TOKEN": secrets.token_hex(32), "CULLER_SERVICE_TOKEN": secrets.token_hex(32),
            "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_REPOSITORY": REPOSITORY, "CATALOG_SOURCE": repo.url,
            "CATALOG_BRANCH": "main", "CATALOG_CACHE_DIR": str(tmp / "cache"),
        }  # fmt: skip
        django_setup(env)
        from catalog_throughput import populate
        from django.conf import settings
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.test import Client

        call_command("migrate", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        populate(1000)
        client = Client()
        client.force_login(User.objects.create(username="ada"))
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookie = {settings.SESSION_COOKIE_NAME: session}

        child_env = {**{k: v for k, v in os.environ.items() if not re.match(r"^(DEBUG|SECURE_|HUB_|GITHUB_)", k)},
                     **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
        hub = procs.start("hub", [sys.executable, "-c", HUB_STUB, str(hub_port)], child_env)
        web = procs.start("web", ["bash", "-c", f"exec {procfile('web')}"], child_env)
        workers = {}
        for name in ("worker", "capacity"):
            command = procfile(name).replace("@%h", f"-{queue}@%h")
            workers[name] = procs.start(name, ["bash", "-c", f"exec {command}"], child_env)
        command = procfile("beat").replace("var/celerybeat-schedule", str(tmp / "celerybeat-schedule"))
        procs.start("beat", ["bash", "-c", f"exec {command}"], child_env)
        wait_http(env["HUB_API_URL"], timeout=15, proc=hub)
        wait_http(base + "/healthz", timeout=60, proc=web)

        ratio = signed_in_ratio(base, f"{settings.SESSION_COOKIE_NAME}={session}", seconds=args.wrk_seconds,
                                rounds=args.rounds)  # fmt: skip
        slow_p99 = slow_clients_healthz_p99(base, port, seconds=args.slow_seconds)
        frozen_p99 = hub_frozen_catalog_p99(base, cookie, hub, seconds=args.freeze_seconds)
        waiting, cull_delay = flood(base + "/github/webhook", repo, redis_server.url, queue)
        lost = redis_restart_lost(base + "/github/webhook", repo, redis_server, workers, settle=args.settle_seconds)
    finally:
        procs.stop_all()
        redis_server.stop()
        print(f"logs in {tmp / 'logs'}", flush=True)
    print(
        f"flood_max_waiting_syncs={waiting} cull_delay_s={cull_delay:.2f} slow_clients_healthz_p99_ms={slow_p99:.1f} "
        f"hub_frozen_catalog_p99_ms={frozen_p99:.1f} lost_deliveries={lost} signed_in_ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()

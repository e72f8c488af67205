"""Benchmark: from a pushed commit to the catalog API showing it, through the signed webhook.

Builds a 200-workshop git repository, runs the portal under gunicorn and a real Celery
worker on Redis and PostgreSQL (its own database, dropped at the end), then 10 times: push
a change to one workshop, deliver the signed push webhook, and poll GET
/api/workshops/<slug> until the change shows. The baseline measured in the same run is a
full re-parse of the repository (what every change would cost without incremental sync).

Last line: median_s=... p95_s=... ack_ms=...   (targets: median <= 2 s, ack <= 100 ms)
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog.github_events import signature_compute  # noqa: E402
from tests.contentrepo import ContentRepo, workshop_yml  # noqa: E402

WORKSHOPS = 200
REPETITIONS = 10
SECRET = "bench-secret"  # noqa: S105 - a throwaway secret for a local run
DB_NAME = "bench_webhook"
PG = "postgres://postgres@127.0.0.1:5432"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_recreate(drop_only: bool = False) -> None:
    """Drop (and create) the benchmark database."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {DB_NAME}")


def build_repo(root: Path) -> ContentRepo:
    """Make a content repository with WORKSHOPS workshops."""
    repo = ContentRepo(root / "content")
    for i in range(WORKSHOPS):
        repo.add_workshop(f"ws-{i:03d}", notebooks=2, meta={"title": f"Workshop {i:03d}", "tags": ["bench"]})
    repo.commit("200 workshops")
    return repo


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    """Run the benchmark and print its figures."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    port = free_port()
    portal = f"http://127.0.0.1:{port}"
    repo = build_repo(tmp)
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "PORTAL_IGNORE_DOTENV": "1",
        "PORTAL_VAR_DIR": str(tmp / "var"),
        "PORTAL_URL": portal,
        "DEBUG": "true",
        "CATALOG_SOURCE": repo.url,
        "CATALOG_BRANCH": "main",
        "CATALOG_CACHE_DIR": str(tmp / "cache"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    py = sys.executable
    db_recreate()
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run([py, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        started = time.perf_counter()
        subprocess.run([py, "manage.py", "sync_catalog"], cwd=ROOT, env=env, check=True, capture_output=True)
        initial = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(
            [py, "manage.py", "sync_catalog", "--force"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        baseline = time.perf_counter() - started
        print(f"initial_sync_s={initial:.2f} baseline_full_resync_s={baseline:.2f}", flush=True)

        logs = {name: open(tmp / f"{name}.log", "w") for name in ("web", "worker")}  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    str(Path(py).with_name("gunicorn")),
                    "portal.wsgi",
                    "-b",
                    f"127.0.0.1:{port}",
                    "-w",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],
                cwd=ROOT,
                env=env,
                stdout=logs["web"],
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    env["CELERY_TASK_DEFAULT_QUEUE"],
                    "--pool=solo",
                    "--loglevel=WARNING",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                    "-n",
                    f"{env['CELERY_TASK_DEFAULT_QUEUE']}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=logs["worker"],
                stderr=subprocess.STDOUT,
            )
        )
        client = httpx.Client(timeout=10)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get(f"{portal}/healthz").status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("portal did not start")
            time.sleep(0.2)
        time.sleep(2)  # let the worker connect to Redis

        durations, acks = [], []
        for rep in range(REPETITIONS + 1):  # the first one warms connections up and is not counted
            folder = f"ws-{(rep * 17) % WORKSHOPS:03d}"
            title = f"Workshop {folder} revision {rep}"
            repo.write(f"{folder}/workshop.yml", workshop_yml(title=title, tags=["bench"]))
            sha = repo.commit(f"Revise {folder}")
            body = json.dumps(
                {
                    "ref": "refs/heads/main",
                    "after": sha,
                    "before": "0" * 40,
                    "deleted": False,
                    "repository": {"full_name": "bench/workshops"},
                    "commits": [{"id": sha}],
                }
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature_compute(secret=SECRET, body=body),
            }
            t0 = time.perf_counter()
            response = client.post(f"{portal}/github/webhook", content=body, headers=headers)
            ack = time.perf_counter() - t0
            assert response.status_code == 202, response.text
            while True:
                got = client.get(f"{portal}/api/workshops/{folder}")
                if got.status_code == 200 and got.json()["title"] == title:
                    break
                if time.perf_counter() - t0 > 60:
                    raise SystemExit(f"change to {folder} not visible after 60 s")
                time.sleep(0.02)
            elapsed = time.perf_counter() - t0
            if rep:
                durations.append(elapsed)
                acks.append(ack * 1000)
            print(
                f"rep={rep} folder={folder} ack_ms={ack * 1000:.1f} visible_s={elapsed:.3f}",
                flush=True,
            )
        median = statistics.median(durations)
        speedup = baseline / median
        print(f"workshops={WORKSHOPS} repetitions={REPETITIONS} speedup_vs_full_resync={speedup:.1f}")
        p95, ack_ms = percentile(durations, 95), statistics.median(acks)
        print(f"median_s={median:.3f} p95_s={p95:.3f} ack_ms={ack_ms:.1f}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        db_recreate(drop_only=True)


if __name__ == "__main__":
    main()

"""A real Celery worker for tests, on queues of its own (the Redis broker may be shared)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def capacity_queue(queue: str) -> str:
    """Return the name of the capacity queue (cull, admission, relays) that goes with queue."""
    return f"{queue}-capacity"


def routes_to(queue: str) -> dict:
    """Return the settings' task routes with the capacity queue renamed for queue."""
    from django.conf import settings

    return {name: {**route, "queue": capacity_queue(queue)} for name, route in settings.CELERY_TASK_ROUTES.items()}


@contextmanager
def routed_to(queue: str) -> Iterator[None]:
    """Send this process's tasks to queue (and its capacity queue) while the block runs."""
    from portal.celery import app

    previous = app.conf.task_default_queue, app.conf.task_routes
    app.conf.update(task_default_queue=queue, task_routes=routes_to(queue))  # update() resets the router
    try:
        yield
    finally:
        app.conf.update(task_default_queue=previous[0], task_routes=previous[1])


@contextmanager
def celery_worker(
    *, env: dict[str, str], log_path: Path, name: str = "test", queue: str | None = None, consume: str = "all"
) -> Iterator[subprocess.Popen]:
    """Run a worker with env over os.environ; route this process's tasks to its queues meanwhile.

    The queues are queue (default: a fresh name) for syncs and validations and its capacity
    queue for cull, admission and relays; consume says which this worker takes: "all",
    "default" or "capacity" (two workers given the same queue split the work as in production).
    """
    queue = queue or f"{name}-{uuid.uuid4().hex[:8]}"
    consumed = {"all": [queue, capacity_queue(queue)], "default": [queue], "capacity": [capacity_queue(queue)]}
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    worker_env = {"PORTAL_IGNORE_DOTENV": "1", "CELERY_TASK_DEFAULT_QUEUE": queue,
                  "CELERY_CAPACITY_QUEUE": capacity_queue(queue), **env}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", ",".join(consumed[consume]),
         "-n", f"{queue}-{consume}-{uuid.uuid4().hex[:4]}@%h", "--pool=solo", "--loglevel=INFO",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env={**os.environ, **worker_env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        with routed_to(queue):
            yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

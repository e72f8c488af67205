"""Faults made real for tests: a Redis of the test's own to stop and restart, a git that hangs
until released, a port nothing listens on, and the environment a worker needs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], Any], *, timeout: float, every: float = 0.1, what: str = "") -> Any:
    """Poll predicate until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(every)


def compose_redis_args() -> list[str]:
    """Return the arguments docker-compose.yml gives redis-server (its persistence settings)."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = spec["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    return command[1:]


class RedisServer:
    """A redis-server of the test's own on 127.0.0.1, stopped and restarted at will."""

    def __init__(self, root: Path, *, args: list[str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.args = args if args is not None else ["--save", "", "--appendonly", "no"]
        self.proc: subprocess.Popen | None = None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """Return the redis:// URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart) the server on its port, in its folder (where its files persist)."""
        self.proc = subprocess.Popen(
            ["redis-server", *self.args, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers() -> bool:
            with suppress(redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                return bool(client.ping())
            return False

        wait_for(answers, timeout=10, what="redis-server to answer")
        client.close()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: a clean shutdown, as a restart does)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None


@contextmanager
def broker_at(url: str, settings) -> Iterator[None]:
    """Point this process's Celery app, locks and Redis client at url while the block runs."""
    from portal.celery import app

    previous = app.conf.broker_url
    settings.CELERY_BROKER_URL = settings.REDIS_URL = url
    app.conf.update(broker_url=url)
    # What Celery does in a forked child: forget the pooled broker connections, so the next
    # send connects to the broker now configured.
    app._after_fork()
    try:
        yield
    finally:
        app.conf.update(broker_url=previous)
        app._after_fork()


class SlowGit:
    """A git first on PATH whose `fetch` hangs while a gate file exists (a slow content host).

    The hanging shim records its own pid and its parent's (the worker running the sync), so a
    test can kill exactly that worker, and the shim, and nothing else.
    """

    def __init__(self, root: Path) -> None:
        self.dir = root / "slow-git"
        self.dir.mkdir(parents=True)
        self.gate = root / "git-gate"
        self.pids = root / "git-hanging.pids"
        real = shutil.which("git")
        # gitrepo runs git with PATH alone in its environment: the paths are written in.
        (self.dir / "git").write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = fetch ] && [ -e "{self.gate}" ]; then\n'
            f'  echo "$$ $PPID" > "{self.pids}"\n'
            f'  while [ -e "{self.gate}" ]; do sleep 0.1; done\n'
            "fi\n"
            f'exec "{real}" "$@"\n'
        )
        (self.dir / "git").chmod(0o755)

    @property
    def path(self) -> str:
        """Return a PATH with the shim first."""
        return f"{self.dir}{os.pathsep}{os.environ['PATH']}"

    def close_gate(self) -> None:
        """Make the next fetches hang."""
        self.gate.touch()
        self.pids.unlink(missing_ok=True)

    def open_gate(self) -> None:
        """Let hanging and future fetches run."""
        self.gate.unlink(missing_ok=True)

    def hanging(self) -> tuple[int, int] | None:
        """Return (shim pid, worker pid) of a fetch hanging at the gate, or None."""
        with suppress(FileNotFoundError, ValueError):
            shim, parent = self.pids.read_text().split()
            return int(shim), int(parent)
        return None


def worker_env(*, database_url: str, broker_url: str, tmp: Path, settings, **extra: str) -> dict[str, str]:
    """Return the environment of a worker on the test database and broker, syncing like this process."""
    return {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "REDIS_URL": broker_url,
        "CATALOG_SOURCE": settings.CATALOG_SOURCE,
        "CATALOG_BRANCH": settings.CATALOG_BRANCH,
        "CATALOG_CACHE_DIR": str(tmp / f"worker-cache-{time.monotonic_ns()}"),
        "PORTAL_VAR_DIR": str(tmp / "worker-var"),
        **extra,
    }


def database_url() -> str:
    """Return a DATABASE_URL naming the test database, for subprocesses (PostgreSQL)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def own_redis(root: Path, settings, *, args: list[str] | None = None) -> Iterator[RedisServer]:
    """Run a Redis for one test (a killed worker leaves messages and locks behind, a restart
    must not touch anyone else's), used by this process as broker and for locks meanwhile."""
    server = RedisServer(root, args=args).start()
    try:
        with broker_at(server.url, settings):
            yield server
    finally:
        server.stop()

"""Shared helpers for the benchmarks: a throwaway PostgreSQL database, free ports, servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(name: str) -> str:
    """Drop and create database name; return its URL."""
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", PG + "/postgres", "-q", "-c", sql], check=True, capture_output=True)
    return f"{PG}/{name}"


def hub_wait_up(*, api_url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait until the hub at api_url answers; SystemExit with the log's tail if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(api_url.rstrip("/") + "/", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the hub did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process with env (the database above)."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int = 2, url: str | None = None, log: Path | None = None, production: bool = False
):
    """Run the portal under gunicorn on url (default: a free loopback port); yield its base URL.

    production=True runs it under its production server instead (the Procfile's `web`:
    portal.webserver, waitress with its default threads; workers is then ignored). Its output goes to log
    when given (else to this process's terminal).
    """
    url = url or f"http://127.0.0.1:{free_port()}"
    out = open(log, "ab") if log else None  # noqa: SIM115 - lives as long as the process
    address = url.removeprefix("http://")
    if production:
        command = [sys.executable, "-m", "portal.webserver", "--listen", address]
    else:
        command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", address, "--workers", str(workers),
                   "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT if out else None
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise RuntimeError(f"gunicorn did not start\n{tail}") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if out:
            out.close()

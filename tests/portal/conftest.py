"""A hub that hangs (a real HTTP server on 127.0.0.1) and the portal under its production server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from portal.hub import _breakers
from tests.portal.labkit import lab_key  # noqa: F401 - a fixture for the lab tests

ROOT = Path(__file__).resolve().parents[2]
# The longest a frozen hub holds a request, whatever a test does: nothing here waits unbounded.
FREEZE_LIMIT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_hub_breakers() -> Iterator[None]:
    """Start every test with the hub's circuit breakers closed (they are per process)."""
    _breakers.clear()
    yield
    _breakers.clear()


@dataclass
class FrozenHub:
    """A hub API that accepts connections and never answers while frozen; thawed, it knows users."""

    url: str
    api_url: str
    server: ThreadingHTTPServer
    thawed: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    starts_only: bool = False  # hold only server starts (a hub whose event loop is busy spawning)
    starts: int = 0
    remember_starts: bool = False  # list a user's server once their start was answered
    started: set[str] = field(default_factory=set)

    def thaw(self) -> None:
        """Answer again (requests held so far are released too)."""
        self.thawed.set()


def _handler(hub_ref: list[FrozenHub]):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hub = hub_ref[0]
            hub.requests += 1
            start = self.command == "POST" and self.path.endswith("/server")
            hub.starts += start
            if start or not hub.starts_only:
                hub.thawed.wait(FREEZE_LIMIT)  # frozen: hold the request (bounded)
            if start and hub.remember_starts:  # done, whether or not the caller still waits
                hub.started.add(self.path.split("/users/", 1)[1].split("/", 1)[0])
            if self.path.rstrip("/").endswith("/hub/api"):
                body = b'{"version": "5.3.0"}'
            elif self.path.split("?")[0].endswith("/users"):
                body = b'{"items": [], "_pagination": {"next": null}}'  # nobody has a server
            elif start:
                body = b"{}"
            else:
                name = self.path.rsplit("/", 1)[-1]
                servers = {}
                if name in hub.started:
                    servers[""] = {"name": "", "ready": True, "pending": None, "started": None, "last_activity": None}
                body = json.dumps({"name": name, "last_activity": None, "servers": servers}).encode()
            # A start is accepted as the hub does it (201); anything else answers 200.
            self.send_response(201 if start else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def frozen_hub(settings) -> Iterator[FrozenHub]:
    """Point the portal at a hub that hangs (as a SIGSTOPped one does) until thawed."""
    ref: list[FrozenHub] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_port}"
    hub = FrozenHub(url=url, api_url=url + "/hub/api", server=server)
    ref.append(hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.HUB_URL = hub.url
    settings.HUB_API_URL = hub.api_url
    yield hub
    hub.thaw()
    server.shutdown()
    server.server_close()


def procfile_web_command() -> str:
    """Return the Procfile's web line: what `make start` (honcho) runs."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return line.split(":", 1)[1].strip()


@dataclass
class PortalServer:
    url: str
    proc: subprocess.Popen
    log: Path


def portal_server_start(*, env: dict[str, str], log: Path, wait_for: str = "/healthz") -> PortalServer:
    """Run the portal as the Procfile does (bash expands ${VAR:-default}); wait until wait_for
    answers at all (any status)."""
    port = free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not re.match(r"^(DEBUG|SECURE_|HUB_|GITHUB_)", k)},
        "PORTAL_IGNORE_DOTENV": "1",
        "PORTAL_PORT": str(port),
        "PORTAL_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": settings.SECRET_KEY,  # the sessions tests make are signed with it
        "LOG_LEVEL": "WARNING",
        **env,
    }
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {procfile_web_command()}"],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + wait_for, timeout=5)
            return PortalServer(url=url, proc=proc, log=log)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            portal_server_stop(PortalServer(url=url, proc=proc, log=log))
            raise RuntimeError(f"the portal did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def portal_server_stop(server: PortalServer) -> None:
    """Stop the server this test started (its own process group only)."""
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)

"""The portal under its production server (the Procfile's web line): slow clients, a frozen hub,
a database that is gone. Every load here is bounded in count and time and goes to 127.0.0.1."""

from __future__ import annotations

import secrets
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from tests.conftest import _database_url
from tests.portal.conftest import FrozenHub, free_port, portal_server_start, portal_server_stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def workshops(transactional_db):
    """A few published workshops, committed so the server process sees them."""
    from catalog.models import Notebook, Workshop

    for i in range(5):
        w = Workshop.objects.create(
            slug=f"api-{i}", folder=f"api-{i}", title=f"API workshop {i}", summary="Calls.", published=True
        )
        Notebook.objects.create(workshop=w, path="0-Start.ipynb", position=0, title="Start")
    return Workshop.objects.all()


@contextmanager
def served(tmp_path: Path, **env: str) -> Iterator[str]:
    """Run the portal as `make start` does, against this test's database; yield its URL."""
    base = {
        "DATABASE_URL": _database_url(connection),
        "REDIS_URL": settings.REDIS_URL,
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "HUB_API_URL": f"http://127.0.0.1:{free_port()}/hub/api",  # nothing listens there
        "PORTAL_SERVICE_TOKEN": secrets.token_hex(32),
    }
    server = portal_server_start(env={**base, **env}, log=tmp_path / "portal.log")
    try:
        yield server.url
    finally:
        portal_server_stop(server)


def _signed_in_cookie(name: str) -> dict[str, str]:
    """Sign a learner in (a session in the shared database) and return the browser's cookie."""
    client = Client()
    client.force_login(User.objects.create(username=name))
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_slow_clients_cannot_starve_the_portal(tmp_path, workshops):
    """Twenty clients trickling request bodies (more than the server has threads) while a visitor
    browses: /healthz and the catalog keep answering at once (gunicorn's sync workers froze)."""
    with served(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(
                b"POST /github/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000\r\n\r\n{"
            )
            slow.append(sock)
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                for sock in slow:
                    with suppress(OSError):  # the server may close a connection it finds idle
                        sock.send(b" ")
                stop.wait(0.1)

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        healthz, catalog = [], []
        try:
            with httpx.Client(base_url=url, timeout=5) as visitor:
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    for path, timings in (("/healthz", healthz), ("/workshops/", catalog)):
                        started = time.perf_counter()
                        response = visitor.get(path)
                        timings.append(time.perf_counter() - started)
                        assert response.status_code == 200, response.text[:300]
        finally:
            stop.set()
            trickler.join(5)
            for sock in slow:
                sock.close()
    # A starved server answers nothing until the slow clients give up (httpx would time out at 5 s);
    # the bounds leave room for a machine shared with other test runs.
    assert len(healthz) >= 10
    assert max(healthz) < 2.0 and statistics.median(healthz) < 0.2, healthz
    assert max(catalog) < 2.0 and statistics.median(catalog) < 0.2, catalog


def test_a_frozen_hub_holds_no_request_thread_and_pages_say_so(tmp_path, workshops, frozen_hub: FrozenHub):
    """Ten signed-in learners' pages ask for their server's state while the hub hangs: the
    catalog stays fast for visitors and learners, the hub is asked a few times only (short
    timeout, then the circuit breaker answers), and pages say the hub is unavailable."""
    cookie = _signed_in_cookie("ada")
    with served(tmp_path, HUB_URL=frozen_hub.url, HUB_API_URL=frozen_hub.api_url) as url:
        for cookies in (None, cookie):  # first renders (templates compiled) before the clock starts
            httpx.get(url + "/workshops/", cookies=cookies, timeout=10)
        stop = threading.Event()
        answers: list[int] = []

        def learner() -> None:
            with httpx.Client(base_url=url, cookies=cookie, timeout=10) as browser:
                while not stop.is_set():
                    answers.append(browser.get("/me/server.json").status_code)
                    stop.wait(0.1)  # a page view every 100 ms per learner

        learners = [threading.Thread(target=learner, daemon=True) for _ in range(10)]
        for thread in learners:
            thread.start()
        anonymous, signed_in = [], []
        try:
            with (
                httpx.Client(base_url=url, timeout=10) as visitor,
                httpx.Client(base_url=url, cookies=cookie, timeout=10) as ada,
            ):
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    for client, timings in ((visitor, anonymous), (ada, signed_in)):
                        started = time.perf_counter()
                        assert client.get("/workshops/").status_code == 200
                        timings.append(time.perf_counter() - started)
                started = time.perf_counter()
                status = ada.get("/me/server.json")
                status_seconds = time.perf_counter() - started
                page = ada.get("/workshops/").text
        finally:
            stop.set()
            for thread in learners:
                thread.join(15)
    # HUB_TIMEOUT is 2 s: any catalog request that waited on the hub would take longer than that.
    assert max(anonymous) < 1.5 and max(signed_in) < 1.5, (anonymous, signed_in)
    assert statistics.median(anonymous) < 0.2 and statistics.median(signed_in) < 0.2
    assert status.status_code == 503 and status.json() == {"error": "The notebook hub is unavailable."}
    assert status_seconds < 0.5
    assert "The notebook hub is not answering right now" in page and ">ada<" in page
    assert set(answers) == {503} and len(answers) > 50
    # Eight calls at most are with the hub at once, and a few more start as the first time out,
    # until three failures open the breaker: a dozen at most, against hundreds of page views.
    assert frozen_hub.requests <= settings.HUB_PAGE_CONCURRENCY + settings.HUB_BREAKER_FAILURES


def test_healthz_fails_when_the_database_is_gone(tmp_path):
    """An operator's probe gets 503 from /healthz and /readyz when the database is unreachable,
    with no password or address from the database URL in the answer."""
    database = f"postgres://portal:s3cret-pw@127.0.0.1:{free_port()}/portal"
    with served(tmp_path, DATABASE_URL=database) as url:
        health = httpx.get(url + "/healthz", timeout=10)
        ready = httpx.get(url + "/readyz", timeout=10)
    assert health.status_code == 503 and health.text.strip() == "database unreachable"
    assert ready.status_code == 503
    assert ready.json()["status"] == "down" and ready.json()["checks"]["database"] == "unreachable"
    assert "s3cret" not in health.text + ready.text and "portal:" not in ready.text


def test_readyz_reports_redis_and_the_hub_as_degraded(tmp_path, workshops):
    """With the database up but Redis and the hub unreachable the portal still serves (200) and
    says what is degraded; with Redis up only the hub is reported."""
    redis_gone = f"redis://127.0.0.1:{free_port()}/0"
    with served(tmp_path, REDIS_URL=redis_gone) as url:
        ready = httpx.get(url + "/readyz", timeout=10)
        health = httpx.get(url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.text == "ok"
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "redis": "unreachable", "hub": "unreachable"},
    }
    assert ready.headers["Cache-Control"] == "no-store"

"""A cull pass against a hub that refuses it (403, as for a token it does not know): the run ends
as failed with the hub's answer recorded, and is not backed off."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from portal.cull import servers_cull
from portal.hub import HubClient
from portal.models import CullRun

pytestmark = pytest.mark.django_db

# What JupyterHub answers on its API to a token it does not know.
REFUSAL = {"status": 403, "message": "Missing or invalid credentials."}


class _Refusing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps(REFUSAL).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Garbled(BaseHTTPRequestHandler):
    """A hub (or a proxy in front of it) answering 200 with a page that is not the API's JSON."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>not json</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve(handler) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def garbled_hub() -> Iterator[str]:
    """Serve a hub API on 127.0.0.1 whose answers are not JSON; yield its API URL."""
    yield from _serve(_Garbled)


@pytest.fixture
def refusing_hub() -> Iterator[str]:
    """Serve a hub API on 127.0.0.1 that answers every request 403; yield its API URL."""
    yield from _serve(_Refusing)


@pytest.fixture
def cull_settings(settings):
    settings.CULL_INTERVAL = 60
    settings.CULL_BACKOFF_MAX = 3600
    settings.ADMISSION_PREFIX = "test-cull-errors:"
    return settings


def test_a_refusing_hub_ends_the_run_as_failed_with_its_answer_recorded(refusing_hub, cull_settings):
    now = timezone.now()
    with HubClient(api_url=refusing_hub, token="unknown-to-the-hub", timeout=5) as hub:
        report = servers_cull(now=now, hub=hub)
    assert report.outcome == "failed" and report.hub_requests == 1
    run = CullRun.objects.get(pk=report.run.pk)
    assert run.outcome == "failed" and run.finished_at is not None
    assert "403" in run.error and "Missing or invalid credentials" in run.error
    assert not CullRun.objects.filter(outcome="running").exists()


def test_a_refusal_is_retried_every_interval_not_backed_off(refusing_hub, cull_settings):
    dead = HubClient(api_url="http://127.0.0.1:9/hub/api", token="x", timeout=1)  # nothing listens
    refusing = HubClient(api_url=refusing_hub, token="unknown-to-the-hub", timeout=5)
    now = timezone.now()
    with dead, refusing:
        assert servers_cull(now=now, hub=dead).outcome == "hub-down"
        assert servers_cull(now=now + timedelta(seconds=30), hub=refusing).outcome == "backoff"
        # The hub answers again (refusing): the streak of "hub-down" runs ends, no back-off follows.
        assert servers_cull(now=now + timedelta(seconds=61), hub=refusing).outcome == "failed"
        assert servers_cull(now=now + timedelta(seconds=62), hub=refusing).outcome == "failed"
        assert refusing.requests == 2


def test_a_dry_run_against_a_refusing_hub_says_so(refusing_hub, cull_settings):
    cull_settings.HUB_API_URL = refusing_hub
    with pytest.raises(CommandError, match="The hub refused: GET users: 403"):
        call_command("cull", "--dry-run")


def test_an_answer_that_cannot_be_read_ends_the_run_as_failed_not_running(garbled_hub, cull_settings):
    """Whatever goes wrong in a pass, the status page never shows a run "running" forever."""
    cull_settings.HUB_API_URL = garbled_hub
    with pytest.raises(ValueError):  # raised on, so the worker logs the traceback too
        servers_cull(now=timezone.now())
    [run] = CullRun.objects.all()
    assert run.outcome == CullRun.Outcome.FAILED and run.finished_at is not None
    assert run.error.startswith("JSONDecodeError")


def test_without_redis_a_pass_does_not_run_and_says_why(refusing_hub, cull_settings):
    """Two passes at once could stop a server twice: without the lock store nothing is culled,
    and the run and the command say so instead of a traceback."""
    cull_settings.HUB_API_URL = refusing_hub
    cull_settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    out, err = io.StringIO(), io.StringIO()
    call_command("cull", stdout=out, stderr=err)
    [run] = CullRun.objects.all()
    assert run.outcome == CullRun.Outcome.FAILED and "lock store (Redis) is unavailable" in run.error
    assert "outcome failed" in out.getvalue() and "lock store (Redis) is unavailable" in err.getvalue()

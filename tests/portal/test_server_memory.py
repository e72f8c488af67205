"""Memory per learner's server: the spawner's default budget, the operator's, and the live
measurement on the status page, with real processes standing in for servers, kernels and a
fork server (each allocates and touches memory, then sleeps until the test ends it)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubconfig import processes
from hubconfig.contract import (
    SERVER_MEMORY_MB_MEASURED,
    capacity_from_memory,
    capacity_resolve,
    host_memory_mb,
    hub_settings_from_env,
)
from portal.memory_report import memory_report

ROOT = Path(__file__).resolve().parents[2]
# A kernel: 8 MiB of its own.
KERNEL = "import time; b = bytearray(b'k' * (8 << 20)); print('ready', flush=True); time.sleep(600)"
# A server started plainly: MiB given, then "kernel" to start a kernel below it (same environment).
SERVER = f"""
import subprocess, sys, time
block = bytearray(b"s" * (int(sys.argv[1]) << 20))
if sys.argv[2] == "kernel":
    kernel = subprocess.Popen([sys.executable, "-c", {KERNEL!r}], stdout=subprocess.PIPE)
    kernel.stdout.readline()
print("ready", flush=True)
time.sleep(600)
"""
# A fork server (16 MiB of its own, the socket path on its command line) forking two servers
# that name themselves as hubconfig/forkserver.py's children do: one with a kernel (which carries
# the server's variables, as a real kernel does), one idle (no marked process at all).
FORK_SERVER = f"""
import os, subprocess, sys, time
sys.path.insert(0, {str(ROOT)!r})
from hubconfig import processes
prefix, api_url = sys.argv[1], sys.argv[2]
preloaded = bytearray(b"f" * (16 << 20))
for with_kernel in (True, False):
    if os.fork() == 0:
        processes.name_set(processes.FORKED_SERVER_NAME)
        block = bytearray(b"s" * (20 << 20))
        if with_kernel:
            env = dict(os.environ, JUPYTERHUB_SERVICE_PREFIX=prefix, JUPYTERHUB_API_URL=api_url)
            kernel = subprocess.Popen([sys.executable, "-c", {KERNEL!r}], env=env, stdout=subprocess.PIPE)
            kernel.stdout.readline()
        print("ready", flush=True)
        time.sleep(600)
        os._exit(0)
time.sleep(600)
"""


class Host:
    """Start stand-in processes for this test's hub; end them (their process groups) afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.api_url = f"http://127.0.0.1:9/{uuid.uuid4().hex}/hub/api"  # this test's hub only
        self.fork_socket = str(tmp_path / "fork" / "control.sock")
        self.started: list[subprocess.Popen] = []

    def _start(self, argv: list[str], env: dict[str, str], ready_lines: int = 1) -> subprocess.Popen:
        # No marker inherited from whoever runs the tests: only what each stand-in is given.
        base = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        child = subprocess.Popen(argv, env={**base, **env}, stdout=subprocess.PIPE, start_new_session=True, text=True)
        self.started.append(child)
        for _ in range(ready_lines):
            assert child.stdout.readline().strip() == "ready"
        return child

    def server(self, name: str, *, mb: int = 20, kernel: bool = False, api_url: str | None = None) -> subprocess.Popen:
        env = {processes.MARKER: f"/user/{name}/", processes.HUB_API_VARIABLE: api_url or self.api_url}
        return self._start([sys.executable, "-c", SERVER, str(mb), "kernel" if kernel else "-"], env)

    def fork_server(self, name: str) -> subprocess.Popen:
        argv = [sys.executable, "-c", FORK_SERVER, f"/user/{name}/", self.api_url, "--socket", self.fork_socket]
        return self._start(argv, {}, ready_lines=2)

    def end(self) -> None:
        for child in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            child.stdout.close()


@pytest.fixture
def host(tmp_path) -> Iterator[Host]:
    stand_ins = Host(tmp_path)
    yield stand_ins
    stand_ins.end()


# --- The budget: measured default per spawner, the operator's value, capacity -------------------
def test_the_budget_defaults_to_the_spawners_measured_cost_and_the_operator_wins(tmp_path):
    env = {"PORTAL_VAR_DIR": str(tmp_path)}
    fork = hub_settings_from_env(env)
    assert fork.spawner == "fork" and fork.server_memory_mb == 72 + 128 == 200 and not fork.server_memory_set
    assert hub_settings_from_env({**env, "HUB_SPAWNER": "local"}).server_memory_mb == 155 + 128
    assert hub_settings_from_env({**env, "HUB_SPAWNER": "simple"}).server_memory_mb == 155 + 128
    for container in ("docker", "systemd", "kubernetes"):  # also the container's memory limit: generous
        assert hub_settings_from_env({**env, "HUB_SPAWNER": container}).server_memory_mb == 512
    assert set(SERVER_MEMORY_MB_MEASURED) == {"fork", "local", "simple", "systemd", "docker", "kubernetes"}
    # The operator's value wins, for any spawner; 0 or empty means "not set".
    for spawner in ("fork", "docker"):
        chosen = hub_settings_from_env({**env, "HUB_SPAWNER": spawner, "SERVER_MEMORY_MB": "300"})
        assert chosen.server_memory_mb == 300 and chosen.server_memory_set
    assert hub_settings_from_env({**env, "SERVER_MEMORY_MB": "0"}).server_memory_mb == 200
    assert not hub_settings_from_env({**env, "SERVER_MEMORY_MB": ""}).server_memory_set
    # Capacity follows the budget: 8 GiB holds 35 forked servers (7 GiB / 200 MiB), 14 at 512.
    assert capacity_from_memory(total_mb=8192, server_mb=200) == 35
    assert capacity_from_memory(total_mb=8192, server_mb=512) == 14
    assert fork.capacity == capacity_resolve(configured=None, total_mb=host_memory_mb(), server_mb=200)


# --- The arithmetic (pure) ---------------------------------------------------------------------
def test_the_fork_servers_memory_is_spread_over_the_servers():
    assert processes.pss_spread_mb([10 * 1024, 20 * 1024], 4 * 1024) == [12.0, 22.0]
    assert processes.pss_spread_mb([1024], 0) == [1.0]
    assert processes.pss_spread_mb([], 4096) == []  # no server: nothing to spread, no division


def test_the_report_says_not_measured_the_figures_and_when_the_budget_is_too_small():
    common = {"complete": True, "fork_servers": 1, "spawner": "fork"}
    nothing = memory_report(per_server_mb=[], budget_mb=200, budget_set=False, **common)
    assert nothing["measured"] is False and nothing["servers"] == 0 and "mean_mb" not in nothing
    assert nothing["budget_source"] == "measured default" and "fork spawner" in nothing["budget_why"]
    assert nothing["seats_per_gb"] == 5.1
    fine = memory_report(per_server_mb=[36.2, 72.0, 40.0], budget_mb=200, budget_set=False, **common)
    assert fine["servers"] == 3 and fine["mean_mb"] == 49.4 and fine["max_mb"] == 72.0
    assert not fine["over_budget"] and fine["hint"] is None
    over = memory_report(per_server_mb=[36.0, 250.7], budget_mb=200, budget_set=True, **common)
    assert over["over_budget"] and over["budget_source"] == "operator" and "SERVER_MEMORY_MB" in over["budget_why"]
    assert "251 MiB" in over["hint"] and "SERVER_MEMORY_MB to about 256" in over["hint"]


# --- Finding and measuring real processes -------------------------------------------------------
def test_servers_are_found_with_their_kernels_and_the_fork_server_and_another_hubs_are_left_out(host):
    plain = host.server("ada", kernel=True)
    other_hub = host.server("eve", api_url="http://127.0.0.1:9/another-hub/hub/api")
    fork_server = host.fork_server("bob")
    entries, complete = processes.proc_entries()
    assert complete
    found = processes.servers_group(entries, api_url=host.api_url, fork_socket=host.fork_socket)
    assert found.fork_servers == {fork_server.pid}
    forked = [e.pid for e in entries if e.name == processes.FORKED_SERVER_NAME and e.ppid == fork_server.pid]
    assert len(forked) == 2  # named in /proc, as ps shows them
    idle = next(pid for pid in forked if f"pid:{pid}" in found.servers)
    busy = next(pid for pid in forked if pid != idle)
    assert set(found.servers) == {"/user/ada/", "/user/bob/", f"pid:{idle}"}  # not eve: another hub's
    assert found.servers["/user/ada/"] == {plain.pid, *processes.descendants(plain.pid)}
    assert len(found.servers["/user/ada/"]) == 2  # the server and its kernel
    assert found.servers["/user/bob/"] == {busy, *processes.descendants(busy)}
    assert len(found.servers["/user/bob/"]) == 2 and found.servers[f"pid:{idle}"] == {idle}
    assert other_hub.pid not in set().union(*found.servers.values())

    measured = processes.servers_memory_read(api_url=host.api_url, fork_socket=host.fork_socket)
    assert measured.complete and measured.fork_servers == 1 and measured.seconds < 2
    # Each server touched 20 MiB, kernels 8 more; the fork server's 16 MiB is spread over its two
    # children, which also share its pages copy-on-write (counted once across them).
    assert 28 * 1024 <= measured.servers_kb["/user/ada/"] <= 120 * 1024
    assert 28 * 1024 <= measured.servers_kb["/user/bob/"] <= 120 * 1024
    assert 20 * 1024 <= measured.servers_kb[f"pid:{idle}"] <= 100 * 1024
    assert 8 * 1024 <= measured.fork_servers_kb <= 80 * 1024
    assert len(measured.per_server_mb) == 3


def test_nothing_of_this_hub_on_this_host_is_an_empty_measurement(tmp_path):
    measured = processes.servers_memory_read(
        api_url=f"http://127.0.0.1:9/{uuid.uuid4().hex}/hub/api", fork_socket=str(tmp_path / "none.sock")
    )
    assert measured.servers_kb == {} and measured.fork_servers == 0 and measured.per_server_mb == []


def test_a_spent_time_budget_gives_a_partial_measurement(host):
    host.server("ada")
    measured = processes.servers_memory_read(api_url=host.api_url, fork_socket=host.fork_socket, budget_s=0)
    assert not measured.complete


# --- The status page and /api/status -----------------------------------------------------------
@pytest.fixture
def status_settings(settings, host):
    settings.HUB_API_URL = "http://127.0.0.1:9/hub/api"  # nothing listens: the hub is down
    settings.HUB_TIMEOUT = 1
    settings.ADMISSION_PREFIX = "test-server-memory:"
    settings.HUB_SERVERS_API_URL = host.api_url
    settings.HUB_FORK_SOCKET = host.fork_socket
    settings.HUB_SPAWNER = "fork"
    settings.SERVER_MEMORY_MB = 200
    settings.SERVER_MEMORY_SET = False
    return settings


@pytest.mark.django_db
def test_the_status_page_shows_the_servers_measured_on_this_host(admin_client, host, status_settings):
    host.server("ada", mb=20)
    host.server("bob", mb=40)
    body = admin_client.get("/api/status").json()["server_memory"]
    assert body["measured"] and body["servers"] == 2 and body["complete"]
    assert 20 <= body["mean_mb"] <= 150 and 40 <= body["max_mb"] <= 150 and body["max_mb"] >= body["mean_mb"]
    assert body["budget_mb"] == 200 and body["budget_source"] == "measured default" and body["hint"] is None
    page = admin_client.get("/status").text
    assert '<span id="st-server-memory-count">2 servers measured</span>' in page
    assert f"max {body['max_mb']} MiB" in page and "not measured here" not in page
    assert "200 MiB, the measured default for the fork spawner" in page

    # The operator's budget, smaller than the largest server: said, with what to set.
    status_settings.SERVER_MEMORY_MB = 32
    status_settings.SERVER_MEMORY_SET = True
    body = admin_client.get("/api/status").json()["server_memory"]
    assert body["over_budget"] and body["budget_source"] == "operator" and "SERVER_MEMORY_MB" in body["hint"]
    page = admin_client.get("/status").text
    assert 'id="st-server-memory-hint"' in page and "set by the operator (SERVER_MEMORY_MB)" in page


@pytest.mark.django_db
def test_the_measurement_is_kept_for_its_ttl(admin_client, host, status_settings):
    host.server("ada")
    assert admin_client.get("/api/status").json()["server_memory"]["servers"] == 1
    host.server("bob")
    assert admin_client.get("/api/status").json()["server_memory"]["servers"] == 1  # cached: /proc not read again
    status_settings.STATUS_MEMORY_TTL = 0
    assert admin_client.get("/api/status").json()["server_memory"]["servers"] == 2


@pytest.mark.django_db
def test_without_servers_here_the_status_says_not_measured_rather_than_zero(admin_client, status_settings):
    body = admin_client.get("/api/status").json()["server_memory"]
    assert body == {**body, "measured": False, "servers": 0, "hint": None} and "mean_mb" not in body
    page = admin_client.get("/status").text
    assert "not measured here" in page and "0 servers measured" not in page
    assert "200 MiB, the measured default for the fork spawner" in page and "5.1 servers per GiB" in page

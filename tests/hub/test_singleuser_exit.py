"""Learners' servers with the project's singleuser config: a stop ends them cleanly and fast,
and a failure still reports itself (the hub shows a failed start, not a stopped server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.hub
ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
          "--ServerApp.token=test-token", "--ServerApp.port_retries=0"]  # fmt: skip


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(ROOT / "hubconfig" / "singleuser"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "HOME": str(tmp_path),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, port: int, sigint: signal.Handlers = signal.SIG_DFL) -> subprocess.Popen:
    """Start a server whose SIGINT starts out as sigint (a hub started in the background: SIG_IGN)."""
    args = [*SERVER, f"--ServerApp.port={port}", f"--ServerApp.root_dir={tmp_path}"]
    if os.geteuid() == 0:
        args.append("--allow-root")
    return subprocess.Popen(
        args, env=_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )  # fmt: skip


def _wait_up(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status?token=test-token", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not come up")


# SIG_IGN is what a server inherits from a hub started in the background from a shell (and so
# from `make test &` or `make start &`): the stop must work the same way there.
@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["sigint-default", "sigint-ignored"])
def test_a_server_stopped_by_the_hub_exits_cleanly_with_its_log_written(tmp_path, sigint):
    port = _free_port()
    proc = _start(tmp_path, port, sigint)
    try:
        _wait_up(proc, port)
        proc.send_signal(signal.SIGINT)  # what the hub's LocalProcessSpawner sends first
        # Well under the spawner's interrupt_timeout (5 s), after which it would send SIGTERM.
        out, _ = proc.communicate(timeout=4)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "Interrupted..." in out  # the log was flushed before the fast exit


def test_a_server_that_fails_still_reports_failure(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _start(tmp_path, port)  # its port is in use and it may not try another
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "already in use" in out

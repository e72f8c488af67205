"""The hub's own lifecycle around forked servers: a restart keeps them, a missing fork server
means a plain start. Each test runs a hub of its own (the session hub must not restart)."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hubconfig.spawners import fork_socket_default
from tests.hub.conftest import ROOT, _free_port

pytestmark = pytest.mark.hub


class OwnHub:
    """A JupyterHub with the project's config (development sign-in), restartable."""

    def __init__(self, data: Path, **env: str) -> None:
        self.data = data
        self.tester = secrets.token_hex(32)
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HUB_", "PORTAL_"))},
            "PROJECT_HUB_CONFIG": str(ROOT / "hubconfig" / "jupyterhub_config.py"),
            "TESTER_TOKEN": self.tester,
            "PORTAL_VAR_DIR": str(data / "var"),
            "HUB_DATA_DIR": str(data),
            "HUB_URL": self.url,
            "HUB_INTERNAL_URL": f"http://127.0.0.1:{_free_port()}",
            "HUB_PROXY_API_URL": f"http://127.0.0.1:{_free_port()}",
            "PORTAL_SERVICE_TOKEN": secrets.token_hex(32),
            "CULLER_SERVICE_TOKEN": secrets.token_hex(32),
            "DEBUG": "true",
            **env,
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.data / "hub.log", "a")  # noqa: SIM115 - kept by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(ROOT / "tests" / "hub" / "hub_test_config.py")],
            cwd=self.data, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/hub/api/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, (self.data / "hub.log").read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError("the hub did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/hub/api", headers={"Authorization": f"token {self.tester}"}, timeout=30
        )

    def launch(self, user: str) -> int:
        """Start user's server; wait until ready; return its pid."""
        with self.api() as api:
            api.post(f"/users/{user}")
            assert api.post(f"/users/{user}/server").status_code in (201, 202)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                server = api.get(f"/users/{user}").json()["servers"].get("", {})
                if server.get("ready"):
                    return int(server["state"]["pid"])
                time.sleep(0.2)
        raise AssertionError((self.data / "hub.log").read_text()[-3000:])

    def contents(self, user: str) -> int:
        """Return the status of user's contents API through the proxy (the learner's view)."""
        return httpx.get(
            f"{self.url}/user/{user}/api/contents", headers={"Authorization": f"token {self.tester}"}, timeout=30
        ).status_code


@contextmanager
def own_hub(tmp_path: Path, **env: str) -> Iterator[OwnHub]:
    hub = OwnHub(tmp_path, **env)
    hub.start()
    try:
        yield hub
    finally:
        with hub.api() as api:  # nothing outlives the test, whatever the restart policy
            for user in api.get("/users").json() if hub.proc and hub.proc.poll() is None else []:
                api.delete(f"/users/{user['name']}/server")
        time.sleep(1)
        hub.stop()


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_hub_restart_keeps_learners_servers_and_finds_them_again(tmp_path):
    with own_hub(tmp_path, HUB_KEEP_SERVERS_ON_RESTART="true") as hub:
        pid = hub.launch("stayer")
        hub.stop()  # an upgrade, a crash: the learner's work must not go with the hub
        assert _running(pid)
        hub.start()
        with hub.api() as api:
            server = api.get("/users/stayer").json()["servers"][""]
        assert server["ready"] and int(server["state"]["pid"]) == pid
        assert hub.contents("stayer") == 200  # the new proxy routes to it again
        with hub.api() as api:
            api.delete("/users/stayer/server")
        deadline = time.monotonic() + 30
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(pid)  # and the restarted hub can stop it
    folder = fork_socket_default(data_dir=tmp_path).parent
    deadline = time.monotonic() + 10  # the fork server notices its hub is gone within a second
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists()  # its control folder in /tmp goes with it


def test_without_a_usable_fork_server_the_launch_still_works_and_says_why(tmp_path):
    # A fork server's folder that is not private (someone else could reach the socket):
    # the spawner refuses it, starts the server plainly and logs the reason.
    folder = fork_socket_default(data_dir=tmp_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # noqa: S103 - the point of the test
    try:
        with own_hub(tmp_path) as hub:
            pid = hub.launch("plain")
            assert b"hubconfig.forkserver" not in Path(f"/proc/{pid}/cmdline").read_bytes()
            assert hub.contents("plain") == 200
            log = (tmp_path / "hub.log").read_text()
            assert "Plain start for plain" in log and "not a private folder" in log
    finally:
        os.chmod(folder, 0o700)


PROBE = """
import json, os, socket, sys
sock, other_pid, other_home = sys.argv[1:4]
found = {}
try:
    s = socket.socket(socket.AF_UNIX); s.connect(sock); found["fork_server"] = "reached"
except OSError as e:
    found["fork_server"] = type(e).__name__
for name, path in (("environ", f"/proc/{other_pid}/environ"), ("mem", f"/proc/{other_pid}/mem")):
    try:
        open(path, "rb").read(1); found[name] = "read"
    except OSError as e:
        found[name] = type(e).__name__
try:
    os.listdir(other_home); found["home"] = "listed"
except OSError as e:
    found["home"] = type(e).__name__
print(json.dumps(found))
"""


def test_with_system_users_a_learner_reaches_neither_the_fork_server_nor_another_learner(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("system users need the hub to run as root (CI does)")
    names = [f"nbp{secrets.token_hex(3)}a", f"nbp{secrets.token_hex(3)}b"]
    # Not under tmp_path: pytest's folders are private to root, and learners need their homes.
    homes = Path(tempfile.mkdtemp(prefix="nbp-homes-"))
    os.chmod(homes, 0o755)  # noqa: S103 - learners traverse it to their homes
    try:
        for name in names:
            subprocess.run(["useradd", "-m", "-d", str(homes / name), "-s", "/bin/bash", name], check=True)
            os.chmod(homes / name, 0o700)
        with own_hub(tmp_path, HUB_SYSTEM_USERS="true") as hub:
            pids = [hub.launch(name) for name in names]
            for name, pid in zip(names, pids, strict=True):
                uid = int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])
                assert uid == pwd.getpwnam(name).pw_uid  # the server runs as its learner
                assert hub.contents(name) == 200
            socket_path = fork_socket_default(data_dir=tmp_path)
            assert socket_path.exists()
            # A process of learner A (same uid as A's server and kernels) probes B and the fork server.
            probe = subprocess.run(
                # The system Python: this checkout's interpreter may live where learners cannot go.
                ["runuser", "-u", names[0], "--", "/usr/bin/python3", "-c", PROBE,
                 str(socket_path), str(pids[1]), str(homes / names[1])],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert probe.returncode == 0, probe.stderr
            assert json.loads(probe.stdout) == {
                "fork_server": "PermissionError",
                "environ": "PermissionError",
                "mem": "PermissionError",
                "home": "PermissionError",
            }
    finally:
        for name in names:
            subprocess.run(["pkill", "-KILL", "-u", name], check=False)
            subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
        shutil.rmtree(homes, ignore_errors=True)

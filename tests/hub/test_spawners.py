"""Learners' servers forked from the warm fork server (the default spawner), on the real hub.

Each forked server is what LocalProcessSpawner would have started (own session, stdin from
/dev/null, only its own settings), Stop ends everything it started, and the fork server
comes back when it dies.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from hubconfig import processes
from hubconfig.contract import fork_socket_path
from tests.hub.conftest import Hub
from tests.hub.cullkit import servers_start, servers_stop_all
from tests.hub.kernels import kernel_run

pytestmark = [pytest.mark.hub, pytest.mark.django_db(transaction=True)]


def _server_pid(hub: Hub, user: str) -> int:
    """Return the pid the hub recorded for user's server (admin view of the spawner state)."""
    with hub.api() as api:
        state = api.get(f"/users/{user}").json()["servers"][""]["state"]
    return int(state["pid"])


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _gone(pids: list[int], timeout: float = 15) -> list[int]:
    """Wait until every pid has ended; return those still running."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                continue
            if state[state.rindex(")") + 2] != "Z":
                alive.append(pid)
        time.sleep(0.2)
    return alive


def _sigign(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigIgn line")


def test_a_forked_server_is_a_process_of_its_own_with_only_its_own_settings(hub):
    servers_start(hub, ["forky", "forkier"])
    try:
        pid = _server_pid(hub, "forky")
        fork_server = _ppid(pid)
        # Forked by the warm fork server, not started by the hub from scratch.
        assert b"hubconfig.forkserver" in Path(f"/proc/{fork_server}/cmdline").read_bytes()
        assert _ppid(_server_pid(hub, "forkier")) == fork_server
        # Its own session and process group; stdin from /dev/null; SIGINT not ignored.
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        assert not _sigign(pid) & (1 << (signal.SIGINT - 1))
        env = json.loads(kernel_run(hub, "forky", "import json, os; print(json.dumps(dict(os.environ)))"))
        assert env["JUPYTERHUB_USER"] == "forky" and env["HOME"] == str(hub.home("forky"))
        # Named in /proc (its environment there is the fork server's), so the status page finds
        # both servers of this hub, and the fork server whose memory it spreads over them.
        assert Path(f"/proc/{pid}/comm").read_text().strip() == processes.FORKED_SERVER_NAME
        measured = processes.servers_memory_read(
            api_url=env["JUPYTERHUB_API_URL"], fork_socket=str(fork_socket_path(data_dir=hub.data_dir))
        )
        assert len(measured.servers_kb) == 2 and measured.fork_servers == 1 and measured.complete
        assert all(10 <= mb <= 400 for mb in measured.per_server_mb), measured
        # Only its own token and settings: nothing of the hub's or the portal's configuration.
        for secret in ("PORTAL_SERVICE_TOKEN", "CULLER_SERVICE_TOKEN", "GITHUB_CLIENT_SECRET", "TESTER_TOKEN"):
            assert secret not in env
        other = json.loads(kernel_run(hub, "forkier", "import json, os; print(json.dumps(dict(os.environ)))"))
        assert env["JUPYTERHUB_API_TOKEN"] != other["JUPYTERHUB_API_TOKEN"]
        # The fork server itself never held a token: its environment is the bare minimum.
        fork_env = Path(f"/proc/{fork_server}/environ").read_bytes()
        assert b"TOKEN" not in fork_env and b"SECRET" not in fork_env
        # Fresh random state in each child (Python reseeds `random` after fork).
        code = "import random; print(random.random())"
        assert kernel_run(hub, "forky", code) != kernel_run(hub, "forkier", code)
    finally:
        servers_stop_all(hub, ["forky", "forkier"])


def test_stop_ends_the_kernels_and_whatever_a_notebook_left_running(hub):
    servers_start(hub, ["leaver"])
    try:
        server = _server_pid(hub, "leaver")
        started = json.loads(
            kernel_run(
                hub,
                "leaver",
                # An emulator started the way a notebook would, in a session of its own, holding a port.
                "import json, os, socket, subprocess\n"
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()\n"
                "p = subprocess.Popen(['python3', '-m', 'http.server', str(port), '--bind', '127.0.0.1'],\n"
                "                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
                "print(json.dumps({'kernel': os.getpid(), 'emulator': p.pid}))",
            )
        )
    finally:
        servers_stop_all(hub, ["leaver"])
    assert _gone([server, started["kernel"], started["emulator"]]) == []


def test_the_fork_server_comes_back_after_dying_and_earlier_servers_stay_managed(hub):
    servers_start(hub, ["before"])
    try:
        first = _server_pid(hub, "before")
        old_fork_server = _ppid(first)
        os.kill(old_fork_server, signal.SIGKILL)
        assert _gone([old_fork_server]) == []
        servers_start(hub, ["after"])  # the spawner starts a new fork server for this launch
        new_fork_server = _ppid(_server_pid(hub, "after"))
        assert new_fork_server != old_fork_server
        assert b"hubconfig.forkserver" in Path(f"/proc/{new_fork_server}/cmdline").read_bytes()
        # The server forked by the dead fork server still runs and is still the hub's to stop.
        with hub.api() as api:
            assert api.get("/users/before").json()["servers"][""]["ready"]
    finally:
        servers_stop_all(hub, ["before", "after"])
    assert _gone([first]) == []


def _wheel(folder: Path, name: str) -> Path:
    """Build a minimal pure-Python wheel (no network, no build backend needed)."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}/__init__.py": b"ANSWER = 42\n",
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{name}-1.0.dist-info/RECORD"] = (record + f"{name}-1.0.dist-info/RECORD,,\n").encode()
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def test_a_learners_pip_install_stays_in_their_home(hub, tmp_path):
    import sys
    import sysconfig

    wheel = _wheel(tmp_path, "workshop_helper_pkg")
    servers_start(hub, ["installer", "neighbour"])
    try:
        # What `%pip install` runs in a notebook (offline here: a local wheel).
        kernel_run(
            hub,
            "installer",
            f"import subprocess, sys; subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', "
            f"'--disable-pip-version-check', {str(wheel)!r}], check=True)",
            timeout=120,
        )
        assert kernel_run(hub, "installer", "import workshop_helper_pkg; print(workshop_helper_pkg.ANSWER)") == "42\n"
        installed = list(hub.home("installer").glob(".local/workshop-packages/workshop_helper_pkg/__init__.py"))
        assert installed, "installed into the learner's home"
        # Not into the shared environment (the portal's own venv on the embedded default)...
        assert not Path(sysconfig.get_paths()["purelib"], "workshop_helper_pkg").exists(), sys.prefix
        # ...so another learner does not get it.
        assert kernel_run(
            hub, "neighbour", "import importlib.util as u; print(u.find_spec('workshop_helper_pkg'))"
        ) == ("None\n")
    finally:
        servers_stop_all(hub, ["installer", "neighbour"])


def test_a_servers_port_is_nobody_elses_from_its_choice_until_its_stop():
    """JupyterHub's random_port() lets the port go at once: in a launch storm a kernel's or another
    server's bind, or an outgoing connection, took it before the server bound it, and a learner's
    link led into someone else's server. The spawner's port stays held until the server stops."""
    import socket

    from tornado.netutil import bind_sockets

    from hubconfig.spawners import SimpleForkSpawner

    spawner = SimpleForkSpawner()
    port = spawner._port_reserve()
    taken = []
    try:
        for _ in range(3000):  # anything asking the system for a free port (a kernel's five)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            taken.append(sock)
        assert port not in {sock.getsockname()[1] for sock in taken}
        plain = socket.socket()
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))  # a bind that did not ask for it: refused
        plain.close()
        server = bind_sockets(port, "127.0.0.1")  # what the learner's server does: it binds
        server[0].listen(8)
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        server[0].close()
    finally:
        for sock in taken:
            sock.close()
    spawner.port = port
    spawner.clear_state()  # what JupyterHub calls after every stop, and after a server ended by itself
    assert spawner.port == 0  # the next start holds a fresh one
    free = socket.socket()
    free.bind(("127.0.0.1", port))
    free.close()

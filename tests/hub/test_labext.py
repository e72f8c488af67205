"""The per-learner lab extension (hubconfig/labext.py) in real Jupyter servers.

Each test starts `jupyter server` as the hub's spawners would (the project's singleuser config
through JUPYTER_CONFIG_PATH, which enables the extension and jupyter-server-proxy; its own
session and process group; stdin from /dev/null; a base URL like a learner's), with the lab's
environment, and talks to it over HTTP on 127.0.0.1. Lab services are stdlib http.server
processes and small Python one-liners.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import nbformat
import pytest

from hubconfig import processes

pytestmark = pytest.mark.hub
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "lab-test-token"
BASE = "/user/ada/"
SECRET = "s3cret-Passw0rd-xyz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class LabServer:
    """A running learner's server."""

    def __init__(self, proc: subprocess.Popen, port: int, home: Path, log: Path) -> None:
        self.proc, self.port, self.home, self.log = proc, port, home, log
        self.url = f"http://127.0.0.1:{port}{BASE}"

    def get(self, path: str, *, token: str | None = TOKEN, **params) -> httpx.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30, follow_redirects=False)

    def status(self) -> dict[str, dict]:
        response = self.get("portal-lab/status")
        assert response.status_code == 200, response.text
        return {s["name"]: s for s in response.json()["services"]}

    def wait_settled(self, timeout: float = 30) -> dict[str, dict]:
        """Wait until no service is starting; return the status by name."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if all(s["state"] != "starting" for s in status.values()):
                return status
            time.sleep(0.2)
        raise AssertionError(f"services still starting: {status}")

    def service_pids(self) -> list[int]:
        return processes.descendants(self.proc.pid)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)


@contextmanager
def lab_server(
    tmp_path: Path,
    *,
    services: list[dict] = (),
    values: dict | None = None,
    lab_dir: str = "",
    args: tuple = (),
    env: dict | None = None,
) -> Iterator[LabServer]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_PATH": str(ROOT / "hubconfig" / "singleuser"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERHUB_SERVICE_PREFIX": BASE,
        "PORTAL_LAB_SERVICES": json.dumps(list(services)),
        "PORTAL_LAB_VALUES": json.dumps(values or {}),
        "PORTAL_LAB_DIR": lab_dir,
        **(env or {}),
    }
    argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.token={TOKEN}",
            f"--ServerApp.base_url={BASE}", f"--ServerApp.root_dir={home}", *args]  # fmt: skip
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # as the spawners start it: its own session and process group
        )  # fmt: skip
    server = LabServer(proc, port, home, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if server.get("api/status").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up:\n" + log.read_text()
            time.sleep(0.2)
        yield server
    finally:
        # Whatever a failed test left: the server, its services (its process group) and below.
        leftovers = processes.descendants(proc.pid)
        processes.group_signal(proc.pid, signal.SIGKILL)
        processes.signal_all(leftovers, signal.SIGKILL)
        proc.wait(timeout=10)


def http_service(name: str, port: int, **extra) -> dict:
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    return {"name": name, "command": command, "port": port, "url": f"http://127.0.0.1:{port}", "web": True, **extra}


def python_service(name: str, port: int, code: str, **extra) -> dict:
    return {"name": name, "command": [sys.executable, "-c", code], "port": port, **extra}


# --- Services ---------------------------------------------------------------------------------


def test_services_start_in_the_servers_group_in_the_lab_folder_and_answer_on_their_port(tmp_path):
    web_port, plain_port = _free_port(), _free_port()
    (tmp_path / "home" / "ws").mkdir(parents=True)
    (tmp_path / "home" / "ws" / "marker.txt").write_text("from the workshop folder")
    services = [http_service("web", web_port, ready="/marker.txt"), http_service("plain", plain_port)]
    with lab_server(tmp_path, services=services, values={"PASS": SECRET}, lab_dir="ws") as server:
        status = server.wait_settled()
        assert status == {
            "web": {"name": "web", "port": web_port, "state": "ready", "reason": ""},
            "plain": {"name": "plain", "port": plain_port, "state": "ready", "reason": ""},
        }
        raw = server.get("portal-lab/status").text
        assert "http.server" not in raw and SECRET not in raw and sys.executable not in raw
        # Started by the server, in its process group and session (the spawner's stop ends those).
        pids = server.service_pids()
        assert len(pids) == 2, pids
        for pid in pids:
            assert os.getpgid(pid) == os.getpgid(server.proc.pid) == server.proc.pid
            assert os.getsid(pid) == server.proc.pid
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert f"JUPYTERHUB_SERVICE_PREFIX={BASE}".encode() in environ  # the spawner's marker
            assert not any(e.startswith((b"PORTAL_LAB_VALUES=", b"PORTAL_LAB_SERVICES=")) for e in environ)
        # Its working directory is the workshop folder; it answers on its port and through the proxy.
        assert httpx.get(f"http://127.0.0.1:{web_port}/marker.txt").text == "from the workshop folder"
        proxied = server.get(f"proxy/{web_port}/marker.txt")
        assert proxied.status_code == 200 and proxied.text == "from the workshop folder"
        assert server.get(f"proxy/{web_port}/marker.txt", token=None).status_code in (302, 403)
        # Its output goes to ~/.portal-lab/<name>.log.
        log = server.home / ".portal-lab" / "web.log"
        deadline = time.monotonic() + 5
        while "GET /marker.txt" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "GET /marker.txt" in log.read_text()


def test_a_missing_lab_folder_runs_services_in_the_root(tmp_path):
    port = _free_port()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "at-root.txt").write_text("root")
    with lab_server(tmp_path, services=[http_service("web", port, ready="/")], lab_dir="not-pulled-yet") as server:
        assert server.wait_settled()["web"]["state"] == "ready"
        assert httpx.get(f"http://127.0.0.1:{port}/at-root.txt").text == "root"


def test_services_move_to_the_workshop_folder_once_it_is_pulled_and_filled(tmp_path):
    port = _free_port()
    services = [http_service("web", port, ready="/")]
    with lab_server(tmp_path, services=services, values=VALUES, lab_dir="redfish-101") as server:
        assert server.wait_settled()["web"]["state"] == "ready"
        assert httpx.get(f"http://127.0.0.1:{port}/redfish-101/").status_code == 404  # not pulled yet
        (first,) = server.service_pids()
        ws = _workshop(server.home)  # what nbgitpuller's first pull does, then it goes to fill
        assert server.get("portal-lab/fill", dir="redfish-101", next="lab").status_code == 302
        assert server.wait_settled()["web"]["state"] == "ready"
        (second,) = server.service_pids()
        assert second != first and not _alive(first)
        assert httpx.get(f"http://127.0.0.1:{port}/README.md").text == (ws / "README.md").read_text()
        # Only once: a later fill (the next pull) leaves the running services alone.
        assert server.get("portal-lab/fill", dir="redfish-101", next="lab").status_code == 302
        assert server.service_pids() == [second]


def test_status_says_why_services_failed_and_the_server_opens_anyway(tmp_path):
    taken_port, early_port, never_port, missing_port, late_port = (_free_port() for _ in range(5))
    services = [
        http_service("taken", taken_port),
        python_service("early", early_port, "import sys; print('bad config'); sys.exit(3)"),
        python_service("never", never_port, "import time; time.sleep(120)", ready="/"),
        {"name": "missing", "command": ["no-such-program-here"], "port": missing_port},
        python_service("late", late_port, "import time; time.sleep(1.5)"),  # ends without listening
    ]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", taken_port))
        taken.listen()
        with lab_server(tmp_path, services=services, args=("--PortalLab.ready_timeout=3",)) as server:
            status = server.wait_settled()
            assert status["taken"]["state"] == "failed"
            assert status["taken"]["reason"] == f"port {taken_port} is already in use by another process"
            assert status["early"]["state"] == "failed"
            assert status["early"]["reason"].startswith("exited with code 3 before it was ready")
            assert status["never"] == {
                "name": "never", "port": never_port, "state": "failed",
                "reason": "did not answer on / within 3 s: stopped",
            }  # fmt: skip
            assert status["missing"]["state"] == "failed"
            assert status["missing"]["reason"] == "could not start its program: No such file or directory"
            assert status["late"]["reason"].startswith("exited with code 0 before it was ready")
            # The one that never became ready was stopped; nothing of the lab is left running.
            assert [p for p in server.service_pids() if _alive(p)] == []
            assert "bad config" in (server.home / ".portal-lab" / "early.log").read_text()
            assert server.get("lab").status_code == 200  # JupyterLab opens


def test_a_service_that_exits_after_it_was_ready_shows_failed(tmp_path):
    port = _free_port()
    code = f"import socket, time\ns = socket.create_server(('127.0.0.1', {port}))\ntime.sleep(2)\nraise SystemExit(4)\n"
    with lab_server(tmp_path, services=[python_service("flaky", port, code)]) as server:
        assert server.wait_settled()["flaky"]["state"] == "ready"
        deadline = time.monotonic() + 10
        while server.status()["flaky"]["state"] == "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.status()["flaky"] == {
            "name": "flaky",
            "port": port,
            "state": "failed",
            "reason": "exited with code 4",
        }


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["hub-sigint", "sigterm"])
def test_stopping_the_server_ends_every_service_process(tmp_path, sig):
    web_port, stubborn_port = _free_port(), _free_port()
    # Ignores TERM and starts a child of its own: both must still end.
    stubborn = (
        "import signal, socket, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"s = socket.create_server(('127.0.0.1', {stubborn_port}))\n"
        "time.sleep(300)\n"
    )
    services = [http_service("web", web_port, ready="/"), python_service("stubborn", stubborn_port, stubborn)]
    with lab_server(tmp_path, services=services) as server:
        assert {s["state"] for s in server.wait_settled().values()} == {"ready"}
        pids = server.service_pids()
        commands = [Path(f"/proc/{p}/cmdline").read_bytes() for p in pids]
        assert sum(b"http.server" in c for c in commands) == 1, commands
        assert sum(b"sleep(300)" in c for c in commands) == 2, commands  # stubborn and its child
        started = time.monotonic()
        server.stop(sig, timeout=15)
        took = time.monotonic() - started
        assert server.proc.returncode == 0, server.log.read_text()[-3000:]
        assert took < 5, f"stop took {took:.1f} s (the spawner sends SIGTERM after 5 s)"
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in pids if _alive(p)] == []
        with socket.socket() as probe:  # the ports are free again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", web_port))


def test_status_needs_the_learner_or_a_token_for_them(tmp_path):
    bad = [{"name": "bad", "command": "not a list", "port": 1}, {"name": "Bad Name!", "command": ["x"], "port": 2000}]
    with lab_server(tmp_path, services=bad) as server:
        assert server.get("portal-lab/status", token=None).status_code == 403
        assert server.get("portal-lab/status", token="wrong").status_code == 403
        assert server.get("portal-lab/status").json() == {
            "services": [
                {
                    "name": "bad",
                    "port": 1,
                    "state": "failed",
                    "reason": "invalid service: port must be a number from 1024 to 65535",
                }
            ]
        }


# --- Fill -------------------------------------------------------------------------------------

VALUES = {"STDID": 7, "PASSSTU": SECRET, "REDFISH_URL": "http://127.0.0.1:20007"}


def _notebook(*cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = list(cells)
    return nbformat.writes(nb)


def _workshop(home: Path) -> Path:
    ws = home / "redfish-101"
    (ws / "scripts").mkdir(parents=True)
    (ws / "0-Welcome.ipynb").write_text(
        _notebook(
            nbformat.v4.new_markdown_cell("# Welcome, student {{ STDID }}\nYour emulator: {{ REDFISH_URL }}"),
            nbformat.v4.new_code_cell('password = "{{ PASSSTU }}"\n{% if STDID > 5 %}late = True{% endif %}'),
            nbformat.v4.new_raw_cell("{{ STDID }} stays in a raw cell"),
            nbformat.v4.new_code_cell("print('no template here')"),
        )
    )
    (ws / "README.md").write_text("Student {{ STDID }}, ask for {{ UNKNOWN }}.\n")
    (ws / "scripts" / "login.sh").write_text("curl -u student{{ STDID }}:{{ PASSSTU }} $URL\n")
    (ws / "ansible.yml").write_text("{% raw %}- debug: msg={{ item }}{% endraw %} for {{ STDID }}\n")
    (ws / "plain.py").write_text("print('{x}'.format(x=1))\n")
    (ws / "data.csv").write_text("{{ STDID }}\n")  # not a fill suffix
    return ws


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_text())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_fill_fills_notebooks_and_text_files_then_redirects(tmp_path):
    (tmp_path / "home").mkdir()
    ws = _workshop(tmp_path / "home")
    plain_before = (ws / "plain.py").stat()
    with lab_server(tmp_path, values=VALUES, lab_dir="redfish-101") as server:
        response = server.get("portal-lab/fill", dir="redfish-101", next="lab/tree/redfish-101/0-Welcome.ipynb?reset")
        assert response.status_code == 302, response.text
        assert response.headers["location"] == f"{BASE}lab/tree/redfish-101/0-Welcome.ipynb?reset"
        nb = nbformat.read(ws / "0-Welcome.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.cells[0].source == "# Welcome, student 7\nYour emulator: http://127.0.0.1:20007"
        assert nb.cells[1].source == f'password = "{SECRET}"\nlate = True'
        assert nb.cells[2].source == "{{ STDID }} stays in a raw cell"
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert (ws / "README.md").read_text() == "Student 7, ask for ‹UNKNOWN›.\n"
        assert (ws / "scripts" / "login.sh").read_text() == f"curl -u student7:{SECRET} $URL\n"
        assert (ws / "ansible.yml").read_text() == "- debug: msg={{ item }} for 7\n"
        assert (ws / "data.csv").read_text() == "{{ STDID }}\n"
        assert (ws / "plain.py").stat().st_mtime_ns == plain_before.st_mtime_ns
        assert not list(ws.rglob("*.portal-lab"))  # no temporary file left
        assert SECRET not in server.log.read_text()  # the server's log names files, never values

        # Idempotent: a second fill (the next launch) writes nothing, not even the raw block's output.
        before = _snapshot(ws)
        assert server.get("portal-lab/fill", dir="redfish-101", next="lab").status_code == 302
        assert _snapshot(ws) == before

        # The learner's later edit is kept; a maintainer's new templated text (merged by
        # nbgitpuller) is filled next time.
        (ws / "README.md").write_text("My own notes, student 7.\n")
        with open(ws / "scripts" / "login.sh", "a") as script:
            script.write("echo {{ STDID }}\n")
        assert server.get("portal-lab/fill", dir="redfish-101", next=f"{BASE}lab").headers["location"] == f"{BASE}lab"
        assert (ws / "README.md").read_text() == "My own notes, student 7.\n"
        assert (ws / "scripts" / "login.sh").read_text() == f"curl -u student7:{SECRET} $URL\necho 7\n"
        assert (ws / "ansible.yml").read_text() == "- debug: msg={{ item }} for 7\n"


@pytest.mark.parametrize(
    "bad_next",
    [
        "https://evil.example/",
        "//evil.example/lab",
        "///evil.example/lab",
        "/\\evil.example/lab",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/user/bob/lab",
        f"{BASE}../bob/lab",
        f"{BASE}%2e%2e/bob/lab",
        "lab/../../bob",
        "http:lab",
    ],
)
def test_fill_refuses_open_redirects_and_fills_nothing(tmp_path, bad_next):
    (tmp_path / "home").mkdir()
    ws = _workshop(tmp_path / "home")
    before = _snapshot(ws)
    with lab_server(tmp_path, values=VALUES, lab_dir="redfish-101") as server:
        response = server.get("portal-lab/fill", dir="redfish-101", next=bad_next)
        assert response.status_code == 400, (bad_next, response.status_code, response.headers)
        assert "location" not in response.headers
    assert _snapshot(ws) == before


def test_fill_refuses_traversal_and_symlinks_and_needs_the_learner(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    ws = _workshop(home)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("{{ PASSSTU }}\n")
    (home / "linked").symlink_to(outside)
    (ws / "escape.md").symlink_to(outside / "secret.md")
    (ws / "sub-link").symlink_to(outside)
    before = _snapshot(ws)
    with lab_server(tmp_path, values=VALUES, lab_dir="redfish-101") as server:
        for bad_dir in ("../outside", "/etc", str(outside), "linked", "redfish-101/sub-link", "a\\..\\b", ""):
            response = server.get("portal-lab/fill", dir=bad_dir if bad_dir else "..", next="lab")
            assert response.status_code == 400, bad_dir
        # Without the learner's credentials: to the login page, nothing filled.
        anonymous = server.get("portal-lab/fill", token=None, dir="redfish-101", next="lab")
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["location"]
        assert _snapshot(ws) == before
        # A folder not pulled yet: nothing to fill, on to next.
        assert server.get("portal-lab/fill", dir="not-there", next="lab").status_code == 302
        # The folder itself: filled, but symlinks inside it are neither followed nor replaced.
        assert server.get("portal-lab/fill", dir="redfish-101", next="lab").status_code == 302
    assert (outside / "secret.md").read_text() == "{{ PASSSTU }}\n"
    assert (ws / "escape.md").is_symlink()
    assert (ws / "README.md").read_text() == "Student 7, ask for ‹UNKNOWN›.\n"


def test_fill_rewrites_only_the_workshop_the_server_was_launched_for(tmp_path):
    """A link to fill another folder (a learner's own project, hidden settings) rewrites nothing;
    nor does a launch whose workshop has no templates."""
    home = tmp_path / "home"
    home.mkdir()
    ws = _workshop(home)
    mine = home / "my-project"
    mine.mkdir()
    (mine / "notes.md").write_text("Helm: {{ .Values.image }} and {{ STDID }}\n")
    before, mine_before = _snapshot(ws), _snapshot(mine)
    with lab_server(tmp_path, values=VALUES, lab_dir="redfish-101") as server:
        assert server.get("portal-lab/fill", dir="my-project", next="lab").status_code == 302
    assert _snapshot(mine) == mine_before and _snapshot(ws) == before
    with lab_server(tmp_path, values=VALUES, lab_dir="redfish-101", env={"PORTAL_LAB_FILL": "0"}) as server:
        assert server.get("portal-lab/fill", dir="redfish-101", next="lab").status_code == 302
    assert _snapshot(ws) == before


# --- In a learner's server started by the real hub ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_hub_forks_servers_with_the_lab_and_a_token_with_access_to_them_reads_its_status(hub):
    from tests.hub.cullkit import servers_start, servers_stop_all, users_create

    users_create(hub, ["labhub", "labother"])
    servers_start(hub, ["labhub"])
    try:
        assert "Forked labhub's server" in hub.log.read_text()  # from the warm fork server
        status_url = f"{hub.url}/user/labhub/portal-lab/status"
        # The culler's token (access:servers) reads it, as the portal's status task will.
        response = httpx.get(status_url, headers={"Authorization": f"token {hub.culler_token}"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == {"services": []}
        # Another learner's token does not.
        with hub.api() as api:
            other = api.post("/users/labother/tokens", json={"expires_in": 600}).json()["token"]
        response = httpx.get(status_url, headers={"Authorization": f"token {other}"}, timeout=30)
        assert response.status_code == 403
    finally:
        servers_stop_all(hub, ["labhub"])

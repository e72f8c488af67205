"""Launch storm: N signed-in learners press Launch through the portal within one second.

Starts its own stack on free loopback ports: the project's hub (`hubconfig/jupyterhub_config.py`
through the tests' config, development sign-in, CHP from node_modules), the portal under its
production server (waitress, as the Procfile runs it) on its own PostgreSQL database, and a
generated one-workshop content repository.
N learners sign in to the portal the way a browser does (portal -> hub OAuth -> the hub's
development login form -> back to the portal) and each gets a hub token for the measurements.

Rounds alternate the plain local spawner (`HUB_SPAWNER=local`) and the fork spawner
(`HUB_SPAWNER=fork`), on the same machine in the same run, the hub restarted and every home
emptied between rounds (each round clones afresh). In a round every learner POSTs
`/workshops/<slug>/launch` (session cookie + CSRF token), the POSTs spread over one second, then
does what the browser does: follows the nbgitpuller link the portal redirects to with the hub
cookie, waits on the hub's spawn-pending page's progress event stream, reloads it, passes the
server's OAuth, runs nbgitpuller's pull (its event stream, as its page does) and opens the
JupyterLab page it leads to (HTML only, no static assets). Measured per learner, from the POST:

- notebook: the server's contents API answers 200 for the workshop's first notebook;
- cell: a kernel started through the REST API has executed `1+1` (execute_result over the
  kernel's websocket).

Each round also prints when each phase of the wait ended (the portal's answer, server ready,
pull, lab page, notebook, kernel, cell) and the CPU seconds the hub, proxy, fork server, portal,
servers and the benchmark itself used, against the whole machine's busy time (the host is shared:
figures are noisy). A learner not done within --timeout seconds of the round's start (or who hit
an error) is failed, and counts as --timeout in the percentiles. Then, with the learners' kernels running
and again once they are shut down (idle servers), the memory per server is measured as
proportional set size (`/proc/<pid>/smaps_rollup`: the server and all its descendants, plus
every fork server's own PSS spread over the servers).

Before each storm one extra user's server is started and stopped through the hub API
(--warm-up, the default): the fork spawner starts its fork server on first use, and an event
starts on a hub that has served someone before. `--no-warm-up` measures the very first storm.

    .venv/bin/python bench/launch_storm.py --learners 40 [--rounds 2] [--timeout 300]

Last line: learners=N std_p50_s std_p95_s fork_p50_s fork_p95_s (notebook time)
storm_ratio=fork_p95_s/std_p95_s first_cell_p95_s (fork) std_pss_mb fork_pss_mb (idle servers)
seats_per_gb=1024/fork_pss_mb. Targets: storm_ratio <= 0.25, fork_pss_mb <= 45,
seats_per_gb >= 20, no learner failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import free_port, fresh_database, gunicorn, hub_wait_up  # noqa: E402
from hubconfig import processes  # noqa: E402
from hubconfig.spawners import fork_socket_default  # noqa: E402
from tests.contentrepo import ContentRepo, notebook_bytes  # noqa: E402

FOLDER = "storm-workshop"  # the catalog's slug too
FIRST = "0-Start.ipynb"
TARGET_DIR = "workshops"  # the portal's LAUNCH_TARGET_DIR default
KINDS = {"local": "std", "fork": "fork"}
MARKER = "JUPYTERHUB_SERVICE_PREFIX"  # every process of a learner's server carries it
# A browser waits minutes for an answer; every wait is bounded by the round's --timeout anyway.
HTTP_TIMEOUT = httpx.Timeout(300.0, connect=30.0)
STREAM_TIMEOUT = httpx.Timeout(300.0, connect=30.0, read=None)  # event streams: quiet while a server starts


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of values, interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, *, reaped: bool = False) -> float:
    """Return the CPU seconds pid used (plus its ended, reaped children's when reaped); 0 when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state): utime is field 14
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / CLOCK_TICKS


def machine_busy_s() -> float:
    """Return the CPU seconds the whole machine spent busy since boot (every core, everyone's work)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class Learner:
    """A signed-in learner: portal and hub cookies (as right after sign-in), CSRF token, hub token."""

    name: str
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)
    csrf: str = ""
    token: str = ""


# What a learner waits for, in order: each phase ends at a mark (seconds since the POST).
PHASES = {
    "launch": "the portal answers the POST",
    "ready": "the hub says the server is ready",
    "pulled": "nbgitpuller's pull finished",
    "lab": "the JupyterLab page loaded",
    "notebook": "the contents API answers 200 for the first notebook",
    "kernel": "a kernel started (REST)",
    "cell": "1+1 executed in it",
}


@dataclass
class Outcome:
    """One learner's round: seconds from the POST to each phase's end, or what went wrong where."""

    name: str
    marks: dict[str, float] = field(default_factory=dict)
    step: str = "waiting to press Launch"
    error: str = ""
    kernel: str = ""
    started: float = 0.0
    waited: int = 0  # times the portal sent them to the waiting page first
    busy: int = 0  # times the portal said the hub was busy (its page launched again)

    def begin(self) -> None:
        """The learner presses Launch now."""
        self.started = time.perf_counter()
        self.step = "launch"

    def reached(self, phase: str, following: str) -> None:
        """Mark the end of phase now; the learner is then at following."""
        self.marks[phase] = time.perf_counter() - self.started
        self.step = following

    @property
    def notebook_s(self) -> float | None:
        return None if self.error else self.marks.get("notebook")

    @property
    def cell_s(self) -> float | None:
        return None if self.error else self.marks.get("cell")


class Stack:
    """The portal and the hub (restarted per round), on fixed free ports in a temporary directory."""

    def __init__(self, tmp: Path, *, learners: int, portal_workers: int, database: str = "bench_storm") -> None:
        self.tmp = tmp
        self.tag = secrets.token_hex(3)
        self.names = [f"st{self.tag}-{i:03}" for i in range(learners)]
        self.warm_name = f"st{self.tag}-warm"
        self.portal_workers = portal_workers
        self.content = ContentRepo(tmp / "content")
        first = notebook_bytes("Storm start", "Setup", "First call", code="1 + 1")
        self.content.write(f"{FOLDER}/{FIRST}", first)
        self.content.write(f"{FOLDER}/1-Next.ipynb", notebook_bytes("Storm next", "More"))
        self.content.write(f"{FOLDER}/workshop.yml", json.dumps({"title": "Launch storm", "summary": "Bench."}))
        self.content.commit("Storm workshop")
        self.data_dir = tmp / "hub"
        self.hub_url = f"http://127.0.0.1:{free_port()}"
        self.portal_url = f"http://127.0.0.1:{free_port()}"
        self.tester_token = secrets.token_hex(32)
        capacity = str(learners + 5)  # the learners, the warm-up user, room to spare
        self.env = {
            "PORTAL_IGNORE_DOTENV": "1",
            "DEBUG": "true",  # the development sign-in needs it (loopback only)
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": fresh_database(database),
            "ADMISSION_PREFIX": f"bench-storm-{self.tag}:",  # the Redis is shared
            "CELERY_BROKER_URL": "memory://",  # a launch only queues a cull when the host is full
            "PORTAL_VAR_DIR": str(tmp / "var"),
            "HUB_DATA_DIR": str(self.data_dir),
            "HUB_URL": self.hub_url,
            "HUB_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
            "PORTAL_URL": self.portal_url,
            "PORTAL_SERVICE_TOKEN": secrets.token_hex(32),
            "CULLER_SERVICE_TOKEN": secrets.token_hex(32),
            "CATALOG_SOURCE": self.content.url,
            "CATALOG_BRANCH": self.content.branch,
            "CAPACITY_MAX_SERVERS": capacity,
            "HUB_CONCURRENT_SPAWN_LIMIT": capacity,
            # Stopping the hub stops its servers (a round never leaves one behind).
            "HUB_KEEP_SERVERS_ON_RESTART": "false",
            "PROJECT_HUB_CONFIG": str(ROOT / "hubconfig" / "jupyterhub_config.py"),
            "TESTER_TOKEN": self.tester_token,
        }
        self.fork_socket = str(fork_socket_default(data_dir=self.data_dir))
        self.hub_proc: subprocess.Popen | None = None
        self.hub_log: Path | None = None

    def process_env(self, **extra: str) -> dict[str, str]:
        """Return the environment for the portal's and the hub's processes."""
        env = {**os.environ, **self.env, **extra}
        for key in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "HUB_SPAWNER"):
            env.pop(key, None)
        env.update(extra)
        return env

    def portal_prepare(self) -> None:
        """Migrate the portal's database and sync the catalog from the content repository."""
        for cmd in (["migrate", "--noinput", "-v0"], ["sync_catalog"]):
            done = subprocess.run(
                [sys.executable, "manage.py", *cmd], cwd=ROOT, env=self.process_env(), capture_output=True, text=True
            )
            if done.returncode:
                raise SystemExit(f"manage.py {cmd[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    # --- The hub -------------------------------------------------------------------------------
    def api(self) -> httpx.Client:
        """Return a client for the hub API with the tester's (admin) token."""
        return httpx.Client(
            base_url=self.hub_url + "/hub/api",
            headers={"Authorization": f"token {self.tester_token}"},
            timeout=HTTP_TIMEOUT,
        )

    def hub_start(self, kind: str, *, log_name: str) -> None:
        """Start the hub with HUB_SPAWNER=kind; wait until its API answers."""
        self.hub_log = self.tmp / log_name
        with open(self.hub_log, "w") as out:
            self.hub_proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(ROOT / "tests" / "hub" / "hub_test_config.py")],
                cwd=self.tmp, env=self.process_env(HUB_SPAWNER=kind), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        hub_wait_up(api_url=self.hub_url + "/hub/api", proc=self.hub_proc, log=self.hub_log, timeout=90)

    def active(self) -> dict[str, dict]:
        """Return every user's default server the hub lists (running, starting or stopping)."""
        found, offset = {}, 0
        with self.api() as api:
            while True:
                body = api.get(
                    "/users", params={"state": "active", "offset": offset, "limit": 200},
                    headers={"Accept": "application/jupyterhub-pagination+json"},
                ).json()  # fmt: skip
                found.update({u["name"]: u["servers"][""] for u in body["items"] if "" in u["servers"]})
                following = body["_pagination"]["next"]
                if not following:
                    return found
                offset = following["offset"]

    def servers_stop_all(self, *, timeout: float = 180) -> None:
        """Stop every server through the hub API; wait (bounded) until the hub lists none."""
        try:
            running = self.active()
        except (httpx.HTTPError, ValueError, KeyError):
            return  # the hub is not answering: its own stop and the sweep below end them
        with self.api() as api:
            for name in running:
                api.delete(f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.active():
                return
            time.sleep(0.5)
        print(f"warning: servers still listed {timeout:.0f} s after their stop: {sorted(self.active())}")

    def hub_stop(self) -> None:
        """Stop the hub (and its proxy); then end anything of this run still there (and say so)."""
        proxy_pid = self._proxy_pid()
        if self.hub_proc is not None and self.hub_proc.poll() is None:
            os.killpg(self.hub_proc.pid, signal.SIGTERM)
            try:
                self.hub_proc.wait(60)
            except subprocess.TimeoutExpired:
                print("warning: the hub did not stop in 60 s after SIGTERM: killed")
                os.killpg(self.hub_proc.pid, signal.SIGKILL)
                self.hub_proc.wait(10)
        self.hub_proc = None
        # The fork server notices its hub is gone within a second; give everything a moment.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = self.leftovers(proxy_pid)
            if not left:
                return
            time.sleep(0.5)
        print(f"warning: still running after the hub stopped (now killed): {left}")
        processes.signal_all(left, signal.SIGKILL)

    def _proxy_pid(self) -> int | None:
        try:
            return int((self.data_dir / "jupyterhub-proxy.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def leftovers(self, proxy_pid: int | None = None) -> list[int]:
        """Return the pids of this run's servers, kernels, fork servers and proxy still running."""
        needle = f"{MARKER}=/user/st{self.tag}-".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if not cmdline:
                continue  # a zombie or a kernel thread
            ours = self.fork_socket.encode() in cmdline or any(v.startswith(needle) for v in environ.split(b"\0"))
            if ours and processes.pss_kb(int(entry.name)) > 0:
                found.append(int(entry.name))
        if proxy_pid:
            try:
                if b"configurable-http-proxy" in Path(f"/proc/{proxy_pid}/cmdline").read_bytes():
                    found.append(proxy_pid)
            except OSError:
                pass  # gone
        return found

    def warm_up(self) -> None:
        """Start and stop one server through the hub API (the fork server starts on first use)."""
        with self.api() as api:
            api.post("/users", json={"usernames": [self.warm_name]})
            response = api.post(f"/users/{self.warm_name}/server")
            if response.status_code not in (201, 202):
                raise SystemExit(f"warm-up spawn failed: {response.status_code} {response.text[:300]}")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                server = api.get(f"/users/{self.warm_name}").json().get("servers", {}).get("")
                if server and server.get("ready"):
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"warm-up server not ready:\n{self.hub_log.read_text()[-3000:]}")
            api.delete(f"/users/{self.warm_name}/server")
            while time.monotonic() < deadline + 60:
                if not api.get(f"/users/{self.warm_name}").json().get("servers"):
                    return
                time.sleep(0.2)

    def admission_clear(self) -> None:
        """Forget the waiting list of an earlier round (places learners no longer poll for)."""
        import redis

        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        keys = list(client.scan_iter(match=self.env["ADMISSION_PREFIX"] + "*", count=500))
        if keys:
            client.delete(*keys)
        client.close()

    def homes_clear(self) -> None:
        """Empty every learner's home (the next round clones the workshop afresh)."""
        shutil.rmtree(self.data_dir / "home", ignore_errors=True)

    # --- CPU ------------------------------------------------------------------------------------
    def cpu_by_role(self, names: list[str] = ()) -> dict[str, float]:
        """Return CPU seconds used so far by the hub, its proxy, the fork servers, the portal, this
        benchmark, the whole machine, and (names given) those learners' servers with everything they
        started (kernels, git; ended ones once reaped)."""
        hub = self.hub_proc.pid if self.hub_proc else -1
        bind = f"\0{self.portal_url.removeprefix('http://')}".encode()  # after --listen (or --bind)
        portal = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and bind in (entry / "cmdline").read_bytes():
                    portal.append(int(entry.name))
            except OSError:
                continue
        mine = os.times()
        used = {
            "hub": cpu_s(hub),
            "proxy": cpu_s(self._proxy_pid() or -1),
            "fork server": sum(cpu_s(pid) for pid in self.fork_servers()),
            "portal": sum(cpu_s(pid) for pid in portal),
            "benchmark": mine.user + mine.system,
            "machine": machine_busy_s(),
        }
        if names:
            servers = self.server_pids(list(names)).values()
            used["servers"] = sum(
                cpu_s(pid, reaped=True) + sum(cpu_s(d) for d in processes.descendants(pid)) for pid in servers
            )
        return used

    # --- Memory ---------------------------------------------------------------------------------
    def server_pids(self, names: list[str]) -> dict[str, int]:
        """Return {learner: their server's pid} from the spawners' state (admin API)."""
        pids = {}
        with self.api() as api:
            for name in names:
                server = api.get(f"/users/{name}").json().get("servers", {}).get("")
                pid = ((server or {}).get("state") or {}).get("pid")
                if pid:
                    pids[name] = int(pid)
        return pids

    def fork_servers(self) -> list[int]:
        """Return the pids of this hub's fork servers (its children running hubconfig.forkserver)."""
        hub = self.hub_proc.pid if self.hub_proc else -1
        found = []
        for pid in processes.descendants(hub):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            if parent == hub and b"hubconfig.forkserver" in cmdline:
                found.append(pid)
        return found

    def pss_measure(self, names: list[str]) -> Memory:
        """Measure the proportional set size of names' servers and of this hub's fork servers.

        Each server counts with all its descendants (kernels, anything a notebook started);
        the fork servers' own PSS is spread over the servers.
        """
        servers_kb = 0
        pids = self.server_pids(names)
        for pid in pids.values():
            servers_kb += processes.pss_kb(pid) + sum(processes.pss_kb(d) for d in processes.descendants(pid))
        zygotes = self.fork_servers()
        return Memory(
            servers=len(pids),
            servers_kb=servers_kb,
            fork_servers=len(zygotes),
            fork_servers_kb=sum(processes.pss_kb(pid) for pid in zygotes),
        )


@dataclass(frozen=True)
class Memory:
    """PSS of a round's servers (KiB, each with its descendants) and of the fork servers."""

    servers: int
    servers_kb: int
    fork_servers: int
    fork_servers_kb: int

    @property
    def per_server_mb(self) -> float:
        """MiB per server, the fork servers' share included (NaN without servers)."""
        return (self.servers_kb + self.fork_servers_kb) / self.servers / 1024 if self.servers else float("nan")

    def describe(self) -> str:
        """Say how the figure is made of."""
        own = self.servers_kb / self.servers / 1024 if self.servers else float("nan")
        return (
            f"{self.per_server_mb:.1f} MiB per server ({self.servers} servers at {own:.1f} MiB each, "
            f"{self.fork_servers} fork server(s) of {self.fork_servers_kb / 1024:.1f} MiB in all)"
        )


# --- Learners -------------------------------------------------------------------------------------
async def learner_sign_in(stack: Stack, learner: Learner) -> None:
    """Sign in on the portal through the hub's development login, as a browser does."""
    detail = f"/workshops/{FOLDER}/"
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=True) as http:
        page = await http.get(f"{stack.portal_url}/accounts/login", params={"next": detail})
        if "/hub/login" in str(page.url):
            xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
            page = await http.post(
                str(page.url),
                data={"username": learner.name, "password": "storm", "_xsrf": xsrf.group(1) if xsrf else ""},
            )
        if str(page.url) != stack.portal_url + detail or 'id="launch"' not in page.text:
            raise SystemExit(f"{learner.name} could not sign in: {page.status_code} {page.url}\n{page.text[:500]}")
        learner.cookies = httpx.Cookies(http.cookies)
        learner.csrf = next((c.value for c in http.cookies.jar if c.name == "csrftoken"), "")


def learners_prepare(stack: Stack) -> list[Learner]:
    """Sign every learner in (4 at a time) and give each a hub token for the measurements."""
    learners = [Learner(name) for name in stack.names]

    async def sign_all() -> None:
        gate = asyncio.Semaphore(4)

        async def one(learner: Learner) -> None:
            async with gate:
                await learner_sign_in(stack, learner)

        await asyncio.gather(*(one(learner) for learner in learners))

    asyncio.run(sign_all())
    with stack.api() as api:
        for learner in learners:
            response = api.post(f"/users/{learner.name}/tokens", json={"note": "storm bench", "expires_in": 86400})
            if response.status_code != 201:
                raise SystemExit(f"token for {learner.name}: {response.status_code} {response.text[:300]}")
            learner.token = response.json()["token"]
    return learners


async def _events(http: httpx.AsyncClient, url: str, **kwargs) -> list[dict]:
    """Read a server-sent event stream until an event says ready / finished / failed / error."""
    seen = []
    async with http.stream("GET", url, timeout=STREAM_TIMEOUT, **kwargs) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"{urlsplit(url).path}: {stream.status_code}")
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            seen.append(event)
            if event.get("ready") or event.get("failed") or event.get("phase") in ("finished", "error"):
                break
    return seen


async def kernel_run(stack: Stack, learner: Learner, kernel: str, code: str) -> str:
    """Run code in kernel over its websocket (as JupyterLab does); return what it printed and the
    value it gave (text/plain), once both its reply (shell channel) and its "idle" (iopub) arrived:
    the two channels are not ordered with each other, so output can follow the reply (as nbclient
    waits too). RuntimeError on an error or a closed socket."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"{stack.hub_url}/user/{learner.name}/api/kernels/{kernel}/channels".replace("http://", "ws://")
    headers = {"Authorization": f"token {learner.token}"}
    ws = await websocket_connect(HTTPRequest(url, headers=headers, connect_timeout=60, request_timeout=300))
    out: list[str] = []
    replied = idle = False
    try:
        msg_id = uuid.uuid4().hex
        await ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": learner.name, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        while True:
            raw = await ws.read_message()
            if raw is None:
                raise RuntimeError("the kernel's websocket closed before the result")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "execute_result":
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error" or (kind == "execute_reply" and content.get("status") != "ok"):
                raise RuntimeError(f"the cell failed: {content.get('ename', '')}: {content.get('evalue', content)}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            if replied and idle:
                return "".join(out)
    finally:
        ws.close()


async def cell_execute(stack: Stack, learner: Learner, kernel: str) -> None:
    """Execute `1+1` in kernel over its websocket; return once its result (2) arrived."""
    result = await kernel_run(stack, learner, kernel, "1+1")
    if result.strip() != "2":
        raise RuntimeError(f"1+1 gave {result!r}")


async def launch_press(stack: Stack, learner: Learner, http: httpx.AsyncClient) -> httpx.Response:
    """Submit the workshop page's Launch form (session cookie, CSRF token), not following the answer."""
    return await http.post(
        f"{stack.portal_url}/workshops/{FOLDER}/launch",
        data={"csrfmiddlewaretoken": learner.csrf},
        headers={"Origin": stack.portal_url, "Referer": f"{stack.portal_url}/workshops/{FOLDER}/"},
    )


async def queue_wait(stack: Stack, http: httpx.AsyncClient) -> None:
    """Do what the waiting page does until the learner's turn: load it, then poll their place every
    3 s (at once if the page already says "go"; after 15 s when the list is degraded)."""
    page = await http.get(f"{stack.portal_url}/workshops/{FOLDER}/wait")
    status = re.search(r'data-status="([^"]*)"', page.text)
    state = status.group(1) if status else "wait"
    while state == "wait":
        await asyncio.sleep(3)
        polled = await http.get(f"{stack.portal_url}/queue/status", headers={"Accept": "application/json"})
        state = polled.json().get("status", "wait") if polled.status_code == 200 else "wait"
    if state == "degraded":
        await asyncio.sleep(15)


async def learner_storm(stack: Stack, learner: Learner, out: Outcome, *, press_at: float) -> None:
    """Press Launch at press_at (loop time), then do what the browser does; mark each phase in out."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, press_at - loop.time()))
    token = {"Authorization": f"token {learner.token}"}
    user_url = f"{stack.hub_url}/user/{learner.name}"
    async with httpx.AsyncClient(cookies=learner.cookies, timeout=HTTP_TIMEOUT) as http:
        out.begin()
        response = await launch_press(stack, learner, http)
        for _ in range(100):  # what the waiting page's script does (portal/static/portal/queue.js)
            if response.status_code == 302 and response.headers.get("location") == f"/workshops/{FOLDER}/wait":
                out.waited += 1  # a place in the waiting list: poll it, then Launch again
                await queue_wait(stack, http)
            elif response.status_code == 503 and 'data-status="busy"' in response.text:
                out.busy += 1  # every slot with the hub taken: Launch again in 2-3 s
                await asyncio.sleep(2 + random.random())
            else:
                break
            response = await launch_press(stack, learner, http)
        link = response.headers.get("location", "")
        if response.status_code != 302 or not link.startswith(f"{stack.hub_url}/hub/user-redirect/git-pull?"):
            title = re.search(r"<h1[^>]*>(.*?)</h1>", response.text, re.S)
            raise RuntimeError(f"launch answered {response.status_code} {link or (title and title.group(1).strip())}")
        out.reached("launch", "ready")

        page = await http.get(link, follow_redirects=True)
        if "/hub/spawn-pending/" in str(page.url):
            found = re.search(r'new EventSource\("([^"]+)"\)', page.text)
            if found:  # the page's own EventSource: the hub cookie and its _xsrf
                events = await _events(http, stack.hub_url + found.group(1).replace("&amp;", "&"))
            else:
                events = await _events(
                    http, f"{stack.hub_url}/hub/api/users/{learner.name}/server/progress", headers=token
                )
            if not events or not events[-1].get("ready"):
                raise RuntimeError(f"the server did not start: {events[-1:] or 'no progress event'}")
            out.reached("ready", "pulled")
            page = await http.get(str(page.url), follow_redirects=True)  # the page reloads itself when ready
        else:
            out.reached("ready", "pulled")
        if page.status_code != 200 or "/git-pull" not in str(page.url):
            raise RuntimeError(f"the link led to {page.status_code} {page.url}")

        query = dict(httpx.URL(link).params)
        params = {k: query[k] for k in ("repo", "branch", "targetpath")}
        events = await _events(http, f"{user_url}/git-pull/api", params=params)
        if not events or events[-1].get("phase") != "finished":
            raise RuntimeError(f"the pull did not finish: {events[-3:]}")
        out.reached("pulled", "lab")

        lab = await http.get(f"{user_url}/{query['urlpath']}", follow_redirects=True)
        if lab.status_code != 200 or "jupyter-config-data" not in lab.text:
            raise RuntimeError(f"JupyterLab page: {lab.status_code} {lab.url}")
        out.reached("lab", "notebook")

        contents = await http.get(f"{user_url}/api/contents/{TARGET_DIR}/{FOLDER}/{FIRST}", headers=token)
        if contents.status_code != 200 or contents.json().get("name") != FIRST:
            raise RuntimeError(f"contents API: {contents.status_code} {contents.text[:200]}")
        out.reached("notebook", "kernel")

        kernel = await http.post(f"{user_url}/api/kernels", json={"name": "python3"}, headers=token)
        if kernel.status_code != 201:
            raise RuntimeError(f"kernel start: {kernel.status_code} {kernel.text[:200]}")
        out.kernel = kernel.json()["id"]
        out.reached("kernel", "cell")
        await cell_execute(stack, learner, out.kernel)
        out.reached("cell", "done")


async def storm(stack: Stack, learners: list[Learner], *, timeout: float) -> list[Outcome]:
    """Run one storm: every learner presses Launch within one second; bounded by timeout."""
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.2
    outcomes = [Outcome(learner.name) for learner in learners]

    async def one(i: int) -> None:
        learner, out = learners[i], outcomes[i]
        try:
            async with asyncio.timeout_at(begin + timeout):
                await learner_storm(stack, learner, out, press_at=begin + i / len(learners))
        except TimeoutError:
            out.error = f"not done in {timeout:.0f} s"
        except Exception as error:  # noqa: BLE001 - one learner's failure is a figure, not the end
            out.error = f"{type(error).__name__}: {error}"[:300]

    await asyncio.gather(*(one(i) for i in range(len(learners))))
    return outcomes


async def kernels_shutdown(stack: Stack, learners: list[Learner], outcomes: list[Outcome]) -> None:
    """Shut down the kernels the storm started (the servers are then idle)."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        await asyncio.gather(
            *(
                http.delete(
                    f"{stack.hub_url}/user/{learner.name}/api/kernels/{out.kernel}",
                    headers={"Authorization": f"token {learner.token}"},
                )
                for learner, out in zip(learners, outcomes, strict=True)
                if out.kernel
            ),
            return_exceptions=True,
        )


@dataclass
class Round:
    """What one round measured."""

    kind: str
    outcomes: list[Outcome]
    pss_kernel_mb: float
    pss_idle_mb: float

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error or o.cell_s is None]


def round_run(stack: Stack, learners: list[Learner], *, kind: str, number: int, args) -> Round:
    """Restart the hub with kind, storm, measure memory, stop every server and the hub."""
    stack.homes_clear()
    stack.admission_clear()
    stack.hub_start(kind, log_name=f"hub-{number}-{kind}.log")
    try:
        if args.warm_up:
            stack.warm_up()
        before, began = stack.cpu_by_role(), time.monotonic()
        outcomes = asyncio.run(storm(stack, learners, timeout=args.timeout))
        wall = time.monotonic() - began
        after = stack.cpu_by_role([o.name for o in outcomes])
        done = [o.name for o in outcomes if o.cell_s is not None]
        used = ", ".join(f"{role} {after[role] - before.get(role, 0):.1f}" for role in after if role != "machine")
        print(
            f"round {number} {kind}: storm {wall:.0f} s; CPU seconds: {used}; the machine was busy "
            f"{after['machine'] - before['machine']:.0f} of {wall * os.cpu_count():.0f} core-seconds (everyone's work)",
            flush=True,
        )
        with_kernel = stack.pss_measure(done)
        asyncio.run(kernels_shutdown(stack, learners, outcomes))
        time.sleep(3)  # the kernels' processes end; the servers settle
        idle = stack.pss_measure(done)
        print(f"round {number} {kind}: PSS with a kernel each: {with_kernel.describe()}", flush=True)
        print(f"round {number} {kind}: PSS idle: {idle.describe()}", flush=True)
        return Round(kind, outcomes, with_kernel.per_server_mb, idle.per_server_mb)
    finally:
        stack.servers_stop_all()
        stack.hub_stop()


def figures(values: list[float]) -> str:
    return f"p50={percentile(values, 50):.2f} s p95={percentile(values, 95):.2f} s"


def round_report(rnd: Round, number: int) -> None:
    """Print one round's figures: time to each phase's end, each phase's own time, the failures."""
    done = [o for o in rnd.outcomes if o.cell_s is not None]
    print(
        f"round {number} {rnd.kind}: {len(done)}/{len(rnd.outcomes)} done; "
        f"notebook {figures([o.notebook_s for o in done])}; first cell {figures([o.cell_s for o in done])}",
        flush=True,
    )
    previous = None
    for phase, meaning in PHASES.items():
        until = [o.marks[phase] for o in rnd.outcomes if phase in o.marks]
        own = [o.marks[phase] - (o.marks[previous] if previous else 0) for o in rnd.outcomes if phase in o.marks]
        print(f"  {phase:8} {len(until):3} reached at {figures(until)}; phase alone {figures(own)}: {meaning}")
        previous = phase
    waited, busy = [o for o in rnd.outcomes if o.waited], [o for o in rnd.outcomes if o.busy]
    if waited or busy:
        print(f"  {len(waited)} learners were sent to the waiting page first, {len(busy)} were told the hub "
              "was busy (each page launched again by itself)")  # fmt: skip
    for out in rnd.failed[:10]:
        print(f"  failed {out.name} at '{out.step}': {out.error or 'no result'}")
    print(f"failed={len(rnd.failed)}", flush=True)


def censored(rounds: list[Round], attr: str, timeout: float) -> list[float]:
    """Return every learner's time for attr, a failed learner counting as the round's limit."""
    return [
        getattr(o, attr) if getattr(o, attr) is not None and not o.error else timeout
        for rnd in rounds
        for o in rnd.outcomes
    ]


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=40, help="learners pressing Launch within one second")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each spawner, alternating local, fork")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a round may take (then: failed)")
    parser.add_argument("--portal-workers", type=int, default=4, help="gunicorn workers, with --portal-server gunicorn")
    parser.add_argument(
        "--portal-server",
        choices=("production", "gunicorn"),
        default="production",
        help="the portal's server: its production one (waitress), or gunicorn's sync workers",
    )
    parser.add_argument("--kinds", default="local,fork", help="spawners to run, in order (default: both)")
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True,
                        help="start and stop one server before each storm (default: yes)")  # fmt: skip
    parser.add_argument("--logs", type=Path, help="copy the hub, fork server and portal logs to this folder")
    args = parser.parse_args()
    if not 1 <= args.learners <= 200 or not 1 <= args.rounds <= 10 or not 10 <= args.timeout <= 1800:
        parser.error("bounds: 1 <= --learners <= 200, 1 <= --rounds <= 10, 10 <= --timeout <= 1800")
    # SIGTERM runs the clean-up below too (as Ctrl-C does).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmpdir:
        tmp = Path(tmpdir)
        stack = Stack(tmp, learners=args.learners, portal_workers=args.portal_workers)
        try:
            stack.portal_prepare()
            with gunicorn(stack.process_env(), log=tmp / "portal.log", url=stack.portal_url, production=True):
                # Users sign in once, on a hub of either kind: cookies, sessions and tokens outlive restarts.
                stack.hub_start("local", log_name="hub-0-signin.log")
                try:
                    learners = learners_prepare(stack)
                finally:
                    stack.hub_stop()
                print(f"{len(learners)} learners signed in; rounds of {args.timeout:.0f} s at most", flush=True)
                for _ in range(args.rounds):
                    for kind in [k for k in args.kinds.split(",") if k in KINDS]:
                        number = len(rounds) + 1
                        rnd = round_run(stack, learners, kind=kind, number=number, args=args)
                        rounds.append(rnd)
                        round_report(rnd, number)
        finally:
            if stack.hub_proc:
                stack.servers_stop_all(timeout=60)
            stack.hub_stop()
            # The fork server removes its socket, not the private folder it made for it.
            with contextlib.suppress(OSError):
                Path(stack.fork_socket).parent.rmdir()
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in [*tmp.glob("*.log"), *stack.data_dir.glob("*.log")]:
                    shutil.copy(log, args.logs / log.name)

    by_kind = {kind: [r for r in rounds if r.kind == kind] for kind in KINDS}
    stats = {}
    for kind, label in KINDS.items():
        if not by_kind[kind]:
            print(f"{kind}: not run (--kinds)")
            stats[label] = dict.fromkeys(("p50", "p95", "cell_p95", "pss"), float("nan"))
            continue
        notebook = censored(by_kind[kind], "notebook_s", args.timeout)
        cell = censored(by_kind[kind], "cell_s", args.timeout)
        stats[label] = {
            "p50": percentile(notebook, 50), "p95": percentile(notebook, 95),
            "cell_p95": percentile(cell, 95),
            "pss": statistics.median(r.pss_idle_mb for r in by_kind[kind]),
        }  # fmt: skip
        print(
            f"{kind}: notebook p50={percentile(notebook, 50):.2f} s p95={percentile(notebook, 95):.2f} s; "
            f"first cell p50={percentile(cell, 50):.2f} s p95={percentile(cell, 95):.2f} s; "
            f"PSS per idle server {stats[label]['pss']:.1f} MiB, with its kernel "
            f"{statistics.median(r.pss_kernel_mb for r in by_kind[kind]):.1f} MiB; "
            f"failed {sum(len(r.failed) for r in by_kind[kind])}"
        )
    std, fork = stats["std"], stats["fork"]
    print(
        f"learners={args.learners} std_p50_s={std['p50']:.2f} std_p95_s={std['p95']:.2f} "
        f"fork_p50_s={fork['p50']:.2f} fork_p95_s={fork['p95']:.2f} storm_ratio={fork['p95'] / std['p95']:.3f} "
        f"first_cell_p95_s={fork['cell_p95']:.2f} std_pss_mb={std['pss']:.1f} fork_pss_mb={fork['pss']:.1f} "
        f"seats_per_gb={1024 / fork['pss']:.1f}"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every process of the run was stopped")

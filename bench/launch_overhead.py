"""Launch overhead: the portal's Launch button vs the plain nbgitpuller link, in a browser.

Starts its own stack on free loopback ports (the project's hub config with the development
sign-in, the portal under gunicorn on SQLite, a one-workshop content repository), signs in
once, then alternates (a) the direct nbgitpuller link opened on the hub and (b) the portal's
Launch button, each cold (no server running) and warm (server running), timing until the
workshop's first notebook is open in JupyterLab.

    .venv/bin/python bench/launch_overhead.py [--pairs 5]

Last line: direct_cold_s=... portal_cold_s=... cold_ratio=... direct_warm_s=... portal_warm_s=...
warm_ratio=... (medians in seconds; ratio = portal / direct; target <= 1.10).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.contentrepo import ContentRepo, notebook_bytes  # noqa: E402
from tests.hub.browser import chromium, notebook_open  # noqa: E402

USER = "bench"
FOLDER = "bench-workshop"
NOTEBOOK = "0-Start.ipynb"


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait until url answers below 500."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer:\n{log.read_text()[-3000:]}")


class Stack:
    """The hub and the portal, started on free ports in a temporary directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.content = ContentRepo(tmp / "content")
        self.content.write(f"{FOLDER}/{NOTEBOOK}", notebook_bytes("Benchmark start", "One", "Two"))
        self.content.write(f"{FOLDER}/1-Next.ipynb", notebook_bytes("Benchmark next", "Three"))
        self.content.commit("Bench workshop")
        self.hub_url = f"http://127.0.0.1:{free_port()}"
        self.portal_url = f"http://127.0.0.1:{free_port()}"
        self.admin_token = secrets.token_hex(32)
        self.env = {
            **os.environ,
            "PORTAL_IGNORE_DOTENV": "1",
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{tmp / 'portal.sqlite3'}",
            "PORTAL_VAR_DIR": str(tmp / "var"),
            "HUB_DATA_DIR": str(tmp / "hub"),
            "HUB_URL": self.hub_url,
            # The hub stops its servers when the benchmark stops it: nothing outlives the run.
            "HUB_KEEP_SERVERS_ON_RESTART": "false",
            "HUB_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
            "PORTAL_URL": self.portal_url,
            "PORTAL_SERVICE_TOKEN": secrets.token_hex(32),
            "CATALOG_SOURCE": self.content.url,
            "CATALOG_BRANCH": self.content.branch,
            "CELERY_BROKER_URL": "memory://",
            "PROJECT_HUB_CONFIG": str(ROOT / "hubconfig" / "jupyterhub_config.py"),
            "TESTER_TOKEN": self.admin_token,
        }
        for key in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"):
            self.env.pop(key, None)
        self.procs: list[subprocess.Popen] = []

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        out = open(self.tmp / log, "w")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        """Prepare the portal's database and catalog, start the hub and the portal."""
        py = sys.executable
        for cmd in (["migrate", "--noinput", "-v0"], ["sync_catalog"]):
            subprocess.run([py, "manage.py", *cmd], cwd=ROOT, env=self.env, check=True, capture_output=True)
        # The tests' hub config: the project's config plus an admin token to stop servers.
        hub = self._start(
            [py, "-m", "jupyterhub", "-f", str(ROOT / "tests" / "hub" / "hub_test_config.py")],
            "hub.log",
        )
        bind = self.portal_url.removeprefix("http://")
        gunicorn = str(Path(py).parent / "gunicorn")
        web = self._start([gunicorn, "portal.wsgi", "--bind", bind, "--workers", "2"], "portal.log")
        wait_http(self.hub_url + "/hub/api/", hub, self.tmp / "hub.log")
        wait_http(self.portal_url + "/healthz", web, self.tmp / "portal.log")

    def stop(self) -> None:
        """Stop everything (the hub stops its servers)."""
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def server_ready(self) -> bool:
        """Tell whether the bench user's server runs."""
        headers = {"Authorization": f"token {self.admin_token}"}
        model = httpx.get(f"{self.hub_url}/hub/api/users/{USER}", headers=headers).json()
        server = (model.get("servers") or {}).get("")
        return bool(server and server.get("ready"))

    def server_stop(self) -> None:
        """Stop the bench user's server and wait until it is gone."""
        headers = {"Authorization": f"token {self.admin_token}"}
        httpx.delete(f"{self.hub_url}/hub/api/users/{USER}/server", headers=headers, timeout=60)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            model = httpx.get(f"{self.hub_url}/hub/api/users/{USER}", headers=headers).json()
            if not model.get("servers"):
                return
            time.sleep(0.1)
        raise SystemExit(f"the server did not stop: {model}\n{(self.tmp / 'hub.log').read_text()[-3000:]}")


def direct_link(stack: Stack) -> str:
    """Return the plain nbgitpuller link, as an instructor would share it."""
    from urllib.parse import urlencode

    query = urlencode(
        {
            "repo": Path(stack.content.url).as_uri(),
            "branch": stack.content.branch,
            "targetpath": "workshops",
            "urlpath": f"lab/tree/workshops/{FOLDER}/{NOTEBOOK}",
        }
    )
    return f"{stack.hub_url}/hub/user-redirect/git-pull?{query}"


def run_direct(context, stack: Stack) -> float:
    """Open the direct link; return seconds until the notebook is open."""
    page = context.new_page()
    start = time.perf_counter()
    page.goto(direct_link(stack))
    notebook_open(page, NOTEBOOK)
    elapsed = time.perf_counter() - start
    page.close()
    return elapsed


def run_portal(context, stack: Stack, slug: str) -> float:
    """On the workshop page, press Launch; return seconds until the notebook is open."""
    page = context.new_page()
    page.goto(f"{stack.portal_url}/workshops/{slug}/")
    start = time.perf_counter()
    page.locator("#launch").click()
    notebook_open(page, NOTEBOOK)
    elapsed = time.perf_counter() - start
    page.close()
    return elapsed


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="pairs per condition (>= 5)")
    pairs = max(parser.parse_args().pairs, 5)
    with tempfile.TemporaryDirectory(prefix="launch-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.start()
            slug = FOLDER  # the catalog's slug for the folder
            with chromium() as browser:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                # Sign in once through the portal (development sign-in on the hub).
                page = context.new_page()
                page.goto(f"{stack.portal_url}/accounts/login?next=/workshops/{slug}/")
                page.fill("#username_input", USER)
                page.click("#login_submit")
                page.wait_for_selector("#launch")
                page.close()
                # Warm-up (not counted): first-ever clone and JupyterLab's first load.
                run_portal(context, stack, slug)
                times: dict[str, list[float]] = {k: [] for k in ("dc", "pc", "dw", "pw")}
                for i in range(pairs):
                    order = ("direct", "portal") if i % 2 == 0 else ("portal", "direct")
                    for temperature in ("cold", "warm"):
                        for mode in order:
                            if temperature == "cold":
                                stack.server_stop()
                            elif not stack.server_ready():
                                run_portal(context, stack, slug)
                            took = run_direct(context, stack) if mode == "direct" else run_portal(context, stack, slug)
                            times[mode[0] + temperature[0]].append(took)
                            print(f"pair {i + 1} {temperature:4} {mode:6} {took:6.2f} s", flush=True)
        finally:
            stack.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"direct_cold_s={med['dc']:.3f} portal_cold_s={med['pc']:.3f} "
        f"cold_ratio={med['pc'] / med['dc']:.3f} direct_warm_s={med['dw']:.3f} "
        f"portal_warm_s={med['pw']:.3f} warm_ratio={med['pw'] / med['dw']:.3f}"
    )


if __name__ == "__main__":
    main()

"""Lab isolation: N learners launch Redfish 101 at once on one hub, each against their own target.

Starts its own stack like `bench/launch_storm.py` (the project's hub with the fork spawner,
configurable-http-proxy, the portal under its production server on its own PostgreSQL database, development
sign-in) with a content repository holding the bundled `samples/workshops/redfish-101`, whose
`lab:` section starts a sushy-emulator per learner; the benchmark adds a credentials pool
(`bench-ilo`, N accounts loaded with `manage.py lab_pool_load`) to its lab, so every launch also
leases an account. Then:

1. the N learners press Launch within one second (POST through the portal, then what the browser
   does: the hub's spawn page, nbgitpuller's pull, `portal-lab/fill`, JupyterLab);
2. each waits until their server reports the lab ready (`portal-lab/status`): `lab_ready` is the
   time from the POST;
3. each runs the workshop's power and boot-override steps in a kernel of their own server against
   `REDFISH_URL`: a reset (On or ForceOff), then a boot override target and mode on the first two
   systems, a combination of its own (36 possible);
4. once all are done, each reads their system back: a learner is **isolated** when they read
   exactly what they wrote, on a port and with an account nobody else had;
5. all stop (the portal's Stop), and the run looks for what is left.

Last line: `learners=N isolated=... collisions=... leaked_processes=... leaked_ports=...
lease_conflicts=... lab_ready_p95_s=...` where collisions counts learners sharing a port with
someone; leaked_processes the learners' processes (servers, kernels, emulators) alive 30 s after
their Stop; leaked_ports the granted ports still accepting connections then, plus ports the
portal still holds for them; lease_conflicts the accounts leased to two learners at the same time
plus leases still held after the Stop. Target: isolated=N and every other count 0.

    .venv/bin/python bench/lab_isolation.py --learners 10
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import django_setup, gunicorn  # noqa: E402
from bench.launch_storm import (  # noqa: E402
    HTTP_TIMEOUT,
    Learner,
    Stack,
    _events,
    kernel_run,
    learners_prepare,
    percentile,
)

WORKSHOP = "redfish-101"
POOL = "bench-ilo"
RESETS = ("On", "ForceOff")

# The emulator's fake driver keeps boot settings (its power state does not follow a reset): each
# learner sets its own combination of target and mode on the first two systems (36 in all).
COMBOS = [(t, m) for t in ("Pxe", "Cd", "Hdd") for m in ("UEFI", "Legacy")]
CHANGE = """
import json, os, requests
base = os.environ["REDFISH_URL"]
s = requests.Session()
systems = [base + m["@odata.id"] for m in s.get(base + "/redfish/v1/Systems", timeout=10).json()["Members"][:2]]
reset = s.post(systems[0] + "/Actions/ComputerSystem.Reset", json={{"ResetType": "{reset}"}}, timeout=10)
wrote = []
for system, (target, mode) in zip(systems, {combos}):
    answer = s.patch(system, json={{"Boot": {{"BootSourceOverrideTarget": target, "BootSourceOverrideMode": mode,
                                              "BootSourceOverrideEnabled": "Continuous"}}}}, timeout=10)
    wrote.append([target, mode, answer.status_code])
print(json.dumps({{"url": base, "reset": reset.status_code, "boot": wrote,
                  "account": os.environ.get("LAB_USERNAME", "")}}))
"""
READ = """
import json, os, requests
base = os.environ["REDFISH_URL"]
s = requests.Session()
members = s.get(base + "/redfish/v1/Systems", timeout=10).json()["Members"][:2]
boots = [s.get(base + m["@odata.id"], timeout=10).json()["Boot"] for m in members]
print(json.dumps({"boot": [[b["BootSourceOverrideTarget"], b["BootSourceOverrideMode"]] for b in boots]}))
"""


class LabStack(Stack):
    """launch_storm's stack with Redfish 101 and a credentials pool for its lab."""

    def __init__(self, tmp: Path, *, learners: int) -> None:
        super().__init__(tmp, learners=learners, portal_workers=4, database="bench_lab")
        from cryptography.fernet import Fernet

        shutil.copytree(ROOT / "samples" / "workshops" / WORKSHOP, self.content.work / WORKSHOP)
        meta_path = self.content.work / WORKSHOP / "workshop.yml"
        meta = yaml.safe_load(meta_path.read_text())
        meta["lab"]["credentials"] = {"pool": POOL}  # LAB_ENDPOINT / LAB_USERNAME / LAB_PASSWORD
        meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
        self.content.commit("Redfish 101 with a pool")
        self.env["LAB_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
        self.env["CAPACITY_MAX_SERVERS"] = self.env["HUB_CONCURRENT_SPAWN_LIMIT"] = str(learners + 5)

    def pool_load(self, accounts: int) -> None:
        """Load the pool with one account per learner (manage.py lab_pool_load, as an operator does)."""
        import subprocess

        sheet = self.tmp / "pool.csv"
        with open(sheet, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "endpoint", "username", "password"])
            for i in range(accounts):
                writer.writerow([f"ilo-{i:02}", f"https://ilo-{i:02}.example.test", f"student{i:02}", uuid.uuid4().hex])
        done = subprocess.run(
            [sys.executable, "manage.py", "lab_pool_load", POOL, str(sheet)],
            cwd=ROOT, env=self.process_env(), capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"lab_pool_load failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


class Outcome:
    """One learner's run: marks, what they wrote, what they read back, what went wrong."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = 0.0
        self.lab_ready: float | None = None
        self.kernel = ""
        self.wrote: dict = {}
        self.read: dict = {}
        self.reset = ""
        self.error = ""


async def learner_launch(stack: Stack, learner: Learner, out: Outcome, *, index: int, press_at: float) -> None:
    """Press Launch, do what the browser does, wait for the lab, make this learner's changes."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, press_at - loop.time()))
    token = {"Authorization": f"token {learner.token}"}
    user_url = f"{stack.hub_url}/user/{learner.name}"
    async with httpx.AsyncClient(cookies=learner.cookies, timeout=HTTP_TIMEOUT) as http:
        out.started = time.perf_counter()
        response = await http.post(
            f"{stack.portal_url}/workshops/{WORKSHOP}/launch",
            data={"csrfmiddlewaretoken": learner.csrf},
            headers={"Origin": stack.portal_url, "Referer": f"{stack.portal_url}/workshops/{WORKSHOP}/"},
        )
        link = response.headers.get("location", "")
        if response.status_code != 302 or "/hub/user-redirect/git-pull?" not in link:
            raise RuntimeError(f"launch answered {response.status_code} {link}")
        page = await http.get(link, follow_redirects=True)
        if "/hub/spawn-pending/" in str(page.url):
            found = re.search(r'new EventSource\("([^"]+)"\)', page.text)
            url = stack.hub_url + found.group(1).replace("&amp;", "&") if found else ""
            events = await _events(http, url or f"{stack.hub_url}/hub/api/users/{learner.name}/server/progress")
            if not events or not events[-1].get("ready"):
                raise RuntimeError(f"the server did not start: {events[-1:]}")
            page = await http.get(str(page.url), follow_redirects=True)
        query = dict(httpx.URL(link).params)
        events = await _events(
            http, f"{user_url}/git-pull/api", params={k: query[k] for k in ("repo", "branch", "targetpath")}
        )
        if not events or events[-1].get("phase") != "finished":
            raise RuntimeError(f"the pull did not finish: {events[-3:]}")
        lab = await http.get(f"{user_url}/{query['urlpath']}", follow_redirects=True)  # through portal-lab/fill
        if lab.status_code != 200 or "jupyter-config-data" not in lab.text:
            raise RuntimeError(f"JupyterLab page: {lab.status_code} {lab.url}")
        deadline = time.monotonic() + 120
        while True:
            status = await http.get(f"{user_url}/portal-lab/status", headers=token)
            services = status.json().get("services", []) if status.status_code == 200 else []
            if services and all(s["state"] == "ready" for s in services):
                out.lab_ready = time.perf_counter() - out.started
                break
            if any(s["state"] == "failed" for s in services) or time.monotonic() > deadline:
                raise RuntimeError(f"the lab is not ready: {services}")
            await asyncio.sleep(0.25)
        kernel = await http.post(f"{user_url}/api/kernels", json={"name": "python3"}, headers=token)
        if kernel.status_code != 201:
            raise RuntimeError(f"kernel start: {kernel.status_code}")
        out.kernel = kernel.json()["id"]
        out.reset = RESETS[index % 2]
        combos = [COMBOS[index % len(COMBOS)], COMBOS[index // len(COMBOS) % len(COMBOS)]]
        output = await kernel_run(stack, learner, out.kernel, CHANGE.format(reset=out.reset, combos=combos))
        out.wrote = json.loads(output.strip().splitlines()[-1])


def run(stack: Stack, learners: list[Learner], *, timeout: float) -> list[Outcome]:
    """The storm, then every learner's read-back once all have written."""
    outcomes = [Outcome(learner.name) for learner in learners]

    async def storm() -> None:
        begin = asyncio.get_running_loop().time() + 0.2

        async def one(i: int) -> None:
            try:
                async with asyncio.timeout_at(begin + timeout):
                    await learner_launch(stack, learners[i], outcomes[i], index=i, press_at=begin + i / len(learners))
            except TimeoutError:
                outcomes[i].error = f"not done in {timeout:.0f} s"
            except Exception as error:  # noqa: BLE001 - one learner's failure is a figure
                outcomes[i].error = f"{type(error).__name__}: {error}"[:300]

        await asyncio.gather(*(one(i) for i in range(len(learners))))

        async def read(i: int) -> None:
            if outcomes[i].error:
                return
            try:
                output = await kernel_run(stack, learners[i], outcomes[i].kernel, READ)
                outcomes[i].read = json.loads(output.strip().splitlines()[-1])
            except Exception as error:  # noqa: BLE001
                outcomes[i].error = f"read-back: {type(error).__name__}: {error}"[:300]

        await asyncio.gather(*(read(i) for i in range(len(learners))))

    asyncio.run(storm())
    return outcomes


def stop_all(stack: Stack, learners: list[Learner]) -> None:
    """Every learner presses Stop on "My server" (the portal stops the server and releases the lab)."""
    for learner in learners:
        with httpx.Client(cookies=learner.cookies, timeout=HTTP_TIMEOUT) as http:
            http.post(
                f"{stack.portal_url}/me/server/stop",
                data={"csrfmiddlewaretoken": learner.csrf},
                headers={"Origin": stack.portal_url, "Referer": f"{stack.portal_url}/me/server"},
            )
    deadline = time.monotonic() + 60
    while stack.active() and time.monotonic() < deadline:
        time.sleep(0.5)


def _accepting(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _port(url: str) -> int:
    return httpx.URL(url).port or 0


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300, help="seconds the launches may take")
    args = parser.parse_args()
    if not 2 <= args.learners <= 40:
        parser.error("bounds: 2 <= --learners <= 40")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmpdir:
        tmp = Path(tmpdir)
        stack = LabStack(tmp, learners=args.learners)
        try:
            stack.portal_prepare()
            stack.pool_load(args.learners)
            with gunicorn(stack.process_env(), log=tmp / "portal.log", url=stack.portal_url, production=True):
                stack.hub_start("fork", log_name="hub.log")
                stack.warm_up()
                learners = learners_prepare(stack)
                print(f"{len(learners)} learners signed in; they press Launch on {WORKSHOP}", flush=True)
                outcomes = run(stack, learners, timeout=args.timeout)
                stop_all(stack, learners)
                time.sleep(30)  # what a Stop ends is gone well within this
                leftovers = [pid for pid in stack.leftovers() if pid not in stack.fork_servers()]
        finally:
            if stack.hub_proc:
                stack.servers_stop_all(timeout=60)
            stack.hub_stop()
        django_setup({k: v for k, v in stack.env.items() if k in ("DATABASE_URL", "LAB_ENCRYPTION_KEYS")})
        from portal.models import LabPort, Lease

        ports_held = LabPort.objects.filter(released_at__isnull=True).count()
        leases = list(Lease.objects.values_list("account_id", "leased_at", "released_at"))

    failed = [o for o in outcomes if o.error]
    for o in failed:
        print(f"  failed {o.name}: {o.error}")
    ports = [_port(o.wrote.get("url", "")) for o in outcomes if o.wrote]
    accounts = [o.wrote.get("account", "") for o in outcomes if o.wrote]
    shared_ports = {p for p in ports if ports.count(p) > 1}
    collisions = sum(1 for p in ports if p in shared_ports)
    isolated = 0
    for o in outcomes:
        if o.error or not o.wrote or not o.read:
            continue
        wrote = [b[:2] for b in o.wrote["boot"]]
        own = [b[:2] for b in o.read["boot"]] == wrote and all(code < 300 for *_, code in o.wrote["boot"])
        alone = (
            _port(o.wrote["url"]) not in shared_ports and o.wrote["account"] and accounts.count(o.wrote["account"]) == 1
        )
        isolated += bool(own and alone)
    overlapping, never = 0, datetime.max.replace(tzinfo=UTC)
    for i, (account, start, end) in enumerate(leases):
        for other, o_start, o_end in leases[i + 1 :]:
            if other == account and start < (o_end or never) and o_start < (end or never):
                overlapping += 1
    lease_conflicts = overlapping + sum(1 for _, _, end in leases if end is None)
    leaked_ports = sum(1 for p in set(ports) if p and _accepting(p)) + ports_held
    ready = [o.lab_ready for o in outcomes if o.lab_ready is not None]
    ready_censored = ready + [args.timeout] * (len(outcomes) - len(ready))
    print(
        f"{len(outcomes) - len(failed)}/{len(outcomes)} learners ran their steps; lab ready p50 "
        f"{percentile(ready, 50):.2f} s; {len(leases)} leases, ports used {sorted(ports)}; "
        f"left running after the Stop: {leftovers}",
        flush=True,
    )
    print(
        f"learners={args.learners} isolated={isolated} collisions={collisions} leaked_processes={len(leftovers)} "
        f"leaked_ports={leaked_ports} lease_conflicts={lease_conflicts} "
        f"lab_ready_p95_s={percentile(ready_censored, 95):.2f}"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every process of the run was stopped")

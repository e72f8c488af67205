"""Culling: our cull pass vs jupyterhub-idle-culler's `cull_idle`, on the same fresh idle servers.

Starts the project's hub (development sign-in, SimpleLocalProcessSpawner) on free loopback
ports, spawns --servers idle servers plus --active recently active ones, and alternates: our
`servers_cull` stops the idle ones; the same set is spawned again and idle-culler's `cull_idle`
(the reference, with the same timeout, maximum age and concurrency) stops them. Time is
injected into both (idle-culler's `utcnow`), so the active servers must be kept by both and the
decisions are compared server by server. Each timing runs until the hub lists none of the idle
servers. Then 1,000 users are created and a pass with nothing to cull counts its hub requests.

    .venv/bin/python bench/cull.py --servers 50

Last line: servers=... ours_s=... idle_culler_s=... ratio=... same_decisions=yes|no noop_requests=...
(medians; ratio = ours / idle_culler, target <= 0.3; noop target <= ceil(running / 200) + 1).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import django_setup, free_port, fresh_database, hub_wait_up  # noqa: E402

IDLE_TIMEOUT, MAX_AGE = 1800, 4 * 3600


class Hub:
    """The project's hub plus the tests' admin service, on free ports in a temporary directory."""

    def __init__(self, tmp: Path, *, servers: int) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.api_url = self.url + "/hub/api"
        self.admin_token, self.culler_token = secrets.token_hex(32), secrets.token_hex(32)
        self.env = {
            **os.environ,
            "PORTAL_IGNORE_DOTENV": "1",
            "DEBUG": "true",
            "PORTAL_VAR_DIR": str(tmp / "var"),
            "HUB_DATA_DIR": str(tmp / "hub"),
            "HUB_URL": self.url,
            # The hub stops its servers when the benchmark stops it: nothing outlives the run.
            "HUB_KEEP_SERVERS_ON_RESTART": "false",
            "HUB_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
            "PORTAL_SERVICE_TOKEN": secrets.token_hex(32),
            "CULLER_SERVICE_TOKEN": self.culler_token,
            "CAPACITY_MAX_SERVERS": str(servers + 20),
            "HUB_CONCURRENT_SPAWN_LIMIT": str(servers + 20),
            "PROJECT_HUB_CONFIG": str(ROOT / "hubconfig" / "jupyterhub_config.py"),
            "TESTER_TOKEN": self.admin_token,
        }
        for key in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"):
            self.env.pop(key, None)
        self.log = tmp / "hub.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(ROOT / "tests" / "hub" / "hub_test_config.py")],
                cwd=tmp, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.api = httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"token {self.admin_token}"}, timeout=120
        )
        hub_wait_up(api_url=self.api_url, proc=self.proc, log=self.log, timeout=60)

    def stop(self) -> None:
        """Stop the hub (it stops its servers)."""
        self.api.close()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def users_create(self, names: list[str]) -> None:
        """Create users, 200 per request."""
        for i in range(0, len(names), 200):
            response = self.api.post("/users", json={"usernames": names[i : i + 200]})
            assert response.status_code in (201, 409), response.text

    def active(self) -> dict[str, dict]:
        """Return every user's default server (running, starting or stopping)."""
        found, offset = {}, 0
        while True:
            body = self.api.get(
                "/users", params={"state": "active", "offset": offset, "limit": 200},
                headers={"Accept": "application/jupyterhub-pagination+json"},
            ).json()  # fmt: skip
            found.update({u["name"]: u["servers"][""] for u in body["items"] if "" in u["servers"]})
            following = body["_pagination"]["next"]
            if not following:
                return found
            offset = following["offset"]

    def spawn(self, names: list[str], *, batch: int = 6) -> None:
        """Start servers for names, batch at a time (2 cores: 50 at once miss the hub's
        http_timeout), retrying failed spawns; wait until every one is ready."""
        for i in range(0, len(names), batch):
            group = names[i : i + batch]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                servers = self.active()
                missing = [n for n in group if n not in servers]
                for name in missing:
                    response = self.api.post(f"/users/{name}/server")
                    assert response.status_code in (201, 202, 400), response.text
                if not missing and all(servers[n].get("ready") for n in group):
                    break
                time.sleep(0.5)
            else:
                raise SystemExit(f"servers did not start:\n{self.log.read_text()[-3000:]}")

    def touch(self, names: list[str], when: datetime) -> None:
        """Record activity for names at when (they are then active, not idle)."""
        stamp = when.isoformat().replace("+00:00", "Z")
        for name in names:
            response = self.api.post(f"/users/{name}/activity", json={"servers": {"": {"last_activity": stamp}}})
            assert response.status_code == 200, response.text

    def wait_gone(self, names: list[str], timeout: float = 300) -> None:
        """Wait until none of names has a server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not set(names) & set(self.active()):
                return
            time.sleep(0.05)
        raise SystemExit("servers did not stop")


def round_prepare(hub: Hub, idle: list[str], active: list[str]) -> datetime:
    """Spawn the idle servers, make the active ones recent; return the moment to judge at."""
    hub.spawn(idle)
    time.sleep(5)  # the idle servers' last activity is now at least 5 s old
    touched = datetime.now(UTC)
    hub.touch(active, touched)
    # 3 s short of the timeout for the active ones, past it (>= 5 s before) for the idle ones.
    return touched + timedelta(seconds=IDLE_TIMEOUT - 3)


def ours_run(hub: Hub, idle: list[str], now: datetime) -> tuple[float, set[str]]:
    """Cull with our pass; return the seconds until the idle servers are gone and who was culled."""
    from portal.cull import servers_cull

    started = time.perf_counter()
    report = servers_cull(now=now)
    hub.wait_gone(idle)
    return time.perf_counter() - started, {d.key for d in report.decisions if d.action == "cull"}


def reference_run(
    hub: Hub, idle: list[str], now: datetime, everyone: list[str], concurrency: int
) -> tuple[float, set[str]]:
    """Cull with jupyterhub-idle-culler's cull_idle; return the seconds and who was stopped."""
    import jupyterhub_idle_culler as reference

    before = set(hub.active())
    reference.utcnow = lambda: now  # the same injected clock as ours
    started = time.perf_counter()
    asyncio.run(
        reference.cull_idle(
            url=hub.api_url, api_token=hub.culler_token, inactive_limit=IDLE_TIMEOUT,
            logger=logging.getLogger("idle-culler"), max_age=MAX_AGE, concurrency=concurrency,
        )
    )  # fmt: skip
    hub.wait_gone(idle)
    elapsed = time.perf_counter() - started
    return elapsed, (before - set(hub.active())) & set(everyone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=50, help="idle servers per round")
    parser.add_argument("--active", type=int, default=3, help="recently active servers both must keep")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each, alternating")
    parser.add_argument("--users", type=int, default=1000, help="users for the nothing-to-cull pass")
    parser.add_argument("--concurrency", type=int, default=10, help="CULL_CONCURRENCY, for both cullers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM runs the clean-up below too (the hub then stops its servers).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    with tempfile.TemporaryDirectory(prefix="bench-cull-") as tmpdir:
        tmp = Path(tmpdir)
        hub = Hub(tmp, servers=args.servers + args.active)
        env = {
            "PORTAL_IGNORE_DOTENV": "1",
            "DATABASE_URL": fresh_database("bench_cull"),
            "PORTAL_VAR_DIR": str(tmp / "portal-var"),
            "HUB_DATA_DIR": str(tmp / "hub"),
            "HUB_URL": hub.url,
            "HUB_API_URL": hub.api_url,
            "CULLER_SERVICE_TOKEN": hub.culler_token,
            "PORTAL_SERVICE_TOKEN": hub.env["PORTAL_SERVICE_TOKEN"],
            "CAPACITY_MAX_SERVERS": str(args.servers + args.active + 20),
            "CULL_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
            "CULL_MAX_AGE": str(MAX_AGE),
            "CULL_CONCURRENCY": str(args.concurrency),
            "ADMISSION_PREFIX": f"bench-cull-{secrets.token_hex(4)}:",
            "LOG_LEVEL": "WARNING",
        }
        django_setup(env)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        try:
            idle = [f"idle-{i:03}" for i in range(args.servers)]
            active = [f"active-{i:03}" for i in range(args.active)]
            hub.users_create(idle + active)
            hub.spawn(active)
            ours, theirs, same = [], [], True
            for rnd in range(args.rounds):
                for who in ("ours", "idle_culler"):
                    now = round_prepare(hub, idle, active)
                    if who == "ours":
                        seconds, culled = ours_run(hub, idle, now)
                        ours.append(seconds)
                    else:
                        seconds, culled = reference_run(hub, idle, now, idle + active, args.concurrency)
                        theirs.append(seconds)
                    same = same and culled == set(idle)
                    print(f"round {rnd + 1} {who}: {seconds:.2f} s, culled {len(culled)}, kept "
                          f"{len(set(active) - culled)}/{len(active)} active", flush=True)  # fmt: skip

            # Nothing to cull: only the active servers run, among many users.
            hub.users_create([f"user-{i:04}" for i in range(args.users)])
            from portal.cull import servers_cull

            running = len(hub.active())
            report = servers_cull(now=datetime.now(UTC))  # with the culler's own client, as beat runs it
            assert not report.stops, report.stops
            noop = report.hub_requests
            print(f"nothing to cull: {running} running among {args.users}+ users, {noop} hub requests "
                  f"(target <= {math.ceil(running / 200) + 1})")  # fmt: skip
        finally:
            hub.stop()

    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(
        f"servers={args.servers} ours_s={ours_s:.2f} idle_culler_s={theirs_s:.2f} ratio={ours_s / theirs_s:.2f} "
        f"same_decisions={'yes' if same else 'no'} noop_requests={noop}"
    )


if __name__ == "__main__":
    main()

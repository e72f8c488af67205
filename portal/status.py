"""What operators see: capacity, servers, the waiting list, culls, sync, memory (host and per server)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.models import SyncRun
from hubconfig import processes
from portal import admission
from portal.cull_policy import CullPolicy
from portal.hub import HubError, hub_client_build, servers_count
from portal.memory_report import memory_report
from portal.models import CapacitySample, CullEvent, CullRun
from portal.status_chart import capacity_chart_svg


def host_memory_read(*, meminfo: Path = Path("/proc/meminfo")) -> dict[str, int] | None:
    """Return the host's total and used memory in MiB (None where /proc/meminfo is missing)."""
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        total = int(fields["MemTotal"].split()[0]) // 1024
        available = int(fields["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return None
    return {"total_mb": total, "used_mb": total - available}


# The last measurement of learners' servers: (scope, when (monotonic), what). One per process:
# a few web workers each measuring once a minute cost less than a shared cache would save.
_SERVERS_MEMORY: tuple[tuple[str, str], float, processes.ServersMemory] | None = None
_SERVERS_MEMORY_LOCK = threading.Lock()  # one measurement at a time; the others wait for it


def servers_memory_read() -> tuple[processes.ServersMemory, float]:
    """Return this hub's servers' memory on this host and its age in seconds (STATUS_MEMORY_TTL cache)."""
    global _SERVERS_MEMORY
    scope = (settings.HUB_SERVERS_API_URL, settings.HUB_FORK_SOCKET or str(settings.HUB.fork_socket))
    with _SERVERS_MEMORY_LOCK:
        cached = _SERVERS_MEMORY
        if cached is None or cached[0] != scope or time.monotonic() - cached[1] >= settings.STATUS_MEMORY_TTL:
            measured = processes.servers_memory_read(
                api_url=scope[0], fork_socket=scope[1], budget_s=settings.STATUS_MEMORY_BUDGET_S
            )
            _SERVERS_MEMORY = (scope, time.monotonic(), measured)
        _, at, measured = _SERVERS_MEMORY
        return measured, time.monotonic() - at


def server_memory_status() -> dict[str, Any]:
    """Return memory per learner's server as measured here, against the budget capacity uses."""
    measured, age = servers_memory_read()
    report = memory_report(
        per_server_mb=measured.per_server_mb,
        complete=measured.complete,
        fork_servers=measured.fork_servers,
        budget_mb=settings.SERVER_MEMORY_MB,
        budget_set=settings.SERVER_MEMORY_SET,
        spawner=settings.HUB_SPAWNER,
    )
    return {**report, "age_s": round(age), "took_ms": round(measured.seconds * 1000)}


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def status_read(*, now: datetime) -> dict[str, Any]:
    """Return the status as plain data (the page and GET /api/status show the same)."""
    hub_ok, running, starting = True, None, None
    try:
        with hub_client_build() as hub:
            running, starting = servers_count(s for u in hub.users_list(state="active") for s in u.servers.values())
    except HubError:
        hub_ok = False
    waiting, queue_ok = admission.queue_state()
    last_cull = CullRun.objects.filter(dry_run=False).exclude(outcome=CullRun.Outcome.BUSY).first()
    last_sync = SyncRun.objects.first()
    return {
        "capacity": settings.HUB_CAPACITY,
        "running": running,
        "starting": starting,
        "waiting": waiting,
        "hub": "ok" if hub_ok else "unavailable",
        "queue": "ok" if queue_ok else "degraded",
        "culls_last_hour": CullEvent.objects.filter(decided_at__gte=now - timedelta(hours=1)).count(),
        "last_cull": last_cull
        and {
            "started_at": _when(last_cull.started_at),
            "finished_at": _when(last_cull.finished_at),
            "outcome": last_cull.outcome,
            "culled": last_cull.culled,
            "admitted": last_cull.admitted,
            "error": last_cull.error,
        },
        "last_sync": last_sync
        and {
            "started_at": _when(last_sync.started_at),
            "finished_at": _when(last_sync.finished_at),
            "outcome": last_sync.status,
            "commit": last_sync.commit_sha,
            "error": last_sync.error,
        },
        "memory": host_memory_read(),
        "server_memory": server_memory_status(),
        "policy": {**asdict(CullPolicy.from_settings(settings)), "interval": settings.CULL_INTERVAL},
    }


def capacity_chart(*, now: datetime) -> str:
    """Return the 24 h chart of running servers against capacity (inline SVG)."""
    samples = CapacitySample.objects.filter(at__gte=now - timedelta(hours=24)).values_list("at", "running", "capacity")
    return capacity_chart_svg(samples=list(samples), now=now)

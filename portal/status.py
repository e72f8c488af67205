"""What operators see: capacity, servers, the waiting list, culls, sync, memory (a selector)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.models import SyncRun
from portal import admission
from portal.cull_policy import CullPolicy
from portal.hub import HubError, hub_client_build, servers_count
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
        "policy": {**asdict(CullPolicy.from_settings(settings)), "interval": settings.CULL_INTERVAL},
    }


def capacity_chart(*, now: datetime) -> str:
    """Return the 24 h chart of running servers against capacity (inline SVG)."""
    samples = CapacitySample.objects.filter(at__gte=now - timedelta(hours=24)).values_list("at", "running", "capacity")
    return capacity_chart_svg(samples=list(samples), now=now)

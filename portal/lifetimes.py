"""Server lifetimes as the culler sees them, for the waiting page's estimate."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from portal.cull_policy import ServerFacts
from portal.models import CullEvent, ServerLife

RECENT = 50  # lifetimes averaged: about a class's worth


def lives_record(*, servers: list[ServerFacts], now: datetime) -> int:
    """Note the running servers as seen now; close the ones no longer listed. Return how many ended."""
    running = [s for s in servers if s.ready and not s.pending and s.started]
    if running:
        ServerLife.objects.bulk_create(
            [ServerLife(user=s.user, server=s.server, started=s.started, last_seen=now) for s in running],
            update_conflicts=True,
            unique_fields=["user", "server", "started"],
            update_fields=["last_seen"],
        )
    seen = {(s.user, s.server, s.started) for s in running}
    gone = [
        life
        for life in ServerLife.objects.filter(ended__isnull=True)
        if (life.user, life.server, life.started) not in seen
    ]
    for life in gone:
        # It ended between its last sighting and now: the sighting is the bound we know.
        life.ended = life.last_seen
    ServerLife.objects.bulk_update(gone, ["ended"])
    return len(gone)


def lifetime_observed() -> float:
    """Return the mean lifetime of recently ended servers (seconds), however they ended.

    Falls back on culled servers' ages (lifetimes not tracked yet), then on the idle timeout.
    """
    lives = [life.seconds for life in ServerLife.objects.filter(ended__isnull=False).order_by("-ended")[:RECENT]]
    lives = [s for s in lives if s > 0]
    if lives:
        return sum(lives) / len(lives)
    ages = [a for a in CullEvent.objects.order_by("-decided_at").values_list("age_seconds", flat=True)[:RECENT] if a]
    return sum(ages) / len(ages) if ages else float(settings.CULL_IDLE_TIMEOUT)

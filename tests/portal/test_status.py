"""The operators' status page and GET /api/status: who may see them, what they say, the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from portal.models import CapacitySample, CullEvent, CullRun
from portal.status_chart import capacity_chart_svg

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_hub(settings):
    settings.HUB_API_URL = "http://127.0.0.1:9/hub/api"  # nothing listens: the hub is down
    settings.HUB_TIMEOUT = 1
    settings.ADMISSION_PREFIX = "test-status:"
    settings.STATUS_API_TOKEN = "monitor-secret"
    return settings


def test_only_staff_or_the_token_see_the_status(client, django_user_model, no_hub):
    assert client.get("/api/status").status_code == 403
    assert client.get("/status").status_code == 302  # to the admin login
    assert client.get("/api/status", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/api/status", HTTP_AUTHORIZATION="Bearer monitor-secret").status_code == 200
    learner = django_user_model.objects.create_user("ada")
    client.force_login(learner)
    assert client.get("/api/status").status_code == 403


def test_status_reports_culls_runs_and_a_down_hub_without_failing(admin_client, no_hub):
    now = timezone.now()
    run = CullRun.objects.create(started_at=now - timedelta(minutes=2), finished_at=now, outcome="ok", culled=2)
    for user, minutes in (("a", 5), ("b", 50), ("c", 120)):
        CullEvent.objects.create(
            run=run, user=user, reason="idle", decided_at=now - timedelta(minutes=minutes), outcome="stopped"
        )
    CapacitySample.objects.create(at=now - timedelta(hours=1), capacity=4, running=3)
    body = admin_client.get("/api/status").json()
    assert body["capacity"] >= 1 and body["culls_last_hour"] == 2
    assert body["hub"] == "unavailable" and body["running"] is None
    assert body["last_cull"]["outcome"] == "ok" and body["last_cull"]["culled"] == 2
    assert body["memory"]["total_mb"] > body["memory"]["used_mb"] > 0
    assert body["queue"] in ("ok", "degraded")
    page = admin_client.get("/status")
    assert page.status_code == 200 and 'id="capacity-chart"' in page.text and "unknown" in page.text


def test_redis_down_the_status_says_the_queue_is_degraded(admin_client, no_hub):
    no_hub.REDIS_URL = "redis://127.0.0.1:9/0"
    body = admin_client.get("/api/status").json()
    assert body["queue"] == "degraded" and body["waiting"] == 0
    assert "degraded" in admin_client.get("/status").text


def test_the_chart_draws_running_under_capacity_as_steps():
    now = datetime(2025, 5, 1, 12, tzinfo=UTC)
    samples = [(now - timedelta(hours=h), r, 4) for h, r in ((30, 9), (20, 1), (10, 4), (1, 2))]
    svg = capacity_chart_svg(samples=samples, now=now)
    assert svg.startswith("<svg") and "3 samples" in svg  # the 30 h old one is left out
    running = svg.split('class="running"')[1].split('points="')[1].split('"')[0].split()
    assert len(running) == 5  # three samples as steps
    assert "<script" not in svg

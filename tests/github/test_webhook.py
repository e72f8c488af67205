"""The webhook: signatures, deliveries, routing, limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from catalog.github_deliveries import webhook_deliveries_prune
from catalog.github_events import signature_compute, signature_verify, webhook_route
from catalog.models import OutboxMessage, SyncRequest, ValidationRun, WebhookDelivery
from tests.github.conftest import (
    SECRET,
    as_body,
    pull_request_payload,
    push_payload,
    signed_headers,
)

URL = "/github/webhook"
SHA = "a" * 40
# GitHub's documented test vector (docs: "Validating webhook deliveries").
VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


# --- pure -------------------------------------------------------------------------------


def test_signature_matches_githubs_documented_vector():
    assert signature_compute(secret=SECRET, body=b"Hello, World!") == VECTOR
    assert signature_verify(secret=SECRET, body=b"Hello, World!", header=VECTOR)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", VECTOR.replace("sha256=", "sha1="), VECTOR[:-1] + "0", VECTOR.upper(),
     "sha256=é" + VECTOR[8:]],
)  # fmt: skip
def test_signature_rejects_missing_and_wrong_headers(header):
    assert not signature_verify(secret=SECRET, body=b"Hello, World!", header=header)


def test_signature_rejects_other_body_and_empty_secret():
    assert not signature_verify(secret=SECRET, body=b"Hello, World?", header=VECTOR)
    assert not signature_verify(secret="", body=b"x", header=signature_compute(secret="", body=b"x"))


@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40))
def test_signature_round_trips(body, secret):
    assert signature_verify(secret=secret, body=body, header=signature_compute(secret=secret, body=body))


def test_route_push_to_catalog_branch_syncs_the_after_commit():
    action = webhook_route(event="push", payload=push_payload(SHA), branch="main")
    assert (action.kind, action.args) == ("sync", {"commit": SHA})


@pytest.mark.parametrize(
    "payload",
    [
        push_payload(SHA, ref="refs/heads/feature"),
        push_payload(SHA, ref="refs/tags/v1"),
        {**push_payload("0" * 40), "deleted": True},
        push_payload("not-a-sha"),
    ],
)
def test_route_ignores_other_pushes(payload):
    assert webhook_route(event="push", payload=payload, branch="main").kind == "ignore"


def test_route_ignores_events_from_another_repository():
    payload = {**push_payload(SHA), "repository": {"full_name": "someone/else"}}
    assert webhook_route(event="push", payload=payload, branch="main", repository="hpe-dev/workshops").kind == "ignore"


@pytest.mark.parametrize("action,kind", [("opened", "validate"), ("synchronize", "validate"),
                                         ("reopened", "validate"), ("closed", "ignore"),
                                         ("labeled", "ignore")])  # fmt: skip
def test_route_pull_request_actions(action, kind):
    payload = pull_request_payload(7, SHA, action=action)
    assert webhook_route(event="pull_request", payload=payload, branch="main").kind == kind


# --- the view ---------------------------------------------------------------------------


def _post(client, payload, event, **kw):
    body = payload if isinstance(payload, bytes) else as_body(payload)
    headers = signed_headers(body, event, **kw)
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.mark.django_db
def test_missing_signature_is_403_and_nothing_queued(client, webhook_settings, queued):
    body = as_body(push_payload(SHA))
    response = client.post(URL, data=body, content_type="application/json",
                           HTTP_X_GITHUB_EVENT="push", HTTP_X_GITHUB_DELIVERY="d-1")  # fmt: skip
    assert response.status_code == 403
    assert queued == [] and not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_bad_signature_is_403_and_nothing_queued(client, webhook_settings, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, push_payload(SHA), "push", secret="not the secret")
    assert response.status_code == 403
    assert queued == [] and not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_no_secret_configured_refuses_everything(client, webhook_settings, queued):
    webhook_settings.GITHUB_WEBHOOK_SECRET = ""
    assert _post(client, {"zen": "x"}, "ping", secret="").status_code == 403


@pytest.mark.django_db
def test_ping_is_200(client, webhook_settings, queued):
    response = _post(client, {"zen": "Keep it logically awesome.", "hook_id": 1}, "ping")
    assert response.status_code == 200 and response.json()["pong"] is True
    assert queued == []


@pytest.mark.django_db
def test_push_queues_sync_of_after_commit_on_commit(
    client, webhook_settings, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(client, push_payload(SHA), "push")
        assert queued == []  # nothing leaves before the delivery is recorded
    assert response.status_code == 202 and response.json()["queued"] == "sync"
    assert OutboxMessage.objects.get().sent_at is None  # recorded with the delivery, not sent yet
    for callback in callbacks:
        callback()
    # The sync reads the branch's newest pushed commit when it starts (pushes coalesce).
    assert queued == [("catalog_sync_task", {"branch": "main", "trigger": "push"})]
    assert SyncRequest.objects.get(branch="main").commit == SHA
    assert OutboxMessage.objects.get().sent_at is not None


@pytest.mark.django_db
def test_push_to_other_branch_is_ignored(client, webhook_settings, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, push_payload(SHA, ref="refs/heads/draft"), "push")
    assert response.status_code == 202 and "ignored" in response.json()
    assert queued == []


@pytest.mark.django_db
def test_replayed_delivery_does_no_work_twice(client, webhook_settings, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, push_payload(SHA), "push", delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
        again = _post(client, push_payload(SHA), "push", delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(queued) == 1
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_pull_request_opened_queues_validation(client, webhook_settings, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, pull_request_payload(12, SHA), "pull_request")
    assert response.status_code == 202 and response.json()["queued"] == "validate"
    run = ValidationRun.objects.get()
    assert (run.pull_number, run.head_sha, run.state) == (12, SHA, "pending")
    assert queued == [("pull_request_validate_task", {"run_id": run.pk})]


@pytest.mark.django_db
def test_pull_request_closed_is_ignored(client, webhook_settings, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, pull_request_payload(12, SHA, action="closed"), "pull_request")
    assert response.status_code == 202 and queued == [] and not ValidationRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("event", ["issues", "star", "workflow_run", "check_suite"])
def test_unknown_events_are_202_ignored(client, webhook_settings, queued, event):
    response = _post(client, {"action": "created", "repository": {"full_name": "hpe-dev/workshops"}}, event)
    assert response.status_code == 202 and "ignored" in response.json()
    assert queued == []


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"a": 1'])
def test_malformed_json_is_400(client, webhook_settings, queued, body):
    assert _post(client, body, "push").status_code == 400
    assert queued == [] and not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_form_encoded_delivery_is_read(client, webhook_settings, queued, django_capture_on_commit_callbacks):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(push_payload(SHA))}).encode()
    headers = signed_headers(body, "push")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", **headers)
    assert response.status_code == 202 and len(queued) == 1
    assert SyncRequest.objects.get(branch="main").commit == SHA


@pytest.mark.django_db
def test_missing_event_or_delivery_header_is_400(client, webhook_settings, queued):
    body = as_body({"zen": "x"})
    headers = signed_headers(body, "ping")
    del headers["HTTP_X_GITHUB_DELIVERY"]
    assert client.post(URL, data=body, content_type="application/json", **headers).status_code == 400


@pytest.mark.django_db
def test_body_over_25_mb_is_413_before_anything_else(client, webhook_settings, queued):
    body = b" " * (25 * 1024 * 1024 + 1)
    response = client.post(URL, data=body, content_type="application/json",
                           HTTP_X_GITHUB_EVENT="push", HTTP_X_GITHUB_DELIVERY="big")  # fmt: skip
    assert response.status_code == 413 and queued == []


@pytest.mark.django_db
def test_big_but_allowed_body_is_not_refused_by_djangos_upload_limit(
    client, webhook_settings, queued, settings, django_capture_on_commit_callbacks
):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3_000_000
    payload = push_payload(SHA)
    payload["commits"] = [{"id": SHA, "message": "x" * 1000} for _ in range(3000)]  # ~3 MB
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, payload, "push")
    assert response.status_code == 202 and len(queued) == 1


@pytest.mark.django_db
def test_get_is_not_allowed(client, webhook_settings):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
def test_prune_forgets_old_deliveries_but_keeps_three_days():
    now = timezone.now()
    for name, age in [("old", 10), ("four", 4), ("recent", 1)]:
        d = WebhookDelivery.objects.create(delivery_id=name, event="push")
        WebhookDelivery.objects.filter(pk=d.pk).update(received_at=now - timedelta(days=age))
    assert webhook_deliveries_prune(now=now, keep_days=1) == 2  # clamped to 3 days
    assert set(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == {"recent"}


def test_system_check_warns_without_webhook_secret(settings):
    settings.GITHUB_WEBHOOK_SECRET = ""
    assert "catalog.W101" in {m.id for m in run_checks()}
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    assert "catalog.W101" not in {m.id for m in run_checks()}

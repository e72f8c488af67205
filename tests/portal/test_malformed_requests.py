"""Malformed requests are 400s with a reason, never 500s: bodies, a signed webhook, the admin."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

SECRET = "webhook-test-secret"


@pytest.fixture
def github(settings) -> Client:
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    return Client(raise_request_exception=False)


def _deliver(client: Client, body: bytes, content_type: str = "application/json"):
    """POST a correctly signed delivery, as GitHub would."""
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.generic(
        "POST",
        "/github/webhook",
        body,
        content_type=content_type,
        HTTP_X_HUB_SIGNATURE_256=signature,
        HTTP_X_GITHUB_EVENT="push",
        HTTP_X_GITHUB_DELIVERY="malformed-1",
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # RecursionError in the parser
        (b'{"a":' * 150 + b"1" + b"}" * 150, "nested too deeply"),  # parses, but no payload is that deep
        (b'{"ref": "refs/heads/main", "x": "\xff\xfe"}', "not UTF-8"),
        (b'{"ref": "refs/heads/main",', "Expecting property name"),
    ],
)
def test_a_signed_but_malformed_delivery_is_a_400_with_the_reason(github: Client, body: bytes, reason: str):
    response = _deliver(github, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON payload") and reason in response.json()["error"]


def test_a_form_encoded_delivery_that_is_not_a_form_is_a_400_that_does_not_echo_it(github: Client):
    response = _deliver(github, b"payload=%7B%7D&&&=secret-looking=value", "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json() == {"error": "malformed JSON payload: not form-encoded"}
    deep = b"payload=" + b"%5B" * 100_000
    assert _deliver(github, deep, "application/x-www-form-urlencoded").status_code == 400


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"username=\xff\xfe&password=\xff", "application/x-www-form-urlencoded"),
        (b"username=ad%00min&password=x", "application/x-www-form-urlencoded"),
        (b"--b\r\nContent-Disposition: form-data; name=\xff\r\n\r\n\xff\r\n", "multipart/form-data; boundary=b"),
        (b"\xff\xfe\x00", "multipart/form-data"),  # no boundary at all
    ],
)
def test_the_admin_login_answers_malformed_bodies_without_failing(body: bytes, content_type: str):
    """Non-UTF-8, NUL and broken multipart bodies get the login form again (or a 400), not a 500."""
    client = Client(raise_request_exception=False)
    response = client.generic("POST", "/admin/login/", body, content_type=content_type)
    assert response.status_code in (200, 400, 403)


def test_a_nul_in_a_launch_or_waiting_list_address_is_a_400(client: Client):
    assert client.post("/workshops/intro%00/launch").status_code == 400
    assert client.get("/queue/status?x=%00").status_code == 400

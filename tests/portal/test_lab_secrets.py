"""A learner's lab on "My server", their credentials on request only, and no secret anywhere else:
catalog pages, the API, the status page, the admin, error pages, logs (SQL included)."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from catalog.models import Notebook, Workshop
from portal.lab import lab_grant, lab_session_status_set
from portal.models import Lease
from tests.portal.labkit import SPEC, pool_load, pool_password

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(lab_key, django_user_model, settings, frozen_hub, caplog):
    """Ada's lab: a leased pool account and generated values; a catalog with one workshop.

    Everything logged from the pool's loading on is captured at DEBUG, SQL with its parameters too.
    """
    caplog.set_level("DEBUG")
    caplog.set_level("DEBUG", logger="django")  # Django's own loggers stop at INFO otherwise
    # Its DEBUG records carry a repr of the whole template context (the settings keep it at INFO).
    caplog.set_level("DEBUG", logger="django.template")
    connection.force_debug_cursor = True
    frozen_hub.thaw()  # a hub that answers: Ada has no server
    workshop = Workshop.objects.create(slug="redfish-101", folder="redfish-101", title="Redfish 101", published=True)
    Notebook.objects.create(workshop=workshop, path="0-ReadMeFirst.ipynb", title="Read me", position=0)
    pool_load(accounts=2)
    ada = django_user_model.objects.create_user("ada")
    grant = lab_grant(user=ada, workshop_slug="redfish-101", spec=SPEC)
    lab_session_status_set(session_id=grant.session_id, status="failed", error="console: exited with status 1")
    client = Client()
    client.force_login(ada)
    yield {"client": client, "grant": grant, "secrets": [pool_password(1), grant.env["PASSSTU"], grant.env["TOKEN"]]}
    connection.force_debug_cursor = False


def _clean(body: bytes | str, secrets: list[str], where: str) -> None:
    text = body.decode() if isinstance(body, bytes) else body
    for secret in secrets:
        assert secret not in text, f"a secret in {where}"


def test_my_server_shows_the_lab_and_the_credentials_only_on_request(lab, django_user_model, settings) -> None:
    client, grant = lab["client"], lab["grant"]
    page = client.get("/me/server")
    assert page.status_code == 200
    body = page.content.decode()
    _clean(body, lab["secrets"], "My server")
    redfish, console = grant.services
    assert 'id="lab"' in body and "Failed" in body and "console: exited with status 1" in body
    assert f"http://127.0.0.1:{redfish['port']}" in body
    assert f'href="{settings.HUB_URL}/hub/user-redirect/proxy/{console["port"]}/"' in body  # a web UI
    assert f"proxy/{redfish['port']}/" not in body  # not a web service: no link
    assert 'action="/me/lab/credentials"' in body and "csrfmiddlewaretoken" in body

    shown = client.post("/me/lab/credentials")
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    for secret in lab["secrets"]:
        assert secret in shown.content.decode()
    assert client.get("/me/lab/credentials").status_code == 405  # never by a link or a prefetch

    # Another learner asking gets their own (none), not a cached page of Ada's.
    bob = Client()
    bob.force_login(django_user_model.objects.create_user("bob"))
    other = bob.post("/me/lab/credentials")
    assert 'id="lab-credentials-none"' in other.content.decode()
    _clean(other.content, lab["secrets"], "another learner's answer")
    assert "lab" not in bob.get("/me/server").context or bob.get("/me/server").context["lab"] is None


def test_the_credentials_need_sign_in_and_the_csrf_token(lab) -> None:
    assert Client().post("/me/lab/credentials").status_code == 302  # to sign-in
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = lab["client"].cookies
    refused = strict.post("/me/lab/credentials")
    assert refused.status_code == 403
    _clean(refused.content, lab["secrets"], "the CSRF failure page")


def test_no_secret_reaches_pages_the_api_the_admin_error_pages_or_logs(
    lab, admin_client, settings, caplog, django_user_model
) -> None:
    secrets = lab["secrets"]
    learner, anonymous = lab["client"], Client()
    learner.post("/me/lab/credentials")  # shown once: still nowhere else afterwards
    for client in (anonymous, learner, admin_client):
        for path in (
            "/workshops/",
            "/workshops/redfish-101/",
            "/api/workshops",
            "/api/workshops/redfish-101",
            "/me/server.json",
            "/workshops/nowhere/",  # 404
            "/api/workshops/nowhere",  # JSON 404
            "/me/lab/credentials",  # 405 by GET
            "/workshops/?q=%zz",  # 400
        ):
            _clean(client.get(path).content, secrets, path)
    session_id = lab["grant"].session_id
    lease = Lease.objects.get()
    pool = lease.account.pool
    settings.HUB_API_URL = "http://127.0.0.1:9/hub/api"  # the status page with the hub down
    settings.HUB_TIMEOUT = 1
    settings.ADMISSION_PREFIX = "test-lab-secrets:"
    for path in (
        "/status",
        "/api/status",
        "/admin/portal/credentialpool/",
        f"/admin/portal/credentialpool/{pool.pk}/change/",
        "/admin/portal/labsession/",
        f"/admin/portal/labsession/{session_id}/change/",
        "/admin/portal/lease/",
        f"/admin/portal/lease/{lease.pk}/change/",
        "/admin/portal/labport/",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        _clean(response.content, secrets, path)
    pool_page = admin_client.get(f"/admin/portal/credentialpool/{pool.pk}/change/").content.decode()
    assert "●●●●●●●● (set)" in pool_page and "ilo-1" in pool_page and "ada since" in pool_page
    formatter = logging.Formatter()
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {formatter.formatException(record.exc_info) if record.exc_info else ''}"
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
    )
    assert 'INSERT INTO "portal_poolaccount"' in logged  # SQL was logged with its parameters: ciphertext only
    assert "<9 lab values, hidden>" in logged  # a failed template lookup logged the credentials page's context
    _clean(logged, secrets, "the logs")
    # Nothing personal in the page cache either.
    _clean(repr(dict(cache._store)), secrets, "the page cache")


def test_the_admin_sets_a_password_write_only(lab, admin_client) -> None:
    from portal.lab_crypto import secret_decrypt
    from portal.models import CredentialPool, PoolAccount

    pool = CredentialPool.objects.get()
    account = PoolAccount.objects.get(label="ilo-2")
    form = {
        "name": pool.name,
        "description": "",
        "reset_command": "[]",
        "reset_timeout_s": "60",
        "accounts-TOTAL_FORMS": "2",
        "accounts-INITIAL_FORMS": "2",
        "accounts-MIN_NUM_FORMS": "0",
        "accounts-MAX_NUM_FORMS": "1000",
    }
    for i, item in enumerate(PoolAccount.objects.order_by("label")):
        form |= {
            f"accounts-{i}-id": str(item.pk),
            f"accounts-{i}-pool": str(pool.pk),
            f"accounts-{i}-label": item.label,
            f"accounts-{i}-endpoint": item.endpoint,
            f"accounts-{i}-username": item.username,
            f"accounts-{i}-password": "New-Admin-PW-123" if item.pk == account.pk else "",
            f"accounts-{i}-extra": "",
            f"accounts-{i}-enabled": "on",
        }
    response = admin_client.post(f"/admin/portal/credentialpool/{pool.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert secret_decrypt(account.password_encrypted) == "New-Admin-PW-123"
    assert secret_decrypt(PoolAccount.objects.get(label="ilo-1").password_encrypted) == pool_password(1)  # kept
    page = admin_client.get(f"/admin/portal/credentialpool/{pool.pk}/change/").content.decode()
    assert "New-Admin-PW-123" not in page and pool_password(1) not in page

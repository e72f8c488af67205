"""Secure by default: DEBUG off unless set, the admin's password login rate-limited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from hubconfig.contract import hub_settings_from_env

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_a_fresh_process(env: dict[str, str]) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'debug': settings.DEBUG, 'secure_cookies': settings.SESSION_COOKIE_SECURE, "
        "'ssl_redirect': settings.SECURE_SSL_REDIRECT, 'hsts': settings.SECURE_HSTS_SECONDS}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "SECURE_", "SESSION_", "PORTAL_URL"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "PORTAL_IGNORE_DOTENV": "1", "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_debug_is_off_unless_set():
    """A deployment that forgets DEBUG gets it off, in the portal and the hub alike."""
    assert _settings_in_a_fresh_process({})["debug"] is False
    assert _settings_in_a_fresh_process({"DEBUG": "true"})["debug"] is True
    assert hub_settings_from_env({}).debug is False


def test_make_start_turns_debug_on_for_itself_and_says_so():
    script = (ROOT / "scripts" / "start.sh").read_text()
    assert 'export DEBUG="${DEBUG:-true}"' in script
    assert "DEBUG=${DEBUG}: set by \\`make start\\`" in script


def test_cookies_are_secure_when_the_portal_is_served_over_https():
    assert _settings_in_a_fresh_process({"PORTAL_URL": "https://portal.example.org"})["secure_cookies"] is True
    plain = _settings_in_a_fresh_process({"PORTAL_URL": "http://127.0.0.1:8000"})
    assert plain["secure_cookies"] is False  # a browser would never send them back over http
    assert plain["ssl_redirect"] is False and plain["hsts"] == 0


@pytest.fixture
def admin(db) -> User:
    return User.objects.create_superuser("root", password="right-password-123")


def _login(client: Client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "root", "password": password})


def test_the_sixth_wrong_password_within_a_minute_is_refused(admin, settings):
    """Five wrong passwords get the form again; the sixth, and even the right one then, are refused
    with a clear page; after the window the right password works again."""
    client = Client()
    for _ in range(5):
        response = _login(client, "wrong")
        assert (
            response.status_code == 200
            and "Please enter the correct username and password" in response.content.decode()
        )
    refused = _login(client, "wrong")
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert _login(client, "right-password-123").status_code == 429
    # Another address trying the same account is refused too (the count is per username as well).
    assert _login(Client(REMOTE_ADDR="10.1.2.3"), "right-password-123").status_code == 429
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)  # the window, shortened for the test
    time.sleep(1.2)
    welcome = _login(client, "right-password-123")
    assert welcome.status_code == 302 and welcome["Location"] == "/admin/"

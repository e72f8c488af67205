"""The hub contract: settings from the environment, tokens, capacity, and both processes agreeing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubconfig import contract
from hubconfig.contract import (
    TokenMissing,
    capacity_from_memory,
    capacity_resolve,
    github_api_url_default,
    hub_settings_from_env,
    service_token_read,
    service_tokens_ensure,
    token_strong,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_local_stack(tmp_path):
    hs = hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path)})
    assert hs.hub_url == "http://127.0.0.1:8001" and hs.portal_url == "http://127.0.0.1:8000"
    assert hs.hub_api_url == "http://127.0.0.1:8001/hub/api"
    assert hs.portal_oauth_redirect_uri == "http://127.0.0.1:8000/accounts/callback"
    assert not hs.use_github and hs.hub_on_loopback and hs.spawner == "fork"
    assert hs.activity_interval == 60 and hs.capacity >= 1
    # Reading the contract touches no file: the token files are made by the hub (or start.sh).
    assert not (tmp_path / "hub").exists() and hs.portal_service_token == ""
    with pytest.raises(TokenMissing, match="start the hub once"):
        service_token_read(configured="", path=hs.portal_token_path)
    # The token is made once and shared through the data dir.
    portal_token, culler_token = service_tokens_ensure(hs)
    assert service_tokens_ensure(hs) == (portal_token, culler_token) != (portal_token, portal_token)
    assert service_token_read(configured="", path=hs.portal_token_path) == portal_token
    assert (tmp_path / "hub" / "portal-service-token").stat().st_mode & 0o777 == 0o600
    # Made tokens are random: the hub may skip its slow hashing of them.
    assert token_strong(portal_token) and token_strong(culler_token)


def test_only_random_looking_tokens_are_trusted():
    assert token_strong("9c1f0e7a52b34d68a0e9f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6")
    assert not token_strong("portal-secret")  # short
    assert not token_strong("ab" * 32)  # long but two letters


def test_github_enterprise_and_explicit_policy(tmp_path):
    hs = hub_settings_from_env(
        {
            "PORTAL_VAR_DIR": str(tmp_path),
            "GITHUB_CLIENT_ID": "id",
            "GITHUB_CLIENT_SECRET": "secret",
            "GITHUB_URL": "https://ghe.example.com/",
            "GITHUB_ALLOWED_ORGS": "hpe, hpe-dev ,",
            "GITHUB_ALLOW_ALL": "false",
            "HUB_BIND_URL": "http://0.0.0.0:8001",
            "CAPACITY_MAX_SERVERS": "12",
            "PORTAL_SERVICE_TOKEN": "t0ken",
        }
    )
    assert hs.use_github and not hs.hub_on_loopback
    assert hs.github_api_url == "https://ghe.example.com/api/v3"
    assert hs.github_allowed_orgs == ("hpe", "hpe-dev") and hs.github_allow_all is False
    assert hs.capacity == 12 and hs.portal_service_token == "t0ken"


def test_bad_values_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="GITHUB_ALLOW_ALL"):
        hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path), "GITHUB_ALLOW_ALL": "maybe"})
    with pytest.raises(ValueError, match="HUB_SPAWNER"):
        hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path), "HUB_SPAWNER": "magic"})


def test_github_api_url():
    assert github_api_url_default(github_url="https://github.com") == "https://api.github.com"
    assert github_api_url_default(github_url="http://127.0.0.1:9/") == "http://127.0.0.1:9/api/v3"


def test_capacity_from_memory():
    assert capacity_from_memory(total_mb=24 * 1024, server_mb=512) == 46
    assert capacity_from_memory(total_mb=512, server_mb=512) == 1  # never zero
    assert capacity_resolve(configured=7, total_mb=64000, server_mb=512) == 7
    assert capacity_resolve(configured=None, total_mb=0, server_mb=512) == 1
    with pytest.raises(ValueError):
        capacity_from_memory(total_mb=1000, server_mb=0)


def _run(code: str, env: dict[str, str]) -> str:
    """Run code in a fresh interpreter with env over a clean environment; return its stdout."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HUB_", "PORTAL_", "DEBUG"))}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**base, "PORTAL_IGNORE_DOTENV": "1", **env},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


HUB_CONFIG = """
import json, sys
from traitlets.config.loader import PyFileConfigLoader
c = PyFileConfigLoader("jupyterhub_config.py", path="hubconfig").load_config()
print(json.dumps({
    "github_api": c.GitHubOAuthenticator.github_api,
    "services": c.JupyterHub.services,
    "roles": c.JupyterHub.load_roles,
    "trust": c.JupyterHub.trust_user_provided_tokens,
    "limit": c.JupyterHub.active_server_limit,
    "imported": sorted(m for m in ("django", "celery", "portal", "catalog") if m in sys.modules),
}))
"""
PORTAL_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "github_api": settings.GITHUB_API_URL, "client_id": settings.HUB_OAUTH_CLIENT_ID,
    "redirect": settings.HUB_OAUTH_REDIRECT_URI, "capacity": settings.HUB_CAPACITY,
    "hub_api": settings.HUB_API_URL,
}))
"""


def test_the_hub_and_the_portal_read_the_same_contract(tmp_path):
    """With GitHub Enterprise both call the same API host; names, redirect and capacity agree."""
    env = {
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "GITHUB_CLIENT_ID": "id",
        "GITHUB_CLIENT_SECRET": "secret",
        "GITHUB_URL": "https://ghe.example.com",
        "GITHUB_ALLOW_ALL": "true",
        "CAPACITY_MAX_SERVERS": "17",
        "PORTAL_URL": "https://workshops.example.com",
    }
    hub = json.loads(_run(HUB_CONFIG, env))
    portal = json.loads(_run(PORTAL_SETTINGS, env))
    assert hub["github_api"] == portal["github_api"] == "https://ghe.example.com/api/v3"
    assert hub["limit"] == portal["capacity"] == 17
    [portal_service, culler_service] = hub["services"]
    assert portal_service["oauth_client_id"] == portal["client_id"] == contract.PORTAL_OAUTH_CLIENT_ID
    assert (
        portal_service["oauth_redirect_uri"] == portal["redirect"] == "https://workshops.example.com/accounts/callback"
    )
    roles = {role["name"]: role for role in hub["roles"]}
    assert roles["portal"]["scopes"] == list(contract.PORTAL_SCOPES)
    assert roles["culler"]["scopes"] == list(contract.CULLER_SCOPES)
    assert roles["culler"]["services"] == [culler_service["name"]] == [contract.CULLER_SERVICE_NAME]
    # The hub made random tokens for itself and trusts them; it never imported the Django project.
    assert hub["trust"] is True and hub["imported"] == []


def test_importing_the_settings_touches_no_file_and_no_network(tmp_path):
    """No folder, token file or Redis probe on import: `docker build` bakes no state into the image."""
    var = tmp_path / "fresh-var"  # not tmp_path/var, which the autouse fixture makes
    out = _run(
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network at import')\n"
        "socket.create_connection = refuse\n"
        "import portal.settings as s; print(s.CELERY_BROKER_URL)",
        {"PORTAL_VAR_DIR": str(var), "REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    assert out == "redis://127.0.0.1:1/0"  # the broker is the configured Redis; start.sh picks a fallback
    assert not var.exists()


def test_static_files_do_not_move_with_the_state_folder(tmp_path):
    """The image's collectstatic (before the /data volume) and the server read the same folder."""
    code = "import portal.settings as s; print(s.STATIC_ROOT)"
    assert _run(code, {"PORTAL_VAR_DIR": str(tmp_path / "a")}) == _run(code, {"PORTAL_VAR_DIR": "/data"})


def test_every_admitted_learner_may_be_starting_at_once_unless_the_operator_says(tmp_path):
    """Forty learners pressing Launch at once: the hub's spawn limit defaulted to 10, and the 11th
    to the 40th were sent to the waiting list although the host had room for all of them."""
    hs = hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path), "CAPACITY_MAX_SERVERS": "45"})
    assert hs.concurrent_spawn_limit == hs.capacity == 45
    hs = hub_settings_from_env(
        {"PORTAL_VAR_DIR": str(tmp_path), "CAPACITY_MAX_SERVERS": "45", "HUB_CONCURRENT_SPAWN_LIMIT": "12"}
    )
    assert hs.concurrent_spawn_limit == 12

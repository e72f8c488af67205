"""Hub settings from the environment, and capacity from memory."""

from __future__ import annotations

import pytest

from portal.capacity import capacity_from_memory, capacity_resolve
from portal.hubsettings import github_api_url_default, hub_settings_from_env, token_strong


def test_defaults_are_the_embedded_local_stack(tmp_path):
    hs = hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path)})
    assert hs.hub_url == "http://127.0.0.1:8001" and hs.portal_url == "http://127.0.0.1:8000"
    assert hs.hub_api_url == "http://127.0.0.1:8001/hub/api"
    assert hs.portal_oauth_redirect_uri == "http://127.0.0.1:8000/accounts/callback"
    assert not hs.use_github and hs.hub_on_loopback and hs.spawner == "simple"
    assert hs.activity_interval == 60 and hs.capacity >= 1
    # The token is made once and shared through the data dir.
    assert (
        hs.portal_service_token
        == hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path)}).portal_service_token
    )
    assert (tmp_path / "hub" / "portal-service-token").stat().st_mode & 0o777 == 0o600
    # Made tokens are random: the hub may skip its slow hashing of them.
    assert hs.tokens_trusted


def test_only_random_looking_tokens_are_trusted(tmp_path):
    assert token_strong("9c1f0e7a52b34d68a0e9f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6")
    assert not token_strong("portal-secret")  # short
    assert not token_strong("ab" * 32)  # long but two letters
    hs = hub_settings_from_env({"PORTAL_VAR_DIR": str(tmp_path), "CULLER_SERVICE_TOKEN": "changeme"})
    assert not hs.tokens_trusted  # one weak token: the hub keeps hashing config tokens slowly


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

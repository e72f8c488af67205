"""System checks an operator sees before a misconfigured portal starts."""

from __future__ import annotations

from portal.checks import check_hub_signin


def test_dev_signin_refused_in_production(settings) -> None:
    """DEBUG off without GitHub settings is an error naming what to set."""
    settings.DEBUG = False
    settings.HUB_DEV_SIGNIN = True
    settings.HUB_SERVICE_TOKEN = "0123456789abcdef" * 4
    [error] = check_hub_signin(None)
    assert error.id == "portal.E002" and "GITHUB_CLIENT_ID" in error.hint


def test_unshared_token_warned_in_production(settings) -> None:
    """DEBUG off without PORTAL_SERVICE_TOKEN warns that the hub may not share the token file."""
    settings.DEBUG = False
    settings.HUB_DEV_SIGNIN = False
    settings.HUB_SERVICE_TOKEN = ""  # PORTAL_SERVICE_TOKEN unset
    assert [p.id for p in check_hub_signin(None)] == ["portal.W001"]


def test_development_defaults_pass(settings) -> None:
    """The embedded default (DEBUG on, development sign-in) raises nothing."""
    settings.DEBUG = True
    settings.HUB_DEV_SIGNIN = True
    assert check_hub_signin(None) == []


def test_hand_made_service_tokens_are_warned_about(settings) -> None:
    """A short or repetitive token is named, with how to make a good one."""
    settings.DEBUG = True
    settings.HUB_DEV_SIGNIN = True
    settings.HUB_SERVICE_TOKEN = "portal-secret"
    settings.CULLER_SERVICE_TOKEN = "ab" * 32
    [warning] = check_hub_signin(None)
    assert warning.id == "portal.W002" and "openssl rand -hex 32" in warning.hint
    assert "PORTAL_SERVICE_TOKEN and CULLER_SERVICE_TOKEN" in warning.msg
    settings.HUB_SERVICE_TOKEN = settings.CULLER_SERVICE_TOKEN = "3f9a0c8e1b7d4265a9e0f1c2d3b4a596"
    assert check_hub_signin(None) == []


def test_a_missing_state_folder_is_an_error_saying_what_to_run(settings, tmp_path) -> None:
    """A fresh checkout: the SQLite folder is not made by reading settings, and the check says how."""
    from portal.checks import check_state_folder

    settings.DATABASES = {**settings.DATABASES}
    settings.DATABASES["default"] = {
        **settings.DATABASES["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "nowhere" / "portal.sqlite3"),
    }
    [error] = check_state_folder(None)
    assert error.id == "portal.E003" and "manage.py local_setup" in error.hint
    (tmp_path / "nowhere").mkdir()
    assert check_state_folder(None) == []

"""System checks an operator sees before a misconfigured portal starts."""

from __future__ import annotations

from portal.checks import check_hub_signin


def test_dev_signin_refused_in_production(settings, monkeypatch) -> None:
    """DEBUG off without GitHub settings is an error naming what to set."""
    settings.DEBUG = False
    settings.HUB_DEV_SIGNIN = True
    monkeypatch.setenv("PORTAL_SERVICE_TOKEN", "x" * 32)
    [error] = check_hub_signin(None)
    assert error.id == "portal.E002" and "GITHUB_CLIENT_ID" in error.hint


def test_unshared_token_warned_in_production(settings, monkeypatch) -> None:
    """DEBUG off without PORTAL_SERVICE_TOKEN warns that the hub may not share the token file."""
    settings.DEBUG = False
    settings.HUB_DEV_SIGNIN = False
    monkeypatch.delenv("PORTAL_SERVICE_TOKEN", raising=False)
    assert [p.id for p in check_hub_signin(None)] == ["portal.W001"]


def test_development_defaults_pass(settings) -> None:
    """The embedded default (DEBUG on, development sign-in) raises nothing."""
    settings.DEBUG = True
    settings.HUB_DEV_SIGNIN = True
    assert check_hub_signin(None) == []

"""System checks for the hub connection a deployment must get right."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_hub_signin(app_configs, **kwargs) -> list:
    """Refuse the development sign-in outside DEBUG, and flag an unshared service token."""
    problems = []
    if not settings.DEBUG and settings.HUB_DEV_SIGNIN:
        problems.append(
            Error(
                "No GitHub OAuth settings: sign-in would be the development one, which accepts anyone.",
                hint="Set GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and GITHUB_ALLOWED_ORGS (or _USERS / _ALLOW_ALL).",
                id="portal.E002",
            )
        )
    if not settings.DEBUG and not os.environ.get("PORTAL_SERVICE_TOKEN"):
        problems.append(
            Warning(
                "PORTAL_SERVICE_TOKEN is not set: the portal and the hub share a token file, "
                "which works only when both see the same HUB_DATA_DIR.",
                hint="Set the same PORTAL_SERVICE_TOKEN for the hub and the portal.",
                id="portal.W001",
            )
        )
    from portal.hubsettings import token_strong

    weak = [
        name
        for name, token in (
            ("PORTAL_SERVICE_TOKEN", settings.HUB_SERVICE_TOKEN),
            ("CULLER_SERVICE_TOKEN", settings.CULLER_SERVICE_TOKEN),
        )
        if token and not token_strong(token)
    ]
    if weak:
        problems.append(
            Warning(
                f"{' and '.join(weak)} look hand-made (under 32 characters or little variety): "
                "easier to guess, and the hub hashes them slowly on every request.",
                hint="Use `openssl rand -hex 32` for each.",
                id="portal.W002",
            )
        )
    return problems

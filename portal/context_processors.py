"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    """Expose the site name and the hub address to templates."""
    return {
        "SITE_NAME": getattr(settings, "SITE_NAME", "API Workshops"),
        "HUB_URL": settings.HUB_URL,
        "DEBUG": settings.DEBUG,
        "HUB_DEV_SIGNIN": getattr(settings, "HUB_DEV_SIGNIN", False),
    }

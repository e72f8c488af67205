"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from portal.personal import page_context

# The name in every page's title and header: a constant (it was read from settings, never set there).
SITE_NAME = "API Workshops"


def site(request: HttpRequest) -> dict:
    """Expose the site name, the hub address and the personal parts (or a cached shell's markers)."""
    return {
        "SITE_NAME": SITE_NAME,
        "HUB_URL": settings.HUB_URL,
        "DEBUG": settings.DEBUG,
        "HUB_DEV_SIGNIN": settings.HUB_DEV_SIGNIN,
        **page_context(request),
    }

"""The launch badge image, served by the portal so badges work wherever they are pasted."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from catalog.share import BADGE_SVG


@require_GET
def launch_badge(request: HttpRequest) -> HttpResponse:
    """Send the static "launch | workshop" SVG badge (cached a day: it never changes)."""
    response = HttpResponse(BADGE_SVG, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    # Shown by other sites (GitHub's camo, blogs): no script, nothing fetched.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response

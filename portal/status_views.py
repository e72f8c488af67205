"""The operators' status page and GET /api/status: thin views over portal.status."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from portal import status


def _token_ok(request: HttpRequest) -> bool:
    """Tell whether the request carries the monitoring token (STATUS_API_TOKEN)."""
    token = settings.STATUS_API_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@require_GET
def status_api(request: HttpRequest) -> JsonResponse:
    """Return the status as JSON, for staff or a monitoring system holding the token."""
    if not (request.user.is_active and request.user.is_staff) and not _token_ok(request):
        return JsonResponse({"error": "staff or the status token only"}, status=403)
    return JsonResponse(status.status_read(now=timezone.now()), headers={"Cache-Control": "no-store"})


@require_GET
@staff_member_required
def status_page(request: HttpRequest) -> HttpResponse:
    """Show capacity, servers, the waiting list, culls, the last sync and the 24 h chart."""
    now = timezone.now()
    # The SVG is built from numbers only (portal.status_chart), never from user input.
    chart = mark_safe(status.capacity_chart(now=now))  # noqa: S308
    return render(request, "portal/status.html", {"s": status.status_read(now=now), "chart": chart})

"""Site-wide views: health and error pages (a hub problem in words, for the hub-backed views)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.health import OK, database_check, readiness_report


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Answer "ok" when the process serves and its database answers, else 503 (also the
    benchmark's framework ceiling: one trivial query)."""
    if database_check() != OK:
        return HttpResponse("database unreachable\n", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Report the database, Redis and the hub as JSON: 503 without a database, 200 otherwise
    ("degraded" when Redis or the hub is down: the catalog still serves)."""
    serving, report = readiness_report()
    return JsonResponse(report, status=200 if serving else 503, headers={"Cache-Control": "no-store"})


def _wants_json(request: HttpRequest) -> bool:
    """Tell whether the caller is the JSON API."""
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Show a helpful 404 page (JSON for the API)."""
    message = str(exception.args[0]) if exception and exception.args and isinstance(exception.args[0], str) else ""
    if _wants_json(request):
        return JsonResponse({"error": message or "not found"}, status=404)
    return render(request, "404.html", {"message": message}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Show a plain 500 page that needs nothing from the database."""
    if _wants_json(request):
        return JsonResponse({"error": "internal error"}, status=500)
    return render(request, "500.html", status=500)


def hub_problem(request: HttpRequest, *, title: str, message: str, status: int = 503) -> HttpResponse:
    """Show a hub problem in words."""
    return render(request, "portal/hub_problem.html", {"title": title, "message": message}, status=status)

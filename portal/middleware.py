"""Middleware for serving: health probes that answer anywhere, and malformed URLs refused early."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, JsonResponse

from portal import views

# A "%" not followed by two hex digits: no browser sends it, and decoders disagree on its meaning.
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

HEALTH_PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
}


class HealthProbeMiddleware:
    """Answer /healthz and /readyz before host checks, HTTPS redirects, sessions and CSRF.

    A container's health check calls http://127.0.0.1:8000/healthz: with ALLOWED_HOSTS naming the
    public host and SECURE_SSL_REDIRECT on, Django would refuse or redirect it. The probes read
    nothing from the request, so skipping those checks exposes nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = HEALTH_PROBES.get(request.path_info)
        if probe is not None and request.method == "GET":
            return probe(request)
        return self.get_response(request)


def _url_problem(*, path: str, query: str) -> str | None:
    """Return why a request's path or query cannot be served, or None.

    path is the decoded path (Django has already re-percent-encoded bytes that are not UTF-8, so
    only a NUL can be left), query the raw QUERY_STRING.
    """
    if "\x00" in path:
        return "The address contains a NUL character."
    if _BAD_PERCENT.search(query):
        return "The query string has a malformed percent-encoding (a % must be followed by two hex digits)."
    decoded = unquote_to_bytes(query.replace("+", " ").encode("latin-1", "replace"))
    if b"\x00" in decoded:
        return "The query string contains a NUL character."
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "The query string is not valid UTF-8."
    return None


class MalformedRequestMiddleware:
    """Refuse a URL no browser sends (NUL bytes, broken percent-encoding, a non-UTF-8 query) with a 400.

    Without it a NUL in a search or filter reaches PostgreSQL, which rejects it with an error the
    visitor sees as a 500; other malformed values would be silently altered by the decoders.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = _url_problem(path=request.path_info, query=request.META.get("QUERY_STRING", ""))
        if problem is None:
            return self.get_response(request)
        if request.path_info.startswith("/api/") or request.path_info.startswith("/github/"):
            return JsonResponse({"error": problem}, status=400)
        return HttpResponse(f"Bad request: {problem}\n", status=400, content_type="text/plain; charset=utf-8")

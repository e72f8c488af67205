"""Whole-page cache for anonymous visitors, keyed by the catalog's version."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse

from catalog.models import Workshop

_memo: dict[str, tuple[float, str]] = {}


def catalog_version() -> str:
    """Return a token that changes whenever the public catalog changes (memoised briefly)."""
    now = time.monotonic()
    hit = _memo.get("version")
    if hit and now - hit[0] < settings.CATALOG_VERSION_TTL:
        return hit[1]
    # Any sync or admin save bumps updated_at; a removal lowers the count.
    agg = Workshop.objects.aggregate(latest=Max("updated_at"), count=Count("id"))
    version = f"{agg['latest'].timestamp() if agg['latest'] else 0}-{agg['count']}"
    _memo["version"] = (now, version)
    return version


def public_page_cache(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve GET pages to visitors without a session from a cache, until the catalog changes."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "GET" or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return view(request, *args, **kwargs)
        key = f"page:{catalog_version()}:{request.get_full_path()}"
        hit = cache.get(key)
        if hit is not None:
            body, content_type = hit
            return HttpResponse(body, content_type=content_type)
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.cookies and not response.streaming:
            cache.set(key, (response.content, response["Content-Type"]), settings.PAGE_CACHE_SECONDS)
        return response

    return wrapper

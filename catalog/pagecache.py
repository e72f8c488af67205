"""Whole-page cache for the catalog, keyed by the catalog's version, shared by every visitor.

One cached body per page and per kind of visitor (anonymous or signed in): a signed-in learner's
name and CSRF token are markers in it, filled in per request (portal.personal), so signed-in
pages cost about what anonymous ones do and nothing personal is stored. Bounded: the cache
holds CACHES' MAX_BYTES at most (portal.memory_cache), a page over PAGE_CACHE_MAX_PAGE_BYTES is
not stored, and a query with a parameter the page does not read is served uncached (so made-up
parameters cannot fill the cache).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from catalog.models import Workshop
from portal.personal import SHELL_ATTR, SIGNED_IN, page_mode, page_personalise

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


def _headers(response: HttpResponse, *, mode: str) -> HttpResponse:
    """Say who may keep the page: nobody else when it carries a signed-in learner's parts."""
    patch_vary_headers(response, ["Cookie"])
    if mode == SIGNED_IN:
        response["Cache-Control"] = "private, no-cache"
    return response


def public_page_cache(
    view: Callable[..., HttpResponse] | None = None, *, params: Iterable[str] = ()
) -> Callable[..., HttpResponse]:
    """Serve GET pages from the shared cache until the catalog changes; params: the query
    parameters the page reads (a request with any other is rendered and not stored).

    Usable bare (`@public_page_cache`, no parameters read) or as `@public_page_cache(params=...)`.
    """
    known = frozenset(params)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "GET" or not known.issuperset(request.GET.keys()):
                return view(request, *args, **kwargs)
            mode = page_mode(request)
            if mode is None:
                return view(request, *args, **kwargs)
            path = hashlib.sha256(request.get_full_path().encode()).hexdigest()
            key = f"page:{catalog_version()}:{mode}:{path}"
            hit = cache.get(key)
            if hit is not None:
                body, content_type = hit
                response = HttpResponse(page_personalise(request=request, body=body), content_type=content_type)
                return _headers(response, mode=mode)
            setattr(request, SHELL_ATTR, mode)
            try:
                response = view(request, *args, **kwargs)
            finally:
                # A 404 raised by the view is rendered later, for this request alone.
                delattr(request, SHELL_ATTR)
            if response.streaming:
                return response
            shell = response.content
            storable = response.status_code == 200 and not response.cookies
            if storable and len(shell) <= settings.PAGE_CACHE_MAX_PAGE_BYTES:
                cache.set(key, (shell, response["Content-Type"]), settings.PAGE_CACHE_SECONDS)
            response.content = page_personalise(request=request, body=shell)
            return _headers(response, mode=mode)

        return wrapper

    return decorate(view) if view is not None else decorate

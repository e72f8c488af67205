"""The read-only JSON API over the catalog."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from catalog.selectors import CatalogQuery, workshop_get, workshop_search
from catalog.serializers import workshop_detail_json, workshop_summary_json

MAX_PER_PAGE = 100


def _error(status: int, message: str) -> JsonResponse:
    """Return a JSON error body with status."""
    return JsonResponse({"error": message}, status=status)


@require_GET
def workshops_list(request: HttpRequest) -> JsonResponse:
    """List visible workshops, with the same search and filters as the catalog page."""
    query = CatalogQuery.from_params(request.GET)
    try:
        per_page = min(max(int(request.GET.get("per_page", settings.CATALOG_PAGE_SIZE)), 1), MAX_PER_PAGE)
        page = Paginator(workshop_search(query=query), per_page).page(request.GET.get("page", 1))
    except (ValueError, PageNotAnInteger):
        return _error(400, "page and per_page must be positive integers")
    except EmptyPage:
        return _error(404, "no such page")

    def link(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    return JsonResponse(
        {
            "count": page.paginator.count,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "next": link(page.next_page_number()) if page.has_next() else None,
            "previous": link(page.previous_page_number()) if page.has_previous() else None,
            "results": [workshop_summary_json(w, request.build_absolute_uri) for w in page],
        }
    )


@require_GET
def workshop_detail(request: HttpRequest, slug: str) -> JsonResponse:
    """Describe one workshop: metadata, notebooks, download URLs and commit."""
    workshop = workshop_get(slug=slug)
    if workshop is None:
        return _error(404, f"unknown workshop '{slug}'")
    source = {
        "repository": settings.CATALOG_SOURCE,
        "branch": settings.CATALOG_BRANCH,
        "commit": workshop.commit_sha,
        "folder": workshop.folder,
    }
    notebooks = list(workshop.notebooks.defer("preview_html"))
    return JsonResponse(workshop_detail_json(workshop, notebooks, request.build_absolute_uri, source=source))

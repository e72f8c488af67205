"""Catalog selectors: the functions that read."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404

from catalog.models import Level, Workshop

# Titles sort case-insensitively, the same on every database collation.
SORTS = {
    "featured": ("-pinned", "-featured", "-rank", Lower("title")),
    "newest": ("-content_updated_at", Lower("title")),
    "title": (Lower("title"),),
}


@dataclass(frozen=True)
class CatalogQuery:
    """What a visitor asked the catalog for (all optional)."""

    q: str = ""
    tag: str = ""
    product: str = ""
    level: str = ""
    kernel: str = ""
    sort: str = "featured"

    @classmethod
    def from_params(cls, params) -> CatalogQuery:
        """Read a query from request parameters, dropping values that make no sense."""
        sort = params.get("sort", "featured")
        level = params.get("level", "")
        return cls(
            q=params.get("q", "").strip()[:200],
            tag=params.get("tag", "").strip()[:100],
            product=params.get("product", "").strip()[:100],
            level=level if level in Level.values else "",
            kernel=params.get("kernel", "").strip()[:100],
            sort=sort if sort in SORTS else "featured",
        )

    @property
    def is_filtered(self) -> bool:
        """Tell whether anything narrows the catalog."""
        return bool(self.q or self.tag or self.product or self.level or self.kernel)


def workshop_visible_qs() -> QuerySet[Workshop]:
    """Return the workshops the public may see."""
    return Workshop.objects.filter(published=True, active=True, hidden=False)


def _json_contains(field: str, value: str) -> Q:
    """Match a JSON list of strings holding value, case-insensitively, on any database."""
    # The quotes make it a whole-element match: "api" must not match "openapi".
    return Q(**{f"{field}__icontains": f'"{value}"'})


def workshop_search(*, query: CatalogQuery) -> QuerySet[Workshop]:
    """Return visible workshops matching query, in the asked order, without heavy columns."""
    qs = workshop_visible_qs().defer("description", "description_html", "search_text", "search_vector")
    for field, value in (("tags", query.tag), ("products", query.product), ("kernels", query.kernel)):
        if value:
            qs = qs.filter(_json_contains(field, value))
    if query.level:
        qs = qs.filter(level=query.level)
    order = SORTS[query.sort]
    if query.q:
        if connection.vendor == "postgresql":
            # Local: only this PostgreSQL branch uses full-text search (SQLite matches words below).
            from django.contrib.postgres.search import SearchQuery, SearchRank

            sq = SearchQuery(query.q, search_type="websearch", config="english")
            # Prefix match on the title too, so "redf" finds Redfish while typing.
            qs = qs.filter(Q(search_vector=sq) | Q(title__icontains=query.q)).annotate(
                rank_score=SearchRank("search_vector", sq)
            )
            if query.sort == "featured":
                order = ("-rank_score", *order)
        else:
            for word in query.q.split():
                qs = qs.filter(Q(search_text__icontains=word) | Q(title__icontains=word))
    return qs.order_by(*order)


def catalog_facets() -> dict[str, list[str]]:
    """Return the values visitors can filter by, from the visible workshops."""
    tags: set[str] = set()
    products: set[str] = set()
    kernels: set[str] = set()
    for t, p, k in workshop_visible_qs().values_list("tags", "products", "kernels"):
        tags.update(t or [])
        products.update(p or [])
        kernels.update(k or [])
    return {
        "tags": sorted(tags, key=str.lower),
        "products": sorted(products, key=str.lower),
        "kernels": sorted(kernels, key=str.lower),
        "levels": list(Level.values),
    }


def workshop_get(*, slug: str) -> Workshop | None:
    """Return the visible workshop with slug, or None."""
    return workshop_visible_qs().filter(slug=slug).first()


def workshop_visible_or_404(*, slug: str) -> Workshop:
    """Return the visible workshop with slug, or raise Http404 (for views)."""
    workshop = workshop_get(slug=slug)
    if workshop is None:
        raise Http404(f"No workshop called “{slug}”.")
    return workshop

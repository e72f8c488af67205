"""Public catalog pages: browse, search, preview, download."""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from catalog.downloads import workshop_archive
from catalog.gitrepo import path_refusal
from catalog.models import Notebook, Workshop, WorkshopFile
from catalog.pagecache import public_page_cache
from catalog.selectors import CatalogQuery, catalog_facets, workshop_search, workshop_visible_or_404
from catalog.source_links import repo_web_url, source_links

# Files from the content repository are served in a sandbox: an SVG or HTML file opened
# directly must not run script with the portal's origin.
FILE_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp", "text/plain"}
# The query parameters the catalog page reads (CatalogQuery and the page number): only these are cached.
CATALOG_PARAMS = ("q", "tag", "product", "level", "kernel", "sort", "page")


@require_GET
@public_page_cache(params=CATALOG_PARAMS)
def catalog_index(request: HttpRequest) -> HttpResponse:
    """List workshops with search, filters, sort and pagination."""
    query = CatalogQuery.from_params(request.GET)
    page = Paginator(workshop_search(query=query), settings.CATALOG_PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "catalog/index.html",
        {"query": query, "page": page, "facets": catalog_facets(), "params": params.urlencode()},
    )


def _links(workshop: Workshop, first_file: str = ""):
    """Return the source links of a workshop, when its repository has a web page."""
    web = repo_web_url(source=settings.CATALOG_SOURCE, configured=settings.CATALOG_REPO_WEB_URL)
    return source_links(
        web_url=web,
        branch=settings.CATALOG_BRANCH,
        commit=workshop.commit_sha,
        folder=workshop.folder,
        title=workshop.title,
        first_file=first_file,
    )


@require_GET
@public_page_cache
def workshop_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a workshop: description, notebooks with outlines, downloads."""
    workshop = workshop_visible_or_404(slug=slug)
    notebooks = list(workshop.notebooks.defer("preview_html"))
    return render(
        request,
        "catalog/detail.html",
        {"workshop": workshop, "notebooks": notebooks, "links": _links(workshop)},
    )


@require_GET
@public_page_cache
def notebook_preview(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    """Show a notebook's preview, rendered at sync time."""
    workshop = workshop_visible_or_404(slug=slug)
    notebooks = list(workshop.notebooks.defer("preview_html"))
    current = next((nb for nb in notebooks if nb.path == path), None)
    if current is None:
        raise Http404(f"No notebook “{path}” in this workshop.")
    index = notebooks.index(current)
    preview = Notebook.objects.values_list("preview_html", flat=True).get(pk=current.pk)
    return render(
        request,
        "catalog/notebook.html",
        {
            "workshop": workshop,
            "notebook": current,
            "preview_html": preview,
            "notebooks": notebooks,
            "previous": notebooks[index - 1] if index > 0 else None,
            "next": notebooks[index + 1] if index + 1 < len(notebooks) else None,
            "links": _links(workshop, current.path),
        },
    )


def _file(slug: str, path: str) -> WorkshopFile:
    """Return a published file of a visible workshop or raise 404 (never one with a refused path)."""
    if path_refusal(path):  # '..', '.git', backslashes, control characters: never served
        raise Http404("No such file in this workshop.")
    workshop = workshop_visible_or_404(slug=slug)
    return get_object_or_404(WorkshopFile, workshop=workshop, path=path)


def _attachment(path: str) -> str:
    """Return the Content-Disposition of a download named after path's last part.

    Django's header builder quotes and escapes per RFC 6266 (filename*= for names that
    a quoted string cannot carry), so quotes or non-ASCII in a file name stay one header.
    """
    return str(content_disposition_header(True, path.rsplit("/", 1)[-1]))


@require_GET
def notebook_download(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    """Send one notebook as an .ipynb attachment."""
    if not path.endswith(".ipynb"):
        raise Http404("Only notebooks are downloaded one by one; take the zip for the rest.")
    item = _file(slug, path)
    response = HttpResponse(bytes(item.content), content_type="application/x-ipynb+json")
    response["Content-Disposition"] = _attachment(path)
    return response


@require_GET
def workshop_file(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    """Serve a workshop file (images for previews) in a sandbox."""
    item = _file(slug, path)
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    inline = content_type in INLINE_TYPES
    response = HttpResponse(bytes(item.content), content_type=content_type if inline else "application/octet-stream")
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "public, max-age=300"
    if not inline:
        response["Content-Disposition"] = _attachment(path)
    return response


@require_GET
def workshop_zip(request: HttpRequest, slug: str) -> HttpResponse:
    """Send the whole workshop as a zip, ready to run locally."""
    workshop = workshop_visible_or_404(slug=slug)
    # Streamed from a spooled file: a large workshop is not held in memory per download.
    return FileResponse(
        workshop_archive(workshop=workshop),
        as_attachment=True,
        filename=f"{workshop.slug}.zip",
        content_type="application/zip",
    )

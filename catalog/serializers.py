"""Shape workshops as JSON for the API (pure functions over model instances)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from django.urls import reverse

from catalog.gitrepo import path_refusal
from catalog.models import Notebook, Workshop

Absolute = Callable[[str], str]


def image_url(workshop: Workshop) -> str:
    """Return the URL of the workshop's card image ('' when it has none or its path is refused)."""
    if not workshop.image:
        return ""
    if workshop.image.startswith(("http://", "https://")):
        return workshop.image
    # The metadata's path, as the builder resolved it ("./img/../a.png" is "a.png"); a path
    # the portal refuses (control characters, '..' out of the folder) would make no URL.
    path = posixpath.normpath(workshop.image)
    return "" if path_refusal(path) else reverse("catalog:file", args=[workshop.slug, path])


def workshop_summary_json(workshop: Workshop, absolute: Absolute) -> dict[str, Any]:
    """Return the list-view fields of a workshop."""
    image = image_url(workshop)
    return {
        "slug": workshop.slug,
        "title": workshop.title,
        "summary": workshop.summary,
        "level": workshop.level or None,
        "duration_minutes": workshop.duration_minutes,
        "tags": workshop.tags,
        "products": workshop.products,
        "kernels": workshop.kernels,
        "featured": workshop.is_featured,
        "image_url": absolute(image) if image and image.startswith("/") else image or None,
        "url": absolute(reverse("catalog:detail", args=[workshop.slug])),
        "api_url": absolute(reverse("api:workshop", args=[workshop.slug])),
        "updated_at": workshop.content_updated_at.isoformat() if workshop.content_updated_at else None,
        "commit": workshop.commit_sha,
    }


def notebook_json(workshop: Workshop, notebook: Notebook, absolute: Absolute) -> dict[str, Any]:
    """Return one notebook's fields."""
    return {
        "path": notebook.path,
        "title": notebook.title,
        "position": notebook.position,
        "kernel": notebook.kernel,
        "headings": notebook.headings,
        "size": notebook.size,
        "preview_url": absolute(reverse("catalog:notebook", args=[workshop.slug, notebook.path])),
        "download_url": absolute(reverse("catalog:download", args=[workshop.slug, notebook.path])),
    }


def workshop_detail_json(
    workshop: Workshop, notebooks: list[Notebook], absolute: Absolute, *, source: dict[str, Any]
) -> dict[str, Any]:
    """Return everything the API says about one workshop."""
    return {
        **workshop_summary_json(workshop, absolute),
        "description": workshop.description,
        "description_html": workshop.description_html,
        "authors": workshop.authors,
        "prerequisites": workshop.prerequisites,
        "metadata_format": workshop.metadata_format,
        "extra": workshop.extra,
        "lab": workshop.lab,
        "source": source,
        "notebooks": [notebook_json(workshop, nb, absolute) for nb in notebooks],
        "download_zip_url": absolute(reverse("catalog:zip", args=[workshop.slug])),
    }

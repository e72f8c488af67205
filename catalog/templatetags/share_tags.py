"""Template tags for the workshop page's sharing section."""

from __future__ import annotations

from django import template
from django.conf import settings

from catalog.share import ShareSnippets, share_snippets

register = template.Library()


@register.simple_tag(takes_context=True)
def workshop_share(context, workshop, notebooks) -> ShareSnippets:
    """Return the badges and deep links of a workshop, with the portal's public address."""
    request = context.get("request")
    portal_url = settings.PORTAL_URL or (request.build_absolute_uri("/") if request else "")
    return share_snippets(
        portal_url=portal_url,
        slug=workshop.slug,
        title=workshop.title,
        notebooks=[(nb.path, nb.title) for nb in notebooks],
    )

"""Template filters for the catalog pages."""

from __future__ import annotations

from django import template

from catalog import serializers

register = template.Library()

KERNEL_NAMES = {"python3": "Python 3", "powershell": "PowerShell", "bash": "Bash", "ir": "R"}


@register.filter
def duration(minutes: int | None) -> str:
    """Format a duration in minutes as '45 min' or '2 h 30 min'."""
    if not minutes:
        return ""
    hours, mins = divmod(int(minutes), 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h {mins} min" if mins else f"{hours} h"


@register.filter
def kernel_name(name: str) -> str:
    """Return a kernel's display name."""
    return KERNEL_NAMES.get(name, name)


@register.filter
def image_url(workshop) -> str:
    """Return the card image URL of a workshop."""
    return serializers.image_url(workshop)


@register.filter
def short_sha(sha: str) -> str:
    """Return the first 10 characters of a commit id."""
    return (sha or "")[:10]

"""System checks for the catalog: the content repository and the GitHub integration."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_catalog_source(app_configs, **kwargs) -> list:
    """Warn when the content repository is not configured."""
    if not settings.CATALOG_SOURCE:
        return [Warning("CATALOG_SOURCE is empty: the catalog has nothing to sync.", id="catalog.W001")]
    return []


@register()
def check_github_webhook(app_configs, **kwargs) -> list:
    """Warn when the GitHub integration is missing or half configured."""
    found = []
    if not settings.GITHUB_WEBHOOK_SECRET:
        found.append(Warning(
            "GITHUB_WEBHOOK_SECRET is empty: every GitHub webhook delivery is refused (403).",
            hint="Set GITHUB_WEBHOOK_SECRET, then run `manage.py github_webhook install`.",
            id="catalog.W101",
        ))  # fmt: skip
    if settings.GITHUB_TOKEN and not settings.GITHUB_REPOSITORY:
        found.append(Warning(
            "GITHUB_TOKEN is set but GITHUB_REPOSITORY is empty: no commit status can be posted.",
            hint="Set GITHUB_REPOSITORY to owner/name of the content repository.",
            id="catalog.W102",
        ))  # fmt: skip
    if settings.VALIDATION_OUTPUTS not in ("warning", "error"):
        found.append(Warning(
            f"VALIDATION_OUTPUTS is {settings.VALIDATION_OUTPUTS!r}; expected warning or error.",
            id="catalog.W103",
        ))  # fmt: skip
    return found

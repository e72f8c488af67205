"""System checks: configuration a deployment must get right."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security)
def check_secret_key(app_configs, **kwargs) -> list:
    """Refuse the development secret key outside DEBUG."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Error("SECRET_KEY is the development key.", hint="Set SECRET_KEY in the environment.", id="portal.E001")
        ]
    return []


@register()
def check_catalog_source(app_configs, **kwargs) -> list:
    """Warn when the content repository is not configured."""
    if not settings.CATALOG_SOURCE:
        return [Warning("CATALOG_SOURCE is empty: the catalog has nothing to sync.", id="catalog.W001")]
    return []

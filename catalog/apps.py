"""App configuration for the catalog."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """The catalog app."""

    name = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks."""
        # Imported here, once the apps are loaded: the checks module reads settings and registers.
        from catalog import checks  # noqa: F401

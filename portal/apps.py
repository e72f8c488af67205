"""App configuration for the site-wide pieces of the portal."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The portal app (sign-in, launch, hub client)."""

    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks."""
        # Here, once the app registry is ready: importing the module registers its checks.
        from portal import checks  # noqa: F401

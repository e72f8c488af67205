"""Site-wide records: launches (what each learner pulled, and when)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Launch(models.Model):
    """A learner launched a workshop: nbgitpuller put it in their server's home."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="launches", on_delete=models.CASCADE
    )
    # The folder survives the workshop's removal from the catalog: the files stay in the home.
    workshop = models.ForeignKey(
        "catalog.Workshop", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    folder = models.CharField(max_length=255)
    title = models.CharField(max_length=200)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["user", "-at"], name="launch_user_at")]

    def __str__(self) -> str:
        return f"{self.user} → {self.folder} at {self.at:%Y-%m-%d %H:%M}"

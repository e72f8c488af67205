"""Site-wide records: launches (what each learner pulled, and when)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Launch(models.Model):
    """A learner launched a workshop: nbgitpuller put it in their server's home."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="launches", on_delete=models.CASCADE)
    # The folder survives the workshop's removal from the catalog: the files stay in the home.
    workshop = models.ForeignKey("catalog.Workshop", null=True, on_delete=models.SET_NULL, related_name="+")
    folder = models.CharField(max_length=255)
    title = models.CharField(max_length=200)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["user", "-at"], name="launch_user_at")]

    def __str__(self) -> str:
        return f"{self.user} → {self.folder} at {self.at:%Y-%m-%d %H:%M}"


class CullRun(models.Model):
    """One pass of the culler over the hub's servers."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        PARTIAL = "partial", "Some stops failed"
        HUB_DOWN = "hub-down", "Hub unavailable"
        FAILED = "failed", "Hub refused (see the error)"
        BACKOFF = "backoff", "Skipped: backing off"
        BUSY = "busy", "Skipped: another run holds the lock"

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    running = models.PositiveIntegerField(default=0)
    starting = models.PositiveIntegerField(default=0)
    waiting = models.PositiveIntegerField(default=0)
    culled = models.PositiveIntegerField(default=0)
    admitted = models.PositiveIntegerField(default=0)
    hub_requests = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"cull {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class CullEvent(models.Model):
    """A server the culler stopped (or tried to): who, why, when, and how it went."""

    class Reason(models.TextChoices):
        IDLE = "idle", "Idle longer than the timeout"
        MAX_AGE = "max-age", "Older than the maximum age"
        PRESSURE = "pressure", "Host full and learners waiting"

    class Outcome(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        STOPPING = "stopping", "Still stopping (202)"
        GONE = "gone", "Already gone (404)"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(CullRun, null=True, on_delete=models.SET_NULL, related_name="events")
    user = models.CharField(max_length=255, db_index=True)
    server = models.CharField(max_length=255, blank=True, help_text="Empty: the default server.")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    decided_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    idle_seconds = models.PositiveIntegerField(default=0)
    age_seconds = models.PositiveIntegerField(default=0, help_text="Server lifetime when culled.")

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.user}/{self.server} {self.reason} {self.outcome}"


class CapacitySample(models.Model):
    """Running servers against capacity at one moment (the status page's 24 h chart)."""

    at = models.DateTimeField(db_index=True)
    capacity = models.PositiveIntegerField()
    running = models.PositiveIntegerField()
    starting = models.PositiveIntegerField(default=0)
    waiting = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.running}/{self.capacity}"


class ServerExtension(models.Model):
    """A learner extended their server's maximum age (once per server start)."""

    user = models.CharField(max_length=255)
    server_started = models.DateTimeField()
    seconds = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "server_started"], name="extension_once_per_server")]

    def __str__(self) -> str:
        return f"{self.user} +{self.seconds}s"


class ServerLife(models.Model):
    """A server the culler saw running: when it started, was last seen and (once gone) ended.

    Every way a server ends counts (culled, stopped by the learner in the portal or in
    JupyterLab, the hub restarted), so the waiting page's estimate uses real lifetimes.
    """

    user = models.CharField(max_length=255)
    server = models.CharField(max_length=255, blank=True)
    started = models.DateTimeField()
    last_seen = models.DateTimeField()
    ended = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-started"]
        constraints = [models.UniqueConstraint(fields=["user", "server", "started"], name="server_life_once")]

    def __str__(self) -> str:
        return f"{self.user}/{self.server} from {self.started:%Y-%m-%d %H:%M}"

    @property
    def seconds(self) -> float:
        """Return how long the server lived (so far, if it still runs)."""
        return ((self.ended or self.last_seen) - self.started).total_seconds()

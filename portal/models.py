"""Site-wide records: launches, culls, server lifetimes, and per-learner labs (pools, leases, ports)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
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


# --- Per-learner labs (portal.lab): pools of accounts, sessions, leases, ports -------------------
class CredentialPool(models.Model):
    """Accounts on real systems (iLOs, OneView appliances...) that learners borrow one at a time."""

    name = models.CharField(
        max_length=50,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]{0,49}\Z", "Lowercase letters, digits and dashes.")],
        help_text="The name workshops give as lab: credentials: pool:.",
    )
    description = models.TextField(blank=True)
    reset_command = models.JSONField(
        default=list,
        blank=True,
        help_text='Run after each lease ends, as an argv list (no shell), e.g. ["/opt/labs/reset-ilo"]; the '
        "account is in its environment as LAB_ENDPOINT, LAB_USERNAME, LAB_PASSWORD. Empty: no reset.",
    )
    reset_timeout_s = models.PositiveIntegerField(default=120, help_text="The reset command is killed after this.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Refuse a reset command that is not a list of strings (a string would need a shell)."""
        command = self.reset_command
        if command in (None, ""):
            self.reset_command = []
        elif not (isinstance(command, list) and all(isinstance(part, str) and part for part in command)):
            raise ValidationError({"reset_command": 'An argv list of non-empty strings, e.g. ["/opt/reset", "-v"].'})


class PoolAccount(models.Model):
    """One account of a pool; its password and extra fields are stored encrypted (portal.lab_crypto)."""

    pool = models.ForeignKey(CredentialPool, related_name="accounts", on_delete=models.PROTECT)
    label = models.CharField(max_length=100, help_text="Unique in the pool; the CSV loader updates by it.")
    endpoint = models.CharField(max_length=500)
    username = models.CharField(max_length=200)
    # Fernet tokens (MultiFernet with settings.LAB_ENCRYPTION_KEYS): never plain text in the database.
    password_encrypted = models.TextField(blank=True, editable=False)
    extra_encrypted = models.TextField(blank=True, editable=False, help_text="A JSON object, encrypted.")
    enabled = models.BooleanField(default=True, help_text="Off: never leased (a failed reset turns it off).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pool", "label"]
        constraints = [models.UniqueConstraint(fields=["pool", "label"], name="pool_account_label_once")]

    def __str__(self) -> str:
        return f"{self.pool_id and self.pool.name}/{self.label}"


class LabSession(models.Model):
    """A learner's lab for one launch: ports, lease, generated values; active until ended_at is set."""

    class Status(models.TextChoices):
        STARTING = "starting", "Starting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        ENDED = "ended", "Ended"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="lab_sessions", on_delete=models.CASCADE)
    workshop = models.CharField(max_length=120, help_text="The workshop's slug.")
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    end_reason = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTING)
    error = models.TextField(blank=True, help_text="What went wrong starting the services (no secret).")
    student_number = models.PositiveIntegerField(null=True, blank=True)
    # The granted services (LabSpec services with "port" and "{port}" filled): public, no secret.
    services = models.JSONField(default=list, blank=True)
    # Every value the learner got (env and generated), a JSON object encrypted like passwords.
    values_encrypted = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(ended_at__isnull=True), name="lab_session_one_active_per_user"
            ),
            models.UniqueConstraint(
                fields=["workshop", "student_number"],
                condition=models.Q(ended_at__isnull=True),
                name="lab_session_student_number_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.workshop} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def active(self) -> bool:
        return self.ended_at is None


class Lease(models.Model):
    """A pool account lent to one lab session; kept after release as history."""

    class Reset(models.TextChoices):
        NONE = "none", "No reset command"
        PENDING = "pending", "Reset queued"
        OK = "ok", "Reset done"
        FAILED = "failed", "Reset failed (account disabled)"

    account = models.ForeignKey(PoolAccount, related_name="leases", on_delete=models.PROTECT)
    session = models.ForeignKey(LabSession, related_name="leases", on_delete=models.CASCADE)
    leased_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True)
    reset_state = models.CharField(max_length=20, choices=Reset.choices, blank=True)
    reset_outcome = models.TextField(blank=True, help_text="Exit status and the end of the output (secrets masked).")
    reset_started_at = models.DateTimeField(null=True, blank=True)
    reset_finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(released_at__isnull=True), name="lease_one_open_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} → session {self.session_id}"


class LabPort(models.Model):
    """A port given to a lab session's service; kept after release as history."""

    port = models.PositiveIntegerField()
    session = models.ForeignKey(LabSession, related_name="lab_ports", on_delete=models.CASCADE)
    service = models.CharField(max_length=40)
    allocated_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-allocated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["port"], condition=models.Q(released_at__isnull=True), name="lab_port_one_open_use"
            )
        ]

    def __str__(self) -> str:
        return f"{self.port} ({self.service})"

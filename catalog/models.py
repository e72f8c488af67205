"""Workshops, their notebooks and files, sync runs, and work accepted from outside (outbox, pushes)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

from catalog.lab import lab_summary


class Level(models.TextChoices):
    """How much a learner should already know."""

    BEGINNER = "beginner", "Beginner"
    INTERMEDIATE = "intermediate", "Intermediate"
    ADVANCED = "advanced", "Advanced"


class Workshop(models.Model):
    """A workshop: one folder of the content repository, as last synced successfully."""

    slug = models.SlugField(max_length=120, unique=True)
    folder = models.CharField(max_length=255, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True, help_text="Markdown, as written by the authors.")
    description_html = models.TextField(blank=True, help_text="Sanitised HTML, made at sync time.")
    tags = models.JSONField(default=list, blank=True)
    products = models.JSONField(default=list, blank=True)
    kernels = models.JSONField(default=list, blank=True)
    authors = models.JSONField(default=list, blank=True)
    prerequisites = models.JSONField(default=list, blank=True)
    level = models.CharField(max_length=20, choices=Level.choices, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    image = models.CharField(max_length=255, blank=True, help_text="Path inside the folder or URL.")
    active = models.BooleanField(default=True, help_text="From the metadata: inactive is hidden.")
    featured = models.BooleanField(default=False)
    metadata_format = models.CharField(max_length=20, blank=True)  # workshop.yml, wod.yml, none
    extra = models.JSONField(default=dict, blank=True, help_text="Other metadata, e.g. from wod.yml")
    # What each learner gets for themselves (catalog.lab's LabSpec; {} for none): public, never a secret.
    lab = models.JSONField(default=dict, blank=True, help_text="Per-learner lab (services, credentials pool, values).")

    # Staff overrides from the admin; a sync never touches these.
    hidden = models.BooleanField(default=False, help_text="Hide from the public catalog.")
    pinned = models.BooleanField(default=False, help_text="Feature regardless of metadata.")
    rank = models.IntegerField(default=0, help_text="Higher comes first among featured.")

    commit_sha = models.CharField(max_length=64, blank=True)
    tree_sha = models.CharField(max_length=64, blank=True, help_text="Git tree of the folder.")
    parser_version = models.PositiveIntegerField(default=0)
    content_updated_at = models.DateTimeField(null=True, blank=True)
    search_text = models.TextField(blank=True)
    search_vector = SearchVectorField(null=True, blank=True)

    # What the published version could not honour (read with a default), and the template
    # names shown as placeholders (‹NAME›): the zip's README says what to fill in.
    warnings = models.JSONField(default=list, blank=True, help_text="Sync warnings of the published version.")
    template_placeholders = models.JSONField(default=list, blank=True, help_text="Template names shown as ‹NAME›.")

    # The last failure, kept beside the last good version that stays published.
    error = models.TextField(blank=True)
    error_tree_sha = models.CharField(max_length=64, blank=True)
    error_commit_sha = models.CharField(max_length=64, blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    published = models.BooleanField(default=False, help_text="A good version exists.")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        # The GIN index on search_vector is made by a PostgreSQL-only migration.
        indexes = [
            models.Index(fields=["published", "active", "hidden"], name="workshop_visible"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_featured(self) -> bool:
        """Tell whether the workshop is featured by metadata or by staff."""
        return self.featured or self.pinned

    @property
    def lab_summary(self) -> list[dict]:
        """Return what a learner's own lab holds, part by part, for the workshop page (catalog.lab)."""
        return lab_summary(self.lab or {})

    @property
    def kernels_unavailable(self) -> list[str]:
        """Return the kernels the workshop needs that the hub does not offer (settings.HUB_KERNELS)."""
        offered = set(settings.HUB_KERNELS)
        return [k for k in self.kernels or [] if k not in offered]


class Notebook(models.Model):
    """A notebook of a workshop, with its preview rendered at sync time."""

    workshop = models.ForeignKey(Workshop, related_name="notebooks", on_delete=models.CASCADE)
    path = models.CharField(max_length=255, help_text="Path inside the workshop folder.")
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    headings = models.JSONField(default=list, blank=True)  # [{"level", "text", "anchor"}]
    kernel = models.CharField(max_length=100, blank=True)
    preview_html = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["workshop", "position"]
        constraints = [
            models.UniqueConstraint(fields=["workshop", "path"], name="notebook_unique_path"),
        ]

    def __str__(self) -> str:
        return f"{self.workshop.slug}/{self.path}"

    @property
    def name(self) -> str:
        """Return the notebook's file name."""
        return self.path.rsplit("/", 1)[-1]


class WorkshopFile(models.Model):
    """A file of a workshop as of the published commit (notebooks, images, requirements)."""

    workshop = models.ForeignKey(Workshop, related_name="files", on_delete=models.CASCADE)
    path = models.CharField(max_length=255, help_text="Path inside the workshop folder.")
    content = models.BinaryField()
    size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["workshop", "path"]
        constraints = [
            models.UniqueConstraint(fields=["workshop", "path"], name="file_unique_path"),
        ]

    def __str__(self) -> str:
        return f"{self.workshop.slug}/{self.path}"


class SyncRun(models.Model):
    """One reading of the content repository, with its report."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        PARTIAL = "partial", "Some workshops failed"
        ERROR = "error", "Source unreadable"
        FAILED = "failed", "Stopped before it finished"

    source = models.CharField(max_length=500)
    branch = models.CharField(max_length=200)
    commit_sha = models.CharField(max_length=64, blank=True)
    previous_sha = models.CharField(max_length=64, blank=True)
    trigger = models.CharField(max_length=50, default="manual")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"sync {self.commit_sha[:10] or '?'} {self.status}"


class WebhookDelivery(models.Model):
    """A GitHub webhook delivery already handled, remembered so a redelivery does nothing twice."""

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50)
    action = models.CharField(max_length=50, blank=True, help_text="What the portal did with it.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class ValidationRun(models.Model):
    """The validation of workshops at one commit (a pull request's head, or a manual run)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCESS = "success", "Passed"
        FAILURE = "failure", "Failed"
        ERROR = "error", "Could not run"

    repository = models.CharField(max_length=200, help_text="owner/name on GitHub, or a git URL.")
    source = models.CharField(max_length=500, help_text="Where the commit is fetched from.")
    pull_number = models.PositiveIntegerField(null=True, blank=True)
    head_sha = models.CharField(max_length=64)
    base_ref = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=300, blank=True)
    folders = models.JSONField(default=list, blank=True, help_text="Workshops the PR touches.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    description = models.CharField(max_length=140, blank=True, help_text="The status line.")
    report = models.JSONField(default=dict, blank=True)
    status_posted = models.CharField(max_length=20, blank=True, help_text="Last state sent to GitHub.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["repository", "head_sha"], name="validation_head")]

    def __str__(self) -> str:
        return f"validation {self.head_sha[:10]} {self.state}"


class OutboxMessage(models.Model):
    """A task accepted from outside, written in the same transaction as what asked for it.

    Sent to Celery once that transaction commits, and again by the periodic relay until a send
    succeeds (sent_at set): work a webhook answered 202 for survives a Redis outage.
    """

    task = models.CharField(max_length=200, help_text="Celery task name.")
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Sends tried, failed ones included.")
    error = models.TextField(blank=True, help_text="Why the last send failed.")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(sent_at=None), name="outbox_unsent"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {'sent' if self.sent_at else 'unsent'}"


class SyncRequest(models.Model):
    """The newest commit pushed to a branch and not yet synced, and whether a sync waits for it.

    Pushes coalesce here: however many arrive, one sync waits (waiting_since) and reads the
    newest commit when it starts; the commit is cleared only once a sync of it succeeds, so a
    sync that dies leaves it for the next.
    """

    branch = models.CharField(max_length=200, unique=True)
    commit = models.CharField(max_length=64, blank=True, help_text="Newest pushed commit not yet synced.")
    pushed_at = models.DateTimeField(null=True, blank=True)
    pushes = models.PositiveIntegerField(default=0, help_text="Pushes recorded (coalesced ones included).")
    waiting_since = models.DateTimeField(null=True, blank=True, help_text="A queued sync has not started yet.")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a sync last read the commit.")

    def __str__(self) -> str:
        return f"{self.branch} @ {self.commit[:10] or '-'}"

"""Staff views of workshops and sync runs."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from catalog.models import Notebook, SyncRun, Workshop


class NotebookInline(admin.TabularInline):
    """The notebooks of a workshop, read-only (they come from the repository)."""

    model = Notebook
    fields = ("position", "path", "title", "kernel", "size")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        """Notebooks come from the repository, not from the admin."""
        return False


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    """Feature, hide and order workshops; see sync errors."""

    list_display = (
        "title", "slug", "status", "warning_count", "level", "featured", "pinned", "hidden", "rank",
        "content_updated_at",
    )  # fmt: skip
    list_editable = ("pinned", "hidden", "rank")
    list_filter = ("published", "active", "hidden", "pinned", "featured", "level", "metadata_format")
    search_fields = ("title", "slug", "folder", "summary")
    readonly_fields = (
        "slug", "folder", "title", "summary", "description", "tags", "products", "kernels", "authors",
        "prerequisites", "level", "duration_minutes", "image", "active", "featured", "metadata_format",
        "extra", "lab", "commit_sha", "tree_sha", "content_updated_at", "published", "sync_warnings",
        "template_placeholders", "error", "error_commit_sha", "error_at",
    )  # fmt: skip
    fieldsets = (
        ("Staff settings", {"fields": ("hidden", "pinned", "rank")}),
        ("Last sync problem", {"fields": ("error", "error_commit_sha", "error_at")}),
        ("Published with warnings", {"fields": ("sync_warnings", "template_placeholders")}),
        ("From the repository", {"fields": readonly_fields[:-5]}),
    )
    inlines = [NotebookInline]

    @admin.display(description="Warnings")
    def warning_count(self, obj: Workshop) -> int:
        """Count what the last sync published with a default."""
        return len(obj.warnings or [])

    @admin.display(description="Sync warnings")
    def sync_warnings(self, obj: Workshop) -> str:
        """List what the published version could not honour, one per line."""
        if not obj.warnings:
            return "none"
        items = format_html_join("\n", '<li class="sync-warning">{}</li>', ((w,) for w in obj.warnings))
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="Status")
    def status(self, obj: Workshop) -> str:
        """Summarise published / failing / inactive."""
        if obj.error:
            label = "failing (last good version published)" if obj.published else "failing, never published"
            return format_html('<span style="color:#b3261e" title="{}">{}</span>', obj.error, label)
        if not obj.active:
            return "inactive"
        return "hidden" if obj.hidden else "published"


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """What each sync did."""

    list_display = (
        "started_at",
        "trigger",
        "status",
        "short_commit",
        "added",
        "updated",
        "removed",
        "unchanged",
        "failed",
    )
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in SyncRun._meta.fields if f.name != "report"] + ["report_pretty"]
    exclude = ("report",)

    @admin.display(description="Commit")
    def short_commit(self, obj: SyncRun) -> str:
        """Show the commit's first characters."""
        return obj.commit_sha[:10]

    @admin.display(description="Report")
    def report_pretty(self, obj: SyncRun) -> str:
        """Show the report as indented JSON."""
        return format_html("<pre>{}</pre>", json.dumps(obj.report, indent=2))

    def has_add_permission(self, request) -> bool:
        """Runs are made by syncs only."""
        return False

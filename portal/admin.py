"""Admin for launches and culls (staff see who was stopped, why and when)."""

from django.contrib import admin

from portal.models import CullEvent, CullRun, Launch, ServerLife


@admin.register(Launch)
class LaunchAdmin(admin.ModelAdmin):
    """Read-mostly list of launches."""

    list_display = ("user", "title", "folder", "at")
    list_filter = ("folder",)
    search_fields = ("user__username", "folder", "title")
    date_hierarchy = "at"
    raw_id_fields = ("user", "workshop")


@admin.register(CullEvent)
class CullEventAdmin(admin.ModelAdmin):
    """Every server the culler stopped: who, which server, why, when, how it went."""

    list_display = ("decided_at", "user", "server", "reason", "outcome", "idle_seconds", "age_seconds")
    list_filter = ("reason", "outcome")
    search_fields = ("user",)
    date_hierarchy = "decided_at"
    readonly_fields = [f.name for f in CullEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CullRun)
class CullRunAdmin(admin.ModelAdmin):
    """Cull passes with what they saw and did."""

    list_display = ("started_at", "outcome", "running", "starting", "waiting", "culled", "admitted", "hub_requests")
    list_filter = ("outcome", "dry_run")
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in CullRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ServerLife)
class ServerLifeAdmin(admin.ModelAdmin):
    """Server lifetimes the culler observed (the waiting page's estimate comes from these)."""

    list_display = ("user", "server", "started", "last_seen", "ended")
    list_filter = (("ended", admin.EmptyFieldListFilter),)
    search_fields = ("user",)
    date_hierarchy = "started"
    readonly_fields = [f.name for f in ServerLife._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

"""Admin for launches (who pulled which workshop, when)."""

from django.contrib import admin

from portal.models import Launch


@admin.register(Launch)
class LaunchAdmin(admin.ModelAdmin):
    """Read-mostly list of launches."""

    list_display = ("user", "title", "folder", "at")
    list_filter = ("folder",)
    search_fields = ("user__username", "folder", "title")
    date_hierarchy = "at"
    raw_id_fields = ("user", "workshop")

"""Admin for launches, culls and labs (staff see who was stopped, why and when; who held which account).

Lab secrets are write-only here: a password is typed (or loaded by `manage.py lab_pool_load`),
stored encrypted, and never shown again, not even masked by length.
"""

import json

from django import forms
from django.contrib import admin
from django.views.decorators.debug import sensitive_variables

from portal.lab_crypto import secret_encrypt, secret_encrypt_json
from portal.models import (
    CredentialPool,
    CullEvent,
    CullRun,
    LabPort,
    LabSession,
    Launch,
    Lease,
    PoolAccount,
    ServerLife,
)

MASKED = "●●●●●●●● (set)"


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


# --- Labs ------------------------------------------------------------------------------------------
class PoolAccountForm(forms.ModelForm):
    """An account with write-only secrets: empty fields keep what is stored."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored password.",
    )
    extra = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 1, "cols": 30, "autocomplete": "off"}),
        help_text='Write-only JSON object, e.g. {"host_id": "7"}; empty keeps what is stored, {} clears it.',
    )

    class Meta:
        model = PoolAccount
        fields = ("label", "endpoint", "username", "password", "extra", "enabled")

    @sensitive_variables("value")
    def clean_extra(self) -> dict | None:
        value = self.cleaned_data["extra"].strip()
        if not value:
            return None
        try:
            data = json.loads(value)
        except ValueError:
            raise forms.ValidationError("Not JSON (the text is not repeated here: it may be secret).") from None
        if not isinstance(data, dict) or not all(isinstance(v, str | int | float | bool) for v in data.values()):
            raise forms.ValidationError("A JSON object of names to plain values.")
        return {str(k): str(v) for k, v in data.items()}

    @sensitive_variables("password")
    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.instance.password_encrypted and not cleaned.get("password") and not self.errors:
            self.add_error("password", "A new account needs a password.")
        return cleaned

    @sensitive_variables("password")
    def save(self, commit: bool = True) -> PoolAccount:
        account = super().save(commit=False)
        password = self.cleaned_data.get("password")
        if password:
            account.password_encrypted = secret_encrypt(password)
        if self.cleaned_data.get("extra") is not None:
            account.extra_encrypted = secret_encrypt_json(self.cleaned_data["extra"])
        if commit:
            account.save()
        return account


class PoolAccountInline(admin.TabularInline):
    model = PoolAccount
    form = PoolAccountForm
    extra = 0
    readonly_fields = ("secrets_stored", "leased_to")
    fields = ("label", "endpoint", "username", "password", "extra", "secrets_stored", "enabled", "leased_to")

    @admin.display(description="Stored secrets")
    def secrets_stored(self, account: PoolAccount) -> str:
        parts = [MASKED if account.password_encrypted else "no password"]
        if account.extra_encrypted:
            parts.append("extra fields (encrypted)")
        return ", ".join(parts)

    @admin.display(description="Leased to")
    def leased_to(self, account: PoolAccount) -> str:
        lease = account.leases.filter(released_at__isnull=True).select_related("session__user").first()
        return f"{lease.session.user} since {lease.leased_at:%Y-%m-%d %H:%M}" if lease else "—"


@admin.register(CredentialPool)
class CredentialPoolAdmin(admin.ModelAdmin):
    """Pools with their accounts (secrets write-only) and how many are in use."""

    list_display = ("name", "description", "accounts_count", "leased_count", "reset_command", "reset_timeout_s")
    search_fields = ("name", "description")
    inlines = [PoolAccountInline]

    @admin.display(description="Accounts (enabled)")
    def accounts_count(self, pool: CredentialPool) -> str:
        return f"{pool.accounts.count()} ({pool.accounts.filter(enabled=True).count()})"

    @admin.display(description="Leased now")
    def leased_count(self, pool: CredentialPool) -> int:
        return Lease.objects.filter(account__pool=pool, released_at__isnull=True).count()


class _ReadOnly(admin.ModelAdmin):
    """History: staff read it; only the lab services write it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class LeaseInline(admin.TabularInline):
    model = Lease
    extra = 0
    fields = ("account", "leased_at", "released_at", "reset_state", "reset_outcome")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LabPortInline(admin.TabularInline):
    model = LabPort
    extra = 0
    fields = ("port", "service", "allocated_at", "released_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LabSession)
class LabSessionAdmin(_ReadOnly):
    """Every learner's lab, active and ended: ports and leases (values stay encrypted, never shown)."""

    list_display = ("user", "workshop", "student_number", "status", "started_at", "ended_at", "end_reason")
    list_filter = ("status", ("ended_at", admin.EmptyFieldListFilter), "workshop")
    search_fields = ("user__username", "workshop")
    date_hierarchy = "started_at"
    exclude = ("values_encrypted",)
    readonly_fields = (
        "user",
        "workshop",
        "student_number",
        "status",
        "error",
        "services",
        "started_at",
        "ended_at",
        "end_reason",
    )
    inlines = [LeaseInline, LabPortInline]


@admin.register(Lease)
class LeaseAdmin(_ReadOnly):
    """Who held which account, when, and how its reset went."""

    list_display = ("account", "learner", "workshop", "leased_at", "released_at", "reset_state")
    list_filter = ("account__pool", "reset_state", ("released_at", admin.EmptyFieldListFilter))
    search_fields = ("account__label", "session__user__username", "session__workshop")
    date_hierarchy = "leased_at"
    list_select_related = ("account__pool", "session__user")
    readonly_fields = (
        "account",
        "session",
        "leased_at",
        "released_at",
        "reset_state",
        "reset_outcome",
        "reset_started_at",
        "reset_finished_at",
    )

    @admin.display(description="Learner", ordering="session__user__username")
    def learner(self, lease: Lease) -> str:
        return str(lease.session.user)

    @admin.display(description="Workshop", ordering="session__workshop")
    def workshop(self, lease: Lease) -> str:
        return lease.session.workshop


@admin.register(LabPort)
class LabPortAdmin(_ReadOnly):
    """Ports given to learners' services, with history."""

    list_display = ("port", "service", "session", "allocated_at", "released_at")
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    search_fields = ("=port", "session__user__username")
    list_select_related = ("session__user",)

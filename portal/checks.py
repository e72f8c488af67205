"""System checks for what a deployment must get right: the secret key, the hub connection, the lab key."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError

from hubconfig.contract import token_strong


@register(Tags.security)
def check_secret_key(app_configs, **kwargs) -> list:
    """Refuse the development secret key outside DEBUG."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Error("SECRET_KEY is the development key.", hint="Set SECRET_KEY in the environment.", id="portal.E001")
        ]
    return []


@register()
def check_state_folder(app_configs, **kwargs) -> list:
    """Say how to make the state folder when the SQLite database cannot be created in it."""
    database = settings.DATABASES["default"]
    if "sqlite" not in database["ENGINE"] or str(database["NAME"]) == ":memory:":
        return []
    folder = Path(database["NAME"]).parent
    if folder.is_dir():
        return []
    return [
        Error(
            f"The folder of the SQLite database, {folder}, does not exist (reading the settings creates nothing).",
            hint="Run `manage.py local_setup` (`make start` does), or set DATABASE_URL / PORTAL_VAR_DIR.",
            id="portal.E003",
        )
    ]


@register()
def check_hub_signin(app_configs, **kwargs) -> list:
    """Refuse the development sign-in outside DEBUG, and flag an unshared or hand-made service token."""
    problems = []
    if not settings.DEBUG and settings.HUB_DEV_SIGNIN:
        problems.append(
            Error(
                "No GitHub OAuth settings: sign-in would be the development one, which accepts anyone.",
                hint="Set GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and GITHUB_ALLOWED_ORGS (or _USERS / _ALLOW_ALL).",
                id="portal.E002",
            )
        )
    if not settings.DEBUG and not settings.HUB_SERVICE_TOKEN:
        problems.append(
            Warning(
                "PORTAL_SERVICE_TOKEN is not set: the portal and the hub share a token file, "
                "which works only when both see the same HUB_DATA_DIR.",
                hint="Set the same PORTAL_SERVICE_TOKEN for the hub and the portal.",
                id="portal.W001",
            )
        )
    # Only configured tokens can be hand-made: generated ones are 64 random hex characters.
    weak = [
        name
        for name, token in (
            ("PORTAL_SERVICE_TOKEN", settings.HUB_SERVICE_TOKEN),
            ("CULLER_SERVICE_TOKEN", settings.CULLER_SERVICE_TOKEN),
        )
        if token and not token_strong(token)
    ]
    if weak:
        problems.append(
            Warning(
                f"{' and '.join(weak)} look hand-made (under 32 characters or little variety): "
                "easier to guess, and the hub hashes them slowly on every request.",
                hint="Use `openssl rand -hex 32` for each.",
                id="portal.W002",
            )
        )
    return problems


@register(Tags.security)
def check_lab_keys(app_configs, **kwargs) -> list:
    """Refuse malformed lab encryption keys (no database needed: runs with every command)."""
    from portal.lab_crypto import LabKeyInvalid, LabKeyMissing, lab_fernet

    try:
        lab_fernet()
    except LabKeyInvalid as error:
        return [Error(str(error), hint="Make keys with Fernet.generate_key().", id="portal.E005")]
    except LabKeyMissing:
        pass  # fine until accounts are stored: check_lab_accounts_decryptable
    return []


@register(Tags.database)
def check_lab_accounts_decryptable(app_configs, databases=None, **kwargs) -> list:
    """Refuse stored pool accounts without a key that can decrypt them.

    A database check (Django runs those with `migrate`, and `check --database default`), so a
    command that needs no database never queries it.
    """
    from portal.lab_crypto import LabKeyInvalid, LabKeyMissing, lab_fernet
    from portal.models import PoolAccount

    if not databases:
        return []
    try:
        lab_fernet()
    except LabKeyInvalid:
        return []  # said by check_lab_keys
    except LabKeyMissing:
        try:
            accounts = PoolAccount.objects.exists()
        except DatabaseError:  # not migrated yet: nothing is stored
            return []
        if accounts:
            return [
                Error(
                    "Lab pool accounts are stored but no LAB_ENCRYPTION_KEYS key is set: they cannot be decrypted.",
                    hint="Set LAB_ENCRYPTION_KEYS (the key that encrypted them first), or run "
                    "`manage.py local_setup` on the embedded default.",
                    id="portal.E004",
                )
            ]
    return []

"""Lab secrets at rest: Fernet tokens under settings.LAB_ENCRYPTION_KEYS (MultiFernet: first encrypts).

Without configured keys the key is the one `manage.py local_setup` writes into VAR_DIR
(`lab_key_ensure`), as the hub's service tokens are: fine on one host, while a deployment sets
LAB_ENCRYPTION_KEYS. Values are only ever decrypted for the learner they belong to, the reset
command and the launch; nothing here logs.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class LabKeyMissing(RuntimeError):
    """No key is configured and `manage.py local_setup` has not written one."""


class LabKeyInvalid(RuntimeError):
    """A configured key is not a Fernet key, or no key decrypts a stored value."""


def lab_key_path() -> Path:
    """Return the file of the generated key (used only when LAB_ENCRYPTION_KEYS is unset)."""
    return Path(settings.VAR_DIR) / settings.LAB_ENCRYPTION_KEY_FILE


def lab_key_ensure() -> Path | None:
    """Make the generated key file (0600) unless keys are configured or it exists; return its path."""
    if settings.LAB_ENCRYPTION_KEYS:
        return None
    path = lab_key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two set-ups racing write one key, never two (a second would orphan the first's data).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode())
    return path


def lab_keys() -> list[str]:
    """Return the keys, first the one that encrypts; LabKeyMissing when there is none."""
    configured = [key.strip() for key in settings.LAB_ENCRYPTION_KEYS if key.strip()]
    if configured:
        return configured
    try:
        key = lab_key_path().read_text().strip()
    except FileNotFoundError:
        key = ""
    if not key:
        raise LabKeyMissing(
            "no lab encryption key: set LAB_ENCRYPTION_KEYS, or run `manage.py local_setup` (one host only)"
        )
    return [key]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):  # the message would quote no key, but say which one
        positions = [i + 1 for i, key in enumerate(keys) if not _is_key(key)]
        raise LabKeyInvalid(
            f"LAB_ENCRYPTION_KEYS: key(s) {positions} are not Fernet keys (32 url-safe base64-encoded bytes)"
        ) from None


def _is_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def lab_fernet() -> MultiFernet:
    """Return the MultiFernet of the current keys (LabKeyMissing, LabKeyInvalid)."""
    return _fernet(tuple(lab_keys()))


@sensitive_variables("text")
def secret_encrypt(text: str) -> str:
    """Return text encrypted with the first key, as an ASCII Fernet token."""
    return lab_fernet().encrypt(text.encode()).decode("ascii")


def secret_decrypt(token: str) -> str:
    """Return the text of a Fernet token ("" for ""); LabKeyInvalid when no key opens it."""
    if not token:
        return ""
    try:
        return lab_fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise LabKeyInvalid("no key in LAB_ENCRYPTION_KEYS decrypts a stored lab secret (a key was dropped?)") from None


@sensitive_variables("data")
def secret_encrypt_json(data: dict) -> str:
    """Return a JSON object encrypted ("" for an empty one)."""
    return secret_encrypt(json.dumps(data, sort_keys=True)) if data else ""


def secret_decrypt_json(token: str) -> dict:
    """Return the JSON object of a token made by secret_encrypt_json ({} for "")."""
    return json.loads(secret_decrypt(token)) if token else {}


def secret_rotate(token: str) -> str:
    """Return token re-encrypted with the first key (unchanged when empty)."""
    return lab_fernet().rotate(token.encode("ascii")).decode("ascii") if token else token

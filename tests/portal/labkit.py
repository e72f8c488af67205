"""What the lab tests share: a key, a loaded pool, a LabSpec like a Redfish workshop's."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from portal.lab_pools import lab_pool_load

# A LabSpec in the shared design's shape (catalog.models.Workshop.lab).
SPEC = {
    "services": [
        {
            "name": "redfish",
            "command": ["sushy-emulator", "-i", "127.0.0.1", "-p", "{port}"],
            "env": "REDFISH_URL",
            "url": "http://127.0.0.1:{port}",
            "web": False,
            "ready": "/redfish/v1/",
        },
        {"name": "console", "command": ["console", "--port={port}"], "env": "CONSOLE_URL", "web": True},
    ],
    "credentials": {
        "pool": "ilo-gen10",
        "env": {"ILO_URL": "endpoint", "ILO_USERNAME": "username", "ILO_PASSWORD": "password", "ILO_HOST": "host_id"},
    },
    "generate": {"PASSSTU": "password", "STDID": "student-number", "TOKEN": "token"},
}


def pool_password(number: int) -> str:
    """Return the password of account number of the test pool (recognisable in any output)."""
    return f"Pw-{number:03d}-s3cr3t-LEASED"


def pool_load(*, name: str = "ilo-gen10", accounts: int = 3, reset_command: list[str] | None = None):
    """Load a pool of accounts as the CSV loader does; return the pool."""
    from portal.models import CredentialPool

    rows = [
        {
            "label": f"ilo-{i}",
            "endpoint": f"https://10.0.0.{i}",
            "username": f"student{i}",
            "password": pool_password(i),
            "extra": {"host_id": f"H{i}"},
        }
        for i in range(1, accounts + 1)
    ]
    lab_pool_load(pool=name, rows=rows)
    pool = CredentialPool.objects.get(name=name)
    if reset_command is not None:
        pool.reset_command = reset_command
        pool.save()
    return pool


@pytest.fixture
def lab_key(settings) -> str:
    """Configure one fresh encryption key, as a deployment does."""
    key = Fernet.generate_key().decode()
    settings.LAB_ENCRYPTION_KEYS = [key]
    return key

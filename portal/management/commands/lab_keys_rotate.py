"""Re-encrypt every lab secret with the first of LAB_ENCRYPTION_KEYS: `manage.py lab_keys_rotate`.

Rotating a key: put the new key first in LAB_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this, then drop the old keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.lab_crypto import LabKeyInvalid, LabKeyMissing
from portal.lab_pools import lab_secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt pool passwords and learners' lab values with the first LAB_ENCRYPTION_KEYS key."

    def handle(self, *args, **options) -> None:
        try:
            count = lab_secrets_rotate()
        except (LabKeyMissing, LabKeyInvalid) as error:
            raise CommandError(f"nothing re-encrypted: {error}") from None
        self.stdout.write(f"{count} record(s) re-encrypted with the first key")

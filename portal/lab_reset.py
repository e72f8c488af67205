"""Reset a pool account after its lease ends: run the pool's reset command, record how it went.

The command is an argv list (no shell), run with a bounded time (the pool's reset_timeout_s,
then its whole process group is killed) and a small environment: PATH, HOME, LANG and the
account as LAB_ENDPOINT, LAB_USERNAME, LAB_PASSWORD (LAB_POOL, LAB_LABEL, LAB_EXTRA as JSON),
never the portal's own secrets. Its output goes to a temporary file, of which only the last
LAB_RESET_OUTPUT_BYTES are kept on the lease, with the account's secrets masked. A failed reset
disables the account: the next learner must not get the last one's state.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import tempfile
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from portal.lab_crypto import secret_decrypt, secret_decrypt_json
from portal.models import Lease

log = logging.getLogger(__name__)

MASK = "********"
# Variables of the portal's own environment a reset command gets (nothing else: no token, no key).
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
# A claimed reset whose worker vanished is claimed again after its timeout and this margin.
CLAIM_MARGIN = timedelta(seconds=30)


def _claim(*, lease_id: int, now: datetime) -> Lease | None:
    """Mark the lease's reset as started, unless it is done or running elsewhere; return it."""
    with transaction.atomic():
        lease = Lease.objects.select_for_update().select_related("account__pool").filter(pk=lease_id).first()
        if lease is None or lease.reset_state != Lease.Reset.PENDING:
            return None
        timeout = timedelta(seconds=lease.account.pool.reset_timeout_s)
        if lease.reset_started_at and lease.reset_started_at > now - timeout - CLAIM_MARGIN:
            return None  # another worker runs it now
        lease.reset_started_at = now
        lease.save(update_fields=["reset_started_at"])
        return lease


@sensitive_variables("secrets", "text")
def output_masked(text: str, secrets: list[str]) -> str:
    """Return text with every non-empty secret replaced by a mask (longest first, so none leaks in part)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _tail(handle, limit: int) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - limit))
    text = handle.read().decode("utf-8", "replace")
    return ("…" if size > limit else "") + text


@sensitive_variables("password", "extra", "env", "output")
def lease_reset(*, lease_id: int, now: datetime) -> str:
    """Run the reset of a released lease once; return its reset state ("" when there was nothing to do)."""
    lease = _claim(lease_id=lease_id, now=now)
    if lease is None:
        return ""
    account, pool = lease.account, lease.account.pool
    password = secret_decrypt(account.password_encrypted)
    extra = secret_decrypt_json(account.extra_encrypted)
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env |= {
        "LAB_POOL": pool.name,
        "LAB_LABEL": account.label,
        "LAB_ENDPOINT": account.endpoint,
        "LAB_USERNAME": account.username,
        "LAB_PASSWORD": password,
        "LAB_EXTRA": json.dumps(extra),
    }
    limit = settings.LAB_RESET_OUTPUT_BYTES
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                [str(part) for part in pool.reset_command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a timeout kills what it started too
            )
        except OSError as error:
            status, ok = f"could not run the reset command: {error.strerror or error}", False
        else:
            try:
                code = proc.wait(timeout=pool.reset_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status, ok = f"timed out after {pool.reset_timeout_s} s (killed)", False
            else:
                status, ok = f"exit status {code}", code == 0
        output = _tail(out, limit)
    secrets = [password, *(str(value) for value in extra.values())]
    outcome = status + ("\n" + output_masked(output, secrets) if output else "")
    lease.reset_state = Lease.Reset.OK if ok else Lease.Reset.FAILED
    lease.reset_outcome = outcome
    lease.reset_finished_at = now
    with transaction.atomic():
        lease.save(update_fields=["reset_state", "reset_outcome", "reset_finished_at"])
        if not ok:
            account.enabled = False
            account.save(update_fields=["enabled", "updated_at"])
    if ok:
        log.info("lab pool %s account %s reset", pool.name, account.label)
    else:  # the status only: the output may hold what the command printed of the account
        log.warning(
            "lab pool %s account %s: reset failed (%s); the account is disabled", pool.name, account.label, status
        )
    return lease.reset_state

"""How a learner's lab services started, as their server reports it, recorded on their LabSession.

The learner's server starts the services itself (hubconfig/labext.py) and POSTs their states to
the portal's `/lab/report` with the server's own hub token, which the hub identifies (GET
/hub/api/user): a server reports for its own learner only, and the portal never sends a token of
its own to a learner's server (a learner could read it there). "My server" shows the outcome, the
admin keeps it for staff. No secret is read or written here: a report carries names, ports,
states and reasons only, each bounded.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model

from portal.lab import lab_session_status_set
from portal.models import LabSession

log = logging.getLogger(__name__)

REPORT_MAX_BYTES = 16 * 1024  # a report of five services is a few hundred bytes
REPORT_MAX_SERVICES = 20
REASON_MAX_CHARS = 300


class ReportInvalid(ValueError):
    """A report that is not a list of services' states."""


def report_services(body: object) -> list[dict]:
    """Return the services of a report ({"services": [{"name", "state", "reason", ...}]}), each
    reduced to printable, bounded name, state and reason; ReportInvalid otherwise."""
    services = body.get("services") if isinstance(body, dict) else None
    if not isinstance(services, list) or len(services) > REPORT_MAX_SERVICES:
        raise ReportInvalid("a report is {'services': [...]}")
    clean = []
    for item in services:
        if not isinstance(item, dict) or item.get("state") not in ("starting", "ready", "failed"):
            raise ReportInvalid("each service has a state: starting, ready or failed")
        clean.append(
            {
                "name": _printable(item.get("name"), 40),
                "state": item["state"],
                "reason": _printable(item.get("reason"), REASON_MAX_CHARS),
            }
        )
    return clean


def _printable(value: object, limit: int) -> str:
    """Return value as one line of printable text (a learner's server wrote it), at most limit chars."""
    text = value if isinstance(value, str) else ""
    return "".join(ch if ch.isprintable() else " " for ch in text)[:limit]


def lab_outcome(services: list[dict]) -> tuple[str, str]:
    """Return (status, error) for a session from its services' states (pure): "failed" with each
    failed service's reason, "ready" when all are ready, else "starting"."""
    failed = [f"{s.get('name', '?')}: {s.get('reason') or 'failed'}" for s in services if s.get("state") == "failed"]
    if failed:
        return LabSession.Status.FAILED, "; ".join(failed)
    if services and all(s.get("state") == "ready" for s in services):
        return LabSession.Status.READY, ""
    return LabSession.Status.STARTING, ""


def lab_report(*, name: str, services: list[dict]) -> str:
    """Record the reported states on name's active lab session; return its status ("gone" when
    the learner has none)."""
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: name}).first()
    session = LabSession.objects.filter(user=user, ended_at__isnull=True).first() if user else None
    if session is None:
        return "gone"
    status, error = lab_outcome(services)
    if status == LabSession.Status.FAILED:
        log.warning("lab of %s (%s): %s", name, session.workshop, error.replace("\n", " "))
    lab_session_status_set(session_id=session.pk, status=status, error=error)
    return status

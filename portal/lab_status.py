"""After a launch: ask the learner's server how their lab's services started, and record it.

The learner's server starts the services itself (hubconfig/labext.py) and reports them at
`portal-lab/status`; the portal reads that with the culler's token (the one portal token with
access:servers) and records the outcome on the LabSession: "My server" shows it to the learner,
and the admin keeps it for staff. No secret is read or written here (the status carries names,
ports, states and reasons only).
"""

from __future__ import annotations

import logging

from django.conf import settings

from portal.hub import HubError, hub_client_build, service_token
from portal.lab import lab_session_status_set
from portal.models import LabSession

log = logging.getLogger(__name__)

# The check is repeated every CHECK_EVERY seconds, CHECK_TIMES times at most (labext gives each
# service 30 s to be ready), by a task that queues itself again: no worker waits meanwhile.
CHECK_EVERY = 3
CHECK_TIMES = 30


def lab_outcome(services: list[dict]) -> tuple[str, str]:
    """Return (status, error) for a session from its services' states (pure): "failed" with each
    failed service's reason, "ready" when all are ready, else "starting"."""
    failed = [f"{s.get('name', '?')}: {s.get('reason') or 'failed'}" for s in services if s.get("state") == "failed"]
    if failed:
        return LabSession.Status.FAILED, "; ".join(failed)
    if services and all(s.get("state") == "ready" for s in services):
        return LabSession.Status.READY, ""
    return LabSession.Status.STARTING, ""


def lab_status_check(*, session_id: int, last: bool) -> str:
    """Ask the learner's server once how its lab started; record a final outcome (ready, failed;
    on the last try "starting" becomes failed) and return the status ("gone" when the session
    ended meanwhile, "starting" when the caller should ask again)."""
    session = LabSession.objects.select_related("user").filter(pk=session_id, ended_at__isnull=True).first()
    if session is None:
        return "gone"
    if not session.services:
        lab_session_status_set(session_id=session_id, status=LabSession.Status.READY)
        return LabSession.Status.READY
    name = session.user.get_username()
    token = service_token(configured=settings.CULLER_SERVICE_TOKEN, path=settings.CULLER_SERVICE_TOKEN_FILE)
    with hub_client_build(token=token, timeout=settings.CULL_TIMEOUT, public_url=settings.HUB_URL) as hub:
        try:
            status, error = lab_outcome(hub.lab_status(name=name))
        except HubError as failure:  # the server is not up yet (503 from the proxy), or gone
            status, error = LabSession.Status.STARTING, str(failure)
    if status == LabSession.Status.STARTING:
        if not last:
            return status
        status = LabSession.Status.FAILED
        error = f"the lab did not report ready within {CHECK_EVERY * CHECK_TIMES} s ({error or 'still starting'})"
    if status == LabSession.Status.FAILED:
        log.warning("lab of %s (%s): %s", name, session.workshop, error)
    lab_session_status_set(session_id=session_id, status=status, error=error)
    return status

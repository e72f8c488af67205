"""The per-learner lab's hand-off from the portal to the hub (pure: no Django, no I/O).

At Launch the portal grants the learner a lab (portal.lab: ports, a leased account, generated
values) and passes it to the hub as the server's `user_options` (`{"lab": <sealed>}`); the hub's
pre-spawn hook opens it into the server's environment, which `hubconfig/labext.py` reads in the
learner's server. Sealed, not plain: the hub keeps user_options in its database and its REST API
shows them to admins, and the grant holds credentials. The seal is Fernet (AES-128-CBC with
HMAC-SHA256, from `cryptography`) under a key derived with HKDF-SHA256 from the portal's hub
service token, which both processes already share (no new secret to configure), and it expires
after HANDOFF_TTL seconds, so user_options replayed later (a server restarted from the hub's own
page) start the server without a lab whose lease was released since.

Grant shape (what `lab_handoff_seal` takes and `lab_handoff_open` returns):
``{"user": name, "session": id, "env": {NAME: str}, "services": [{"name", "command", "port",
"url", "web", "ready"}], "values": {NAME: str}, "dir": "<folder of the workshop in the learner's
home>", "report_url": "<the portal's /lab/report>"}``. A grant opens for its own user only, and
once (the hub's hook remembers the sessions it opened, and removes the grant from the stored
user_options): JupyterHub reuses a server's last user_options when a start gives none, which
would otherwise hand a released lease to a restarted server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hubconfig.labnames import env_name_reserved

LAB_OPTION = "lab"  # the user_options key
HANDOFF_TTL = 600  # seconds a sealed grant opens after the Launch (the hub's start_timeout is 120)
# Environment variables the learner's server reads (hubconfig/labext.py).
ENV_SERVICES, ENV_VALUES, ENV_DIR = "PORTAL_LAB_SERVICES", "PORTAL_LAB_VALUES", "PORTAL_LAB_DIR"
ENV_REPORT, ENV_FILL = "PORTAL_LAB_REPORT_URL", "PORTAL_LAB_FILL"
LAB_ENV_NAMES = (ENV_SERVICES, ENV_VALUES, ENV_DIR, ENV_REPORT, ENV_FILL)
_MAX_SEALED = 64 * 1024  # bytes: a grant is a few hundred; anything bigger is not ours


class LabHandoffInvalid(ValueError):
    """A sealed grant that cannot be opened: forged, for another portal, expired or malformed."""


def _fernet(service_token: str) -> Fernet:
    if not service_token:
        raise LabHandoffInvalid("no service token to derive the hand-off key from")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal-lab-handoff v1").derive(
        service_token.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def lab_handoff_seal(*, grant: Mapping[str, Any], service_token: str) -> str:
    """Return grant (the shape above) sealed for the hub, as text for user_options."""
    return _fernet(service_token).encrypt(json.dumps(grant, separators=(",", ":")).encode()).decode()


def lab_handoff_open(*, sealed: str, service_token: str, user: str, ttl: int = HANDOFF_TTL) -> dict[str, Any]:
    """Open a sealed grant for user; raise LabHandoffInvalid (never the grant's content in the
    message) if it is forged, expired, malformed or another user's."""
    if not isinstance(sealed, str) or len(sealed) > _MAX_SEALED:
        raise LabHandoffInvalid("not a sealed lab grant")
    try:
        grant = json.loads(_fernet(service_token).decrypt(sealed.encode(), ttl=ttl))
    except InvalidToken:
        raise LabHandoffInvalid("the lab grant is forged, for another portal, or older than its TTL") from None
    if not isinstance(grant, dict):
        raise LabHandoffInvalid("the lab grant is not a mapping")
    if grant.get("user") != user:
        raise LabHandoffInvalid("the lab grant is another user's")
    return grant


def lab_environment(grant: Mapping[str, Any]) -> dict[str, str]:
    """Return the learner server's environment for an opened grant: the grant's own variables
    (REDFISH_URL, ILO_PASSWORD, STDID...) and the PORTAL_LAB_* ones hubconfig/labext.py reads.

    Variables that would change how the server runs (`hubconfig.labnames`: PATH, PYTHON*, LD_*,
    JUPYTER*, ..., the rule the catalog refuses them by) are not taken from a grant, whatever the
    portal sent.
    """
    env = {
        str(k): str(v)
        for k, v in dict(grant.get("env") or {}).items()
        if str(k).isidentifier() and not env_name_reserved(str(k)) and str(k) not in LAB_ENV_NAMES
    }
    env[ENV_SERVICES] = json.dumps(list(grant.get("services") or []))
    env[ENV_VALUES] = json.dumps(dict(grant.get("values") or {}))
    env[ENV_DIR] = str(grant.get("dir") or "")
    env[ENV_FILL] = "1" if grant.get("fill", True) else "0"
    report = str(grant.get("report_url") or "")
    if report.startswith(("http://", "https://")):
        env[ENV_REPORT] = report
    return env


class OpenedOnce:
    """The grant sessions a hub process has opened, each remembered for HANDOFF_TTL seconds
    (after which its grant no longer opens anyway): a second start with the same grant gets no lab."""

    def __init__(self) -> None:
        self._opened: dict[str, float] = {}

    def first(self, session: object, *, now: float) -> bool:
        """Record session as opened at now (monotonic seconds); tell whether it was the first time."""
        self._opened = {k: t for k, t in self._opened.items() if now - t < HANDOFF_TTL}
        key = str(session)
        if key in self._opened:
            return False
        self._opened[key] = now
        return True

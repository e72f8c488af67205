"""The lab's hand-off to the hub: sealed, for its own learner only, once, for a while."""

from __future__ import annotations

import base64

import pytest

from hubconfig.labhandoff import (
    HANDOFF_TTL,
    LabHandoffInvalid,
    OpenedOnce,
    lab_environment,
    lab_handoff_open,
    lab_handoff_seal,
)

TOKEN = "f" * 64
GRANT = {
    "user": "ada",
    "session": 7,
    "env": {"REDFISH_URL": "http://127.0.0.1:20001", "PATH": "/evil", "LD_PRELOAD": "/evil.so"},
    "services": [],
    "values": {"STDID": "7"},
    "dir": "workshops/redfish-101",
    "report_url": "http://127.0.0.1:8000/lab/report",
}


def test_a_grant_opens_for_its_own_learner_with_the_portals_key_only() -> None:
    sealed = lab_handoff_seal(grant=GRANT, service_token=TOKEN)
    # What the hub's API shows is opaque (checked on the bytes: base64 text spells "ada" now and then).
    opaque = base64.urlsafe_b64decode(sealed)
    assert b"20001" not in opaque and b"ada" not in opaque and b"REDFISH" not in opaque
    assert lab_handoff_open(sealed=sealed, service_token=TOKEN, user="ada")["session"] == 7
    with pytest.raises(LabHandoffInvalid, match="another user's"):
        lab_handoff_open(sealed=sealed, service_token=TOKEN, user="bob")
    with pytest.raises(LabHandoffInvalid):
        lab_handoff_open(sealed=sealed, service_token="e" * 64, user="ada")  # another portal's
    with pytest.raises(LabHandoffInvalid):
        lab_handoff_open(sealed=sealed[:-4] + "AAAA", service_token=TOKEN, user="ada")  # tampered


def test_a_grant_opens_once_and_never_sets_what_the_server_runs_by() -> None:
    opened = OpenedOnce()
    assert opened.first(7, now=100.0) and not opened.first(7, now=101.0)
    assert opened.first(8, now=101.0)
    assert opened.first(7, now=100.0 + HANDOFF_TTL + 1)  # forgotten once the grant itself expired
    env = lab_environment(GRANT)
    assert env["REDFISH_URL"] == "http://127.0.0.1:20001" and "PATH" not in env and "LD_PRELOAD" not in env
    assert env["PORTAL_LAB_REPORT_URL"] == "http://127.0.0.1:8000/lab/report"
    assert "PORTAL_LAB_REPORT_URL" not in lab_environment({**GRANT, "report_url": "file:///etc/passwd"})


@pytest.mark.parametrize(
    ("name", "reserved"),
    [
        ("USERNAME", False),  # a workshop's own variable, once dropped by the hub's "USER" prefix
        ("HOMEPAGE_URL", False),
        ("PATHFINDER_TOKEN", False),
        ("REDFISH_URL", False),
        ("user", True),
        ("PYTHONSTARTUP", True),
        ("Ld_Preload", True),
        ("GIT_SSH_COMMAND", True),
        ("JUPYTERHUB_API_TOKEN", True),
        ("all_proxy", True),
        ("PORTAL_SECRET", True),
    ],
)
def test_the_catalog_refuses_exactly_the_variables_the_hub_drops(name: str, reserved: bool) -> None:
    from catalog.metadata import metadata_parse

    info = metadata_parse(filename="workshop.yml", text=f"title: T\nlab:\n  generate: {{{name}: token}}\n")
    refused = any(notice.kind == "lab" for notice in info.warnings)
    env = lab_environment({**GRANT, "env": {name: "x"}})
    assert refused is reserved
    assert (name not in env) is reserved

"""End to end on a real hub: a learner's own lab (a service on their own port, generated values
filled into their notebook), and Stop giving it all back."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest
import yaml

from hubconfig.processes import descendants
from tests.contentrepo import notebook_bytes
from tests.hub.conftest import wait_ready

pytestmark = [pytest.mark.hub, pytest.mark.django_db(transaction=True)]

LAB = "lab-101"
SPEC = {
    "title": "Lab 101",
    "summary": "A workshop with a lab of its own per learner.",
    "templates": True,  # its notebooks are templates: the learner's copy is filled with their values
    "lab": {
        "services": [
            {
                "name": "practice",
                "title": "a practice API",
                "command": ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
                "env": "PRACTICE_URL",
                "ready": "/",
            }
        ],
        "generate": {"STDID": "student-number", "PASSSTU": "password"},
    },
}


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_status(session, status: str, timeout: float = 60) -> None:
    """Wait until the learner's server has reported status for their lab session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.refresh_from_db()
        if session.status == status:
            return
        time.sleep(0.3)
    raise AssertionError(f"the lab is {session.status} ({session.error}), not {status}")


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


@pytest.fixture
def lab_workshop(hub, hub_content, settings):
    """Publish a workshop with a lab: section in the hub's content repository."""
    from cryptography.fernet import Fernet

    from catalog.models import Workshop
    from catalog.sync import catalog_sync

    settings.LAB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    hub_content.write(
        f"{LAB}/0-Start.ipynb",
        notebook_bytes("Your lab", "Student {{ STDID }}, your password is {{ PASSSTU }}.", code="import os"),
    )
    hub_content.write(f"{LAB}/workshop.yml", yaml.safe_dump(SPEC))
    hub_content.commit("Add a lab workshop")
    run = catalog_sync(source=hub_content.url, branch=hub_content.branch)
    assert run.status in ("ok", "partial"), json.dumps(run.report, default=str)[:2000]
    workshop = Workshop.objects.get(folder=LAB)
    assert workshop.lab["services"][0]["env"] == "PRACTICE_URL"
    return workshop


def test_a_learner_gets_their_own_lab_filled_in_and_stop_gives_it_all_back(hub, lab_workshop, person):
    from portal.lab import lab_credentials_read
    from portal.models import LabPort, LabSession, Lease

    person.sign_in()
    launch_url = person.launch(LAB)
    assert "portal-lab%2Ffill" in launch_url  # the pull goes through the fill of the learner's copy
    fill_url = person.pull(launch_url, "octocat")
    lab = person.http.get(fill_url)
    assert lab.status_code == 200 and str(lab.url).endswith(f"/lab/tree/workshops/{LAB}/0-Start.ipynb?reset")

    session = LabSession.objects.get(user__username="octocat", ended_at__isnull=True)
    values = lab_credentials_read(user=session.user)
    port = session.services[0]["port"]
    # Their copy of the notebook is filled with their own values; the catalog's is not.
    mine = (hub.home("octocat") / "workshops" / LAB / "0-Start.ipynb").read_text()
    assert f"Student {values['STDID']}, your password is {values['PASSSTU']}." in mine and "{{" not in mine

    # Their service runs on their own port, started by their server, and says so.
    status: list[dict] = []
    deadline = time.monotonic() + 60
    with httpx.Client(headers={"Authorization": f"token {hub.culler_token}"}, timeout=10) as culler:
        while time.monotonic() < deadline:
            answer = culler.get(f"{hub.url}/user/octocat/portal-lab/status")
            status = answer.json()["services"] if answer.status_code == 200 else []
            if status and status[0]["state"] != "starting":
                break
            time.sleep(0.5)
    assert status == [{"name": "practice", "port": port, "state": "ready", "reason": ""}] or (
        status and status[0]["state"] == "ready" and status[0]["port"] == port
    ), status
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200

    # The values reach the server's environment (its kernels inherit it) ...
    with hub.api() as api:
        model = api.get("/users/octocat").json()
    pid = int(model["servers"][""]["state"]["pid"])
    # A forked server's own /proc environ is the fork server's; its children (kernels, the lab's
    # services) are exec'd with the server's environment: read the service's.
    service = next(d for d in descendants(pid) if b"http.server" in Path(f"/proc/{d}/cmdline").read_bytes())
    environ = _environ(service)
    assert environ["PRACTICE_URL"] == f"http://127.0.0.1:{port}" and environ["PASSSTU"] == values["PASSSTU"]
    # ... but the hub's API (its admins' view, user_options included) shows none of them, nor the
    # sealed grant (removed from the stored options once opened; the workshop stays).
    assert values["PASSSTU"] not in json.dumps(model)
    assert model["servers"][""]["user_options"] == {"workshop": LAB}

    # The server reported it to the portal (with its own token); "My server" lists the lab,
    # without the password.
    _wait_status(session, LabSession.Status.READY)
    page = person.http.get(f"{hub.portal_url}/me/server").text
    assert 'id="lab-state"' in page and "Ready" in page
    assert "PRACTICE_URL" in page and f"http://127.0.0.1:{port}" in page and values["PASSSTU"] not in page

    # Stop gives everything back: the service's process, its port, the session.
    assert person.post("/me/server/stop").status_code == 302
    hub.wait_stopped("octocat")
    # A start that gives no options (the hub's own Start button) reuses the stored ones: the
    # grant was removed from them once read, so the released lab does not come back.
    with hub.api() as api:
        assert api.post("/users/octocat/server").status_code in (201, 202)
    wait_ready(hub, "octocat")
    with httpx.Client(headers={"Authorization": f"token {hub.culler_token}"}, timeout=10) as culler:
        assert culler.get(f"{hub.url}/user/octocat/portal-lab/status").json()["services"] == []
    hub.stop_server("octocat")
    deadline = time.monotonic() + 15
    while _listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _listening(port)
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "stopped"
    assert not LabPort.objects.filter(session=session, released_at__isnull=True).exists()
    assert not Lease.objects.filter(session=session, released_at__isnull=True).exists()


def test_a_lab_service_that_fails_is_explained_on_my_server_and_the_server_still_opens(
    hub, hub_content, person, settings
):
    from cryptography.fernet import Fernet

    from catalog.sync import catalog_sync
    from portal.models import LabSession

    settings.LAB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    spec = {**SPEC, "title": "Broken lab", "lab": {"services": [
        {"name": "broken", "command": ["python3", "-c", "import sys; sys.exit(3)"], "env": "BROKEN_URL"}
    ]}}  # fmt: skip
    hub_content.write("broken-lab/0-Start.ipynb", notebook_bytes("Broken", "A lab that does not start."))
    hub_content.write("broken-lab/workshop.yml", yaml.safe_dump(spec))
    hub_content.commit("Add a broken lab")
    assert catalog_sync(source=hub_content.url, branch=hub_content.branch).status in ("ok", "partial")

    person.sign_in()
    lab = person.http.get(person.pull(person.launch("broken-lab"), "octocat"))
    assert lab.status_code == 200 and "jupyter-config-data" in lab.text  # the server opens anyway
    session = LabSession.objects.get(user__username="octocat", ended_at__isnull=True)
    _wait_status(session, LabSession.Status.FAILED)
    assert session.error.startswith("broken: ") and "3" in session.error  # staff's record: why
    page = person.http.get(f"{hub.portal_url}/me/server").text
    assert 'id="lab-error"' in page and "broken: " in page
    assert person.post("/me/server/stop").status_code == 302
    hub.wait_stopped("octocat")


def test_a_lab_report_counts_only_from_the_learners_own_server(hub, lab_workshop, person):
    """The report endpoint believes the hub about whose token it is: a learner's own token
    reports for them, anything else is refused; the portal never sends a token to a server."""
    from portal.models import LabSession

    person.sign_in()
    person.http.get(person.pull(person.launch(LAB), "octocat"))
    session = LabSession.objects.get(user__username="octocat", ended_at__isnull=True)
    _wait_status(session, LabSession.Status.READY)
    with hub.api() as api:
        token = api.post("/users/octocat/tokens", json={"note": "report test", "expires_in": 600}).json()["token"]
    report = {"services": [{"name": "practice", "state": "failed", "reason": "a test\nforged line"}]}
    url = f"{hub.portal_url}/lab/report"
    assert httpx.post(url, json=report, timeout=10).status_code == 401
    assert httpx.post(url, json=report, headers={"Authorization": "token forged"}, timeout=10).status_code == 401
    big = {"services": [{"name": "x", "state": "ready", "reason": "y" * 20_000}]}
    assert httpx.post(url, json=big, headers={"Authorization": f"token {token}"}, timeout=10).status_code == 400
    assert httpx.post(url, json={"x": 1}, headers={"Authorization": f"token {token}"}, timeout=10).status_code == 400
    answer = httpx.post(url, json=report, headers={"Authorization": f"token {token}"}, timeout=10)
    assert answer.status_code == 204
    session.refresh_from_db()
    assert session.status == LabSession.Status.FAILED and session.error == "practice: a test forged line"
    hub.stop_server("octocat")

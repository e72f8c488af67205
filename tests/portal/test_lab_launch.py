"""Launch with a lab through the portal's views: a full pool is a waiting-list place, not an
error; the lab's status check says what learners and staff see."""

from __future__ import annotations

import time
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

from portal.lab_status import lab_outcome
from portal.models import LabSession
from tests.portal.conftest import FrozenHub
from tests.portal.labkit import SPEC, pool_load

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab_workshop(db):
    from catalog.models import Notebook, Workshop

    w = Workshop.objects.create(slug="redfish", folder="redfish", title="Redfish", published=True, lab=SPEC)
    Notebook.objects.create(workshop=w, path="0-Start.ipynb", position=0, title="Start")
    return w


def _learner(name: str) -> Client:
    client = Client()
    client.force_login(User.objects.create(username=name))
    return client


def test_a_full_pool_gives_a_place_in_the_waiting_list_and_a_free_account_a_launch(
    settings, lab_key, lab_workshop, frozen_hub: FrozenHub
):
    settings.ADMISSION_PREFIX = f"test-labpool-{uuid.uuid4().hex[:8]}:"
    frozen_hub.thaw()  # a hub that answers: nobody has a server, starts are accepted
    pool_load(accounts=1)
    first, second = _learner("ada"), _learner("bob")
    launched = first.post("/workshops/redfish/launch")
    assert launched.status_code == 302 and "portal-lab%2Ffill" in launched["Location"]
    session = LabSession.objects.get(user__username="ada", ended_at__isnull=True)
    assert session.leases.filter(released_at__isnull=True).count() == 1
    assert session.status == LabSession.Status.STARTING  # its services report when they are up
    waiting = second.post("/workshops/redfish/launch")
    assert waiting.status_code == 302 and waiting["Location"] == "/workshops/redfish/wait"
    assert not LabSession.objects.filter(user__username="bob").exists()  # nothing half-granted
    assert second.get("/workshops/redfish/wait").status_code == 200

    # The host has room, but the pool none: bob keeps his place until ada's account comes back.
    time.sleep(1.1)  # one admission check a second
    assert second.get("/queue/status").json()["status"] == "wait"
    from portal.lab import lab_release

    lab_release(user=User.objects.get(username="ada"), reason="stopped")
    time.sleep(1.1)
    assert second.get("/queue/status").json()["status"] == "go"
    relaunched = second.post("/workshops/redfish/launch")  # what the waiting page does on "go"
    assert relaunched.status_code == 302 and "git-pull" in relaunched["Location"]
    assert LabSession.objects.get(user__username="bob", ended_at__isnull=True).leases.count() == 1


def test_the_status_check_reads_what_learners_and_staff_see() -> None:
    ready = [{"name": "redfish", "state": "ready"}, {"name": "console", "state": "ready"}]
    assert lab_outcome(ready) == (LabSession.Status.READY, "")
    assert lab_outcome([{"name": "redfish", "state": "starting"}])[0] == LabSession.Status.STARTING
    assert lab_outcome([]) == (LabSession.Status.STARTING, "")
    status, error = lab_outcome(
        [
            {"name": "redfish", "state": "failed", "reason": "port 20001 is in use"},
            {"name": "console", "state": "ready"},
        ]
    )
    assert status == LabSession.Status.FAILED and error == "redfish: port 20001 is in use"


def test_a_lab_without_services_is_ready_as_granted(settings, lab_key, frozen_hub: FrozenHub):
    """An account and generated values only (every wod.yml workshop gets a student number): nothing
    for the server to start, so "My server" says ready rather than "starting" for ever."""
    from catalog.models import Notebook, Workshop

    settings.ADMISSION_PREFIX = f"test-labnosvc-{uuid.uuid4().hex[:8]}:"
    frozen_hub.thaw()
    spec = {"services": [], "credentials": {"pool": "", "env": {}}, "generate": {"STDID": "student-number"}}
    w = Workshop.objects.create(slug="wod", folder="wod", title="WoD", published=True, lab=spec)
    Notebook.objects.create(workshop=w, path="0-Start.ipynb", position=0, title="Start")
    assert _learner("ada").post("/workshops/wod/launch").status_code == 302
    assert LabSession.objects.get(user__username="ada", ended_at__isnull=True).status == LabSession.Status.READY


def _hub_lists(frozen_hub: FrozenHub, name: str) -> None:
    deadline = time.monotonic() + 5
    while name not in frozen_hub.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert name in frozen_hub.started


def test_a_start_the_hub_answers_late_keeps_its_lab(settings, lab_key, lab_workshop, frozen_hub: FrozenHub):
    """The hub may be starting the server with the grant it was sent when it answers late: the
    lease stays with the learner (released, another learner could get the same account while the
    server runs with it); the page's next launch grants nothing new while the hub may still list
    the server, and finds it with the same lab once it does."""
    settings.HUB_LAUNCH_TIMEOUT = 0.5
    settings.ADMISSION_PREFIX = f"test-labslow-{uuid.uuid4().hex[:8]}:"
    frozen_hub.starts_only = True
    pool_load(accounts=2)
    ada = _learner("ada")
    slow = ada.post("/workshops/redfish/launch")
    assert slow.status_code == 503 and 'data-status="busy"' in slow.content.decode()
    first = LabSession.objects.get(user__username="ada", ended_at__isnull=True)
    assert first.leases.filter(released_at__isnull=True).count() == 1
    waiting = ada.post("/workshops/redfish/launch")  # the hub does not list the server yet
    assert waiting.status_code == 503 and frozen_hub.starts == 1
    assert LabSession.objects.filter(user__username="ada").count() == 1  # no second lab
    frozen_hub.remember_starts = True
    frozen_hub.thaw()
    _hub_lists(frozen_hub, "ada")
    again = ada.post("/workshops/redfish/launch")
    assert again.status_code == 302 and "git-pull" in again["Location"]
    current = LabSession.objects.get(user__username="ada", ended_at__isnull=True)
    assert current.pk == first.pk and current.leases.filter(released_at__isnull=True).count() == 1


def test_a_lab_without_services_started_late_is_ready_when_found(settings, lab_key, frozen_hub: FrozenHub):
    """The launch that finds the server the late start brought up says its lab is ready (nothing
    for the server to start), not "starting" for ever."""
    from catalog.models import Notebook, Workshop

    settings.HUB_LAUNCH_TIMEOUT = 0.5
    settings.ADMISSION_PREFIX = f"test-labnosvcslow-{uuid.uuid4().hex[:8]}:"
    frozen_hub.starts_only = True
    spec = {"services": [], "credentials": {"pool": "", "env": {}}, "generate": {"STDID": "student-number"}}
    w = Workshop.objects.create(slug="wod", folder="wod", title="WoD", published=True, lab=spec)
    Notebook.objects.create(workshop=w, path="0-Start.ipynb", position=0, title="Start")
    ada = _learner("ada")
    assert ada.post("/workshops/wod/launch").status_code == 503
    assert LabSession.objects.get(user__username="ada", ended_at__isnull=True).status == LabSession.Status.STARTING
    frozen_hub.remember_starts = True
    frozen_hub.thaw()
    _hub_lists(frozen_hub, "ada")
    assert ada.post("/workshops/wod/launch").status_code == 302
    assert LabSession.objects.get(user__username="ada", ended_at__isnull=True).status == LabSession.Status.READY

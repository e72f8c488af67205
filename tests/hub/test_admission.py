"""Admission on a real hub with a real Celery worker: a launch storm, the waiting list, Redis down."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.hub.conftest import ORG, Browserless
from tests.hub.cullkit import servers_running, servers_stop_all, users_create

pytestmark = [pytest.mark.hub, pytest.mark.celery, pytest.mark.django_db(transaction=True)]

CAPACITY = 3
LEARNERS = [f"storm-{i}" for i in range(10)]


@pytest.fixture
def storm_settings(hub, settings, monkeypatch):
    """Capacity 3 on the portal (the hub's backstop is 4), a fast idle timeout, a queue of our own."""
    prefix = f"test-storm-{time.monotonic_ns()}:"
    settings.HUB_CAPACITY = CAPACITY
    settings.ADMISSION_PREFIX = prefix
    settings.ADMISSION_TURN_TTL = 60
    settings.CULL_IDLE_TIMEOUT = 4
    # The Celery worker (a subprocess) reads the same from its environment.
    for name, value in {
        "HUB_URL": hub.url,
        "HUB_API_URL": hub.api_url,
        "PORTAL_SERVICE_TOKEN": hub.portal_token,
        "CULLER_SERVICE_TOKEN": hub.culler_token,
        "CAPACITY_MAX_SERVERS": str(CAPACITY),
        "CULL_IDLE_TIMEOUT": "4",
        "ADMISSION_PREFIX": prefix,
        "ADMISSION_TURN_TTL": "60",
    }.items():
        monkeypatch.setenv(name, value)
    return settings


def test_a_launch_storm_never_exceeds_capacity_and_everyone_gets_a_server_in_order(
    hub, workshop, fake_github, storm_settings, celery_worker_process
):
    from portal.tasks import servers_cull_task

    people = {}
    for login in LEARNERS:
        fake_github.add_user(login, orgs=(ORG,))
        fake_github.approve_as = login
        people[login] = Browserless(hub)
        assert people[login].sign_in().status_code == 200
    fake_github.approve_as = "octocat"

    done = threading.Event()
    peak, samples, statuses, errors = [0], [0], [], []
    first_place: dict[str, int] = {}
    got_server: dict[str, float] = {}
    turn_at: dict[str, float] = {}

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], len(servers_running(hub)))
            samples[0] += 1
            time.sleep(0.1)

    def beat() -> None:  # what Celery beat does every CULL_INTERVAL, here every second
        while not done.is_set():
            servers_cull_task.apply_async(expires=2)
            time.sleep(1)

    barrier = threading.Barrier(len(LEARNERS))

    def learner(login: str) -> None:
        person = people[login]
        try:
            barrier.wait()
            deadline = time.monotonic() + 240
            response = person.post(f"/workshops/{workshop.slug}/launch")
            statuses.append(response.status_code)
            while time.monotonic() < deadline:
                location = response.headers.get("location", "")
                if response.status_code == 302 and location.startswith(hub.url):
                    got_server[login] = time.monotonic()
                    return  # then idle: the culler stops the server after the idle timeout
                assert response.status_code == 302 and location.endswith(f"/workshops/{workshop.slug}/wait"), (
                    response.status_code, location, response.text[:300])  # fmt: skip
                page = person.http.get(f"{hub.portal_url}{location}")
                statuses.append(page.status_code)
                assert page.status_code == 200 and 'id="queue"' in page.text
                place = re.search(r'id="queue-position">(\d+)<', page.text)
                if place:
                    first_place.setdefault(login, int(place.group(1)))
                else:  # the page's own poll gave them the turn at once: they were first
                    assert 'data-status="go"' in page.text
                    first_place.setdefault(login, 0)
                while time.monotonic() < deadline:  # what queue.js does
                    status = person.http.get(f"{hub.portal_url}/queue/status")
                    statuses.append(status.status_code)
                    ticket = status.json()
                    if ticket["status"] == "wait":
                        first_place.setdefault(login, ticket["position"])
                    if ticket["status"] == "go":
                        turn_at[login] = time.monotonic()
                        break
                    time.sleep(0.3)
                response = person.post(f"/workshops/{workshop.slug}/launch")
                statuses.append(response.status_code)
            raise AssertionError(f"{login} never got a server")
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            errors.append(f"{login}: {error!r}")

    threads = [threading.Thread(target=sample), threading.Thread(target=beat)]
    threads += [threading.Thread(target=learner, args=(login,)) for login in LEARNERS]
    for t in threads:
        t.start()
    try:
        for t in threads[2:]:
            t.join(300)
    finally:
        done.set()
        threads[0].join(5)
        threads[1].join(5)
        for person in people.values():
            person.close()
        servers_stop_all(hub, [n for n in LEARNERS if n in servers_running(hub)])

    assert not errors, errors
    assert sorted(got_server) == sorted(LEARNERS)  # everyone eventually got a server
    assert all(code < 500 for code in statuses), sorted(set(statuses))
    # Sampled all along (forked servers make the storm short: tens of samples, not hundreds).
    assert samples[0] > 20 and peak[0] <= CAPACITY, (peak, samples)
    assert peak[0] == CAPACITY  # and the capacity was used
    # The first three went straight through; the seven others waited and kept their order.
    waited = sorted(first_place, key=first_place.get)
    assert len(waited) == len(LEARNERS) - CAPACITY
    places = [first_place[w] for w in waited if first_place[w]]
    assert len(places) == len(set(places)) and set(places) <= set(range(1, len(waited) + 1)), first_place
    for earlier, later in zip(waited, waited[1:], strict=False):
        # Turns given in one batch reach pollers within one poll of each other.
        assert turn_at[earlier] <= turn_at[later] + 0.5, (earlier, later, turn_at)


def test_redis_down_launches_still_work_and_a_full_hub_shows_the_waiting_page(hub, workshop, person, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    settings.ADMISSION_PREFIX = "test-redis-down:"
    person.sign_in()
    launch_url = person.launch(workshop.slug)  # admission falls back to the hub's limit
    assert launch_url.startswith(f"{hub.url}/hub/user-redirect/git-pull?")
    page = person.http.get(f"{hub.portal_url}/workshops/{workshop.slug}/wait")
    assert page.status_code == 200 and "waiting list is unavailable" in page.text
    status = person.http.get(f"{hub.portal_url}/queue/status")
    assert status.status_code == 200 and status.json()["status"] == "degraded"
    servers_stop_all(hub, ["octocat"])


def test_my_server_shows_the_time_left_warns_and_extends_once_when_nobody_waits(
    hub, workshop, person, settings, queued
):
    from django.contrib.auth import get_user_model

    from portal import admission, launch
    from portal.models import ServerExtension

    settings.ADMISSION_PREFIX = f"test-extend-{time.monotonic_ns()}:"
    settings.CULL_MAX_AGE = 4 * 3600
    settings.CULL_IDLE_TIMEOUT = 500  # under CULL_WARN_SECONDS: the warning shows at once
    person.sign_in()
    person.launch(workshop.slug)
    from tests.hub.conftest import wait_ready

    wait_ready(hub, "octocat")
    try:
        page = person.http.get(f"{hub.portal_url}/me/server").text
        assert 'id="server-remaining"' in page and 'id="server-warning"' in page
        assert 'id="extend-server"' in page
        # Every portal page's stop warning reads the same from /me/server.json.
        status = person.http.get(f"{hub.portal_url}/me/server.json").json()
        assert status["ready"] and status["warn"] and status["stop_reason"] == "idle"
        assert 0 < status["remaining_seconds"] <= 500 and status["can_extend"]
        # Someone launches into a full house: they wait, no extension, and the culler is asked to
        # make room (by the launch that queued them: the waiting list itself queues no task).
        settings.HUB_CAPACITY = 1
        users_create(hub, ["someone-else"])
        someone = get_user_model().objects.create(username="someone-else")
        with pytest.raises(launch.MustWait):
            launch.workshop_launch(user=someone, workshop=workshop)
        assert [name for name, _ in queued.tasks()] == ["servers_cull_task"]
        assert 'id="extend-server"' not in person.http.get(f"{hub.portal_url}/me/server").text
        assert person.post("/me/server/extend").status_code == 302
        assert not ServerExtension.objects.exists()
        admission.queue_leave(user="someone-else")
        assert person.post("/me/server/extend").status_code == 302
        assert ServerExtension.objects.get(user="octocat").seconds == settings.CULL_EXTEND_SECONDS
        assert person.post("/me/server/extend").status_code == 302  # once only
        assert ServerExtension.objects.count() == 1
        assert 'id="extend-server"' not in person.http.get(f"{hub.portal_url}/me/server").text
    finally:
        servers_stop_all(hub, ["octocat"])

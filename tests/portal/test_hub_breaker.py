"""A hub that hangs: short timeouts, then the circuit breaker answers "hub unavailable" at once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

from portal.hub import HubBreaker, HubClient, HubSkipped, HubUnavailable, hub_client_build, hub_page_breaker
from tests.portal.conftest import FrozenHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def workshop(db):
    from catalog.models import Notebook, Workshop

    w = Workshop.objects.create(slug="intro", folder="intro", title="Intro", published=True)
    Notebook.objects.create(workshop=w, path="0-Start.ipynb", position=0, title="Start")
    return w


def _timed(call):
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def test_after_three_timeouts_every_page_says_hub_unavailable_at_once(settings, workshop, frozen_hub: FrozenHub):
    """A learner's pages wait HUB_TIMEOUT three times, then launch, "My server", the stop warning
    and sign-in answer at once with a clear message, and the catalog says the hub is not answering."""
    settings.HUB_TIMEOUT = 1.0  # anything that waited on the hub would take that long
    assert settings.HUB_BREAKER_FAILURES == 3
    client = Client()
    client.force_login(User.objects.create(username="ada"))
    for _ in range(3):
        response, seconds = _timed(lambda: client.get("/me/server.json"))
        assert response.status_code == 503 and seconds >= 1.0
    assert frozen_hub.requests == 3

    status, seconds = _timed(lambda: client.get("/me/server.json"))
    assert status.status_code == 503 and status.json() == {"error": "The notebook hub is unavailable."}
    assert seconds < 0.5
    page, seconds = _timed(lambda: client.get("/me/server"))
    assert page.status_code == 503 and seconds < 0.5
    assert "The notebook hub is unavailable" in page.content.decode()
    launch, seconds = _timed(lambda: client.post("/workshops/intro/launch"))
    assert launch.status_code == 503 and seconds < 0.5
    assert "The notebook hub is unavailable" in launch.content.decode()
    assert "Please try again in a moment." in launch.content.decode()
    signin, seconds = _timed(lambda: Client().get("/accounts/login?next=/workshops/"))
    assert signin.status_code == 503 and seconds < 0.5
    assert "The notebook hub is unavailable" in signin.content.decode()
    catalog, seconds = _timed(lambda: client.get("/workshops/"))
    assert catalog.status_code == 200 and seconds < 0.5
    assert "The notebook hub is not answering right now" in catalog.content.decode()
    assert frozen_hub.requests == 3  # nothing more reached the hub


def test_the_catalog_says_nothing_while_the_hub_is_fine(client, workshop, frozen_hub: FrozenHub):
    frozen_hub.thaw()
    client.force_login(User.objects.create(username="ada"))
    assert client.get("/me/server.json").status_code == 200
    assert "not answering" not in client.get("/workshops/").content.decode()


def test_the_breaker_closes_when_the_hub_answers_again(frozen_hub: FrozenHub):
    """After the cool-down one trial call goes through; its success closes the breaker."""
    now = [1000.0]
    breaker = HubBreaker(failures=2, cooldown=30, concurrency=4, clock=lambda: now[0])
    hub = HubClient(api_url=frozen_hub.api_url, token="t" * 32, timeout=0.3, breaker=breaker)
    for _ in range(2):
        with pytest.raises(HubUnavailable):
            hub.user_get(name="ada")
    assert breaker.is_open() and breaker.seconds_left() == 30
    with pytest.raises(HubSkipped):
        hub.user_get(name="ada")
    assert frozen_hub.requests == 2
    frozen_hub.thaw()
    now[0] += 29
    with pytest.raises(HubSkipped):
        hub.user_get(name="ada")
    now[0] += 2
    assert not breaker.is_open()
    assert hub.user_get(name="ada").name == "ada"
    assert frozen_hub.requests == 3
    assert not breaker.is_open() and breaker.seconds_left() == 0
    hub.close()


def test_at_most_a_few_calls_wait_on_the_hub_at_once(frozen_hub: FrozenHub):
    """With every slot waiting on a hanging hub, one more call fails at once instead of queueing."""
    breaker = HubBreaker(failures=10, cooldown=30, concurrency=2)
    hub = HubClient(api_url=frozen_hub.api_url, token="t" * 32, timeout=5, breaker=breaker)
    waiting = [threading.Thread(target=lambda: hub.user_get(name="ada"), daemon=True) for _ in range(2)]
    for thread in waiting:
        thread.start()
    deadline = time.monotonic() + 5
    while frozen_hub.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    with pytest.raises(HubSkipped, match="Too many requests"):
        hub.user_get(name="bob")
    assert time.perf_counter() - started < 0.5
    assert frozen_hub.requests == 2
    frozen_hub.thaw()
    for thread in waiting:
        thread.join(5)
    assert hub.user_get(name="bob").name == "bob"  # slots free again
    hub.close()


def test_while_the_hub_is_healthy_a_few_more_calls_wait_for_a_slot(frozen_hub: FrozenHub):
    """A launch storm: past the slots, a bounded queue waits (HUB_TIMEOUT at most); past the
    queue, calls fail at once, so the threads waiting on the hub stay bounded."""
    breaker = HubBreaker(failures=3, cooldown=30, concurrency=1, queue=1, wait=5)
    hub = HubClient(api_url=frozen_hub.api_url, token="t" * 32, timeout=5, breaker=breaker)
    names: list[str] = []
    calls = [threading.Thread(target=lambda n=n: names.append(hub.user_get(name=n).name)) for n in ("a", "b")]
    calls[0].start()
    while frozen_hub.requests < 1:
        time.sleep(0.01)
    calls[1].start()  # waits for the slot
    time.sleep(0.2)
    assert frozen_hub.requests == 1
    started = time.perf_counter()
    with pytest.raises(HubSkipped):
        hub.user_get(name="c")  # the queue is full: at once
    assert time.perf_counter() - started < 0.5
    frozen_hub.thaw()
    for thread in calls:
        thread.join(5)
    assert sorted(names) == ["a", "b"]
    hub.close()


def test_the_culler_keeps_its_own_back_off(settings):
    """Only the page path shares the breaker: the culler's client (own token and timeout) has none."""
    assert hub_client_build().breaker is not None
    assert hub_client_build(token="c" * 32, timeout=20).breaker is None


def test_readiness_reports_a_hub_not_asked_while_the_breaker_is_open(client, settings, frozen_hub: FrozenHub):
    settings.HUB_TIMEOUT = 1.0
    for _ in range(3):
        assert client.get("/readyz").json()["checks"]["hub"] == "unreachable"
    report, seconds = _timed(lambda: client.get("/readyz").json())
    assert report["checks"]["hub"] == "not asked (failing just before)" and report["status"] == "degraded"
    assert seconds < 0.5


def test_a_launch_waits_for_a_slow_hub_where_a_page_gives_up(settings, workshop, frozen_hub: FrozenHub):
    """Under a launch storm the hub answers in seconds: Launch waits HUB_LAUNCH_TIMEOUT for it (and
    its answer counts as a success), where "My server" gives up after HUB_TIMEOUT."""
    settings.HUB_TIMEOUT, settings.HUB_LAUNCH_TIMEOUT = 1.0, 10.0
    settings.ADMISSION_PREFIX = f"test-slowhub-{uuid.uuid4().hex[:8]}:"
    client = Client()
    client.force_login(User.objects.create(username="ada"))
    page, seconds = _timed(lambda: client.get("/me/server.json"))
    assert page.status_code == 503 and 1.0 <= seconds < 2.5
    threading.Timer(2.5, frozen_hub.thaw).start()  # the hub answers after 2.5 s
    launch, seconds = _timed(lambda: client.post("/workshops/intro/launch"))
    assert launch.status_code == 302 and "/hub/user-redirect/git-pull?" in launch["Location"]
    assert seconds >= 2.4
    assert not hub_page_breaker().is_open()


@pytest.mark.django_db(transaction=True)  # the held launch runs in a thread: its own connection
def test_past_the_hubs_slots_a_launch_gets_a_place_not_an_error(settings, workshop, frozen_hub: FrozenHub):
    """Every slot with a healthy hub taken and its queue full: the learner gets, at once, a page that
    launches again in a moment (not "hub unavailable", and no place in the waiting list that
    would hold everyone behind them)."""
    settings.HUB_PAGE_CONCURRENCY, settings.HUB_PAGE_QUEUE, settings.HUB_LAUNCH_QUEUE = 1, 0, 0
    settings.ADMISSION_PREFIX = f"test-busyhub-{uuid.uuid4().hex[:8]}:"
    first, second = Client(), Client()
    first.force_login(User.objects.create(username="ada"))
    second.force_login(User.objects.create(username="bob"))
    held = threading.Thread(target=lambda: first.post("/workshops/intro/launch"), daemon=True)
    held.start()  # takes the only slot: the hub holds its request
    deadline = time.monotonic() + 5
    while frozen_hub.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert frozen_hub.requests == 1
    launch, seconds = _timed(lambda: second.post("/workshops/intro/launch"))
    assert seconds < 0.5
    assert launch.status_code == 503 and launch["Retry-After"] == "3"
    page = launch.content.decode()
    assert 'data-status="busy"' in page and 'id="queue-launch"' in page  # the page launches again by itself
    assert "The notebook hub is busy starting other learners' servers" in page
    assert second.get("/queue/status").json()["status"] == "gone"  # no place taken from anyone
    frozen_hub.thaw()
    held.join(10)


def test_a_start_the_hub_answers_late_gets_the_page_that_launches_again(settings, workshop, frozen_hub: FrozenHub):
    """A launch storm keeps the hub's event loop busy: it answers a start after HUB_LAUNCH_TIMEOUT.
    The learner gets the page that launches again by itself (the start may be under way), not
    "hub unavailable"; slow starts do not shut the hub's pages out for everyone."""
    settings.HUB_LAUNCH_TIMEOUT = 0.5
    settings.ADMISSION_PREFIX = f"test-slowstart-{uuid.uuid4().hex[:8]}:"
    frozen_hub.starts_only = True  # users and servers are read at once; starts are held
    learners = []
    for name in ("ada", "bob", "cy", "dee"):  # more slow starts than the breaker's failures
        client = Client()
        client.force_login(User.objects.create(username=name))
        launch, seconds = _timed(lambda c=client: c.post("/workshops/intro/launch"))
        assert launch.status_code == 503 and launch["Retry-After"] == "3"
        page = launch.content.decode()
        assert 'data-status="busy"' in page and 'id="queue-launch"' in page
        assert "unavailable" not in page
        assert 0.5 <= seconds < 2.0
        learners.append(client)
    assert frozen_hub.starts == 4
    assert not hub_page_breaker().is_open()
    status = learners[0].get("/me/server.json")
    assert status.status_code == 200  # the hub's pages still ask it
    # The page launches again before the hub lists the server: it waits again, starting nothing
    # new (the first start may still come), until the hub lists it.
    waiting = learners[0].post("/workshops/intro/launch")
    assert waiting.status_code == 503 and 'data-status="busy"' in waiting.content.decode()
    assert frozen_hub.starts == 4
    frozen_hub.remember_starts = True
    frozen_hub.thaw()  # the hub gets through its work: the held starts are answered
    deadline = time.monotonic() + 5
    while "ada" not in frozen_hub.started and time.monotonic() < deadline:
        time.sleep(0.02)
    again = learners[0].post("/workshops/intro/launch")  # what the page does a moment later
    assert again.status_code == 302 and "/hub/user-redirect/git-pull?" in again["Location"]

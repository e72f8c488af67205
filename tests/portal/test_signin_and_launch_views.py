"""Sign-in and launch views without a hub: hostile next URLs, CSRF, 404, hub unreachable."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from portal.auth import next_url_safe

PORTAL = "http://127.0.0.1:8000"
HOSTILE = [
    "//evil.com",
    "//evil.com/path",
    "https://evil.com",
    "http://evil.com/workshops/",
    "/\\evil.com",
    "\\\\evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " //evil.com",
    "https:evil.com",
    "http://127.0.0.1:8000@evil.com/",
    "data:text/html,<script>alert(1)</script>",
    "///evil.com",
    "/%5Cevil.com",
    "https://127.0.0.1:8000/",  # another scheme is another origin
]


@pytest.mark.parametrize("candidate", HOSTILE)
def test_hostile_next_urls_fall_back_to_the_home_page(candidate):
    assert next_url_safe(candidate=candidate, portal_url=PORTAL) in ("/", "/%5Cevil.com")


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/workshops/redfish-101/", "/workshops/redfish-101/"),
        ("/workshops/?q=ilo&tag=api", "/workshops/?q=ilo&tag=api"),
        (f"{PORTAL}/me/server", "/me/server"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_own_pages_are_kept(candidate, expected):
    assert next_url_safe(candidate=candidate, portal_url=PORTAL) == expected


@given(st.text(max_size=80))
def test_next_is_always_a_local_path(candidate):
    result = next_url_safe(candidate=candidate, portal_url=PORTAL)
    parts = urlsplit(result)
    assert result.startswith("/") and not result.startswith(("//", "/\\"))
    assert not parts.scheme and not parts.netloc


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def dead_hub(settings):
    url = _dead_url()
    settings.HUB_URL = url
    settings.HUB_API_URL = url + "/hub/api"
    return url


@pytest.fixture
def workshop(db):
    from catalog.models import Notebook, Workshop

    w = Workshop.objects.create(slug="intro", folder="intro", title="Intro", published=True)
    Notebook.objects.create(workshop=w, path="0-Start.ipynb", position=0, title="Start")
    Notebook.objects.create(workshop=w, path="1-More.ipynb", position=1, title="More")
    return w


@pytest.mark.django_db
def test_sign_in_with_the_hub_down_shows_a_clear_page(client, dead_hub):
    response = client.get("/accounts/login?next=/workshops/")
    assert response.status_code == 503
    assert "The notebook hub is unavailable" in response.content.decode()


@pytest.mark.django_db
def test_callback_with_an_unknown_state_is_refused_in_words(client):
    response = client.get("/accounts/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "This sign-in link has expired" in response.content.decode()


def test_launch_by_get_is_not_allowed(client, workshop):
    assert client.get("/workshops/intro/launch").status_code == 405


def test_launch_needs_the_csrf_token(workshop):
    user = User.objects.create(username="octocat")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/workshops/intro/launch").status_code == 403


def test_launch_when_signed_out_goes_to_sign_in_and_back_to_the_workshop(client, workshop):
    response = client.post("/workshops/intro/launch")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login"
    assert parse_qs(location.query)["next"] == ["/workshops/intro/"]


def test_launch_of_an_unknown_or_inactive_workshop_is_404(client, workshop):
    client.force_login(User.objects.create(username="octocat"))
    assert client.post("/workshops/nope/launch").status_code == 404
    workshop.active = False
    workshop.save()
    assert client.post("/workshops/intro/launch").status_code == 404


def test_launch_with_the_hub_down_shows_a_clear_page(client, workshop, dead_hub):
    client.force_login(User.objects.create(username="octocat"))
    response = client.post("/workshops/intro/launch?repo=evil&branch=x&urlpath=/etc")
    assert response.status_code == 503
    assert "The notebook hub is unavailable" in response.content.decode()


def test_my_server_needs_sign_in(client, db):
    response = client.get("/me/server")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login?next=/me/server")


def test_header_offers_sign_in_and_flags_the_development_sign_in(client, workshop, settings):
    settings.HUB_DEV_SIGNIN = True
    page = client.get("/workshops/intro/").content.decode()
    assert "Sign in with GitHub" in page and "development sign-in" in page
    assert "Sign in with GitHub to launch" in page
    settings.HUB_DEV_SIGNIN = False
    client.force_login(User.objects.create(username="octocat"))
    page = client.get("/workshops/intro/").content.decode()
    assert "development sign-in" not in page and ">octocat<" in page and "Sign out" in page
    assert 'id="launch"' in page


def test_the_server_state_for_the_stop_warning_needs_sign_in_and_says_when_the_hub_is_down(client, workshop, dead_hub):
    response = client.get("/me/server.json")
    assert response.status_code == 401 and response.json()["error"] == "Sign in to see your server."
    # Signed out, pages carry no status address: nobody's browser asks the hub for nothing.
    assert "data-server-status-url" not in client.get("/workshops/intro/").content.decode()
    client.force_login(User.objects.create(username="octocat"))
    assert 'data-server-status-url="/me/server.json"' in client.get("/workshops/intro/").content.decode()
    response = client.get("/me/server.json")
    assert response.status_code == 503
    assert response.json() == {"error": "The notebook hub is unavailable."}

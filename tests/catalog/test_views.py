"""The public catalog: browse, search, filter, preview, download and the JSON API."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile

import pytest
from django.test import Client

from catalog.sync import catalog_sync
from tests.contentrepo import ContentRepo, notebook_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(content_repo: ContentRepo) -> ContentRepo:
    """Sync a small catalog of realistic workshops."""
    repo = content_repo
    repo.add_workshop("redfish-101")
    repo.write(
        "redfish-101/workshop.yml",
        "title: iLO and Redfish 101\nsummary: Manage servers with the Redfish REST API.\n"
        "description: |\n  Use **Redfish** from Python.\n\n  <script>alert(1)</script>\n\n  ![tree](images/tree.png)\n"
        "tags: [redfish, rest]\nproducts: [iLO, Redfish]\nlevel: beginner\nduration_minutes: 90\n"
        "featured: true\nimage: images/tree.png\nkernels: [python3]\n",
    )
    repo.write("redfish-101/images/tree.png", b"\x89PNG\r\n\x1a\nfake")
    repo.write("redfish-101/requirements.txt", "redfish==3.2.5\n")
    repo.write("redfish-101/1-Part1.ipynb", notebook_bytes("Sessions and tokens", "Log in with a session", "Log out"))
    repo.add_workshop(
        "oneview-101",
        meta={
            "title": "OneView REST API 101",
            "summary": "Server profiles as code.",
            "level": "intermediate",
            "products": ["OneView"],
            "tags": ["rest"],
            "kernels": ["python3"],
        },
    )
    repo.add_workshop(
        "powershell-101",
        meta={
            "title": "PowerShell for API users",
            "summary": "Invoke-RestMethod and friends.",
            "level": "beginner",
            "products": ["PowerShell"],
            "kernels": ["powershell"],
            "tags": ["automation"],
        },
    )
    repo.commit("catalog")
    assert catalog_sync().status == "ok"
    return repo


def _titles(response) -> list[str]:
    return [w.title for w in response.context["page"].object_list]


def test_catalog_lists_cards_featured_first(client: Client, catalog) -> None:
    """The catalog shows every workshop as a card, featured ones first."""
    response = client.get("/workshops/")
    assert response.status_code == 200
    assert _titles(response)[0] == "iLO and Redfish 101"
    body = response.content.decode()
    assert "3 workshops" in body
    assert "1 h 30 min" in body and "Beginner" in body and "PowerShell" in body
    assert 'src="/workshops/redfish-101/files/images/tree.png"' in body


def test_root_redirects_to_catalog(client: Client, catalog) -> None:
    """The site's front door is the catalog."""
    assert client.get("/").url == "/workshops/"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("q=redfish", ["iLO and Redfish 101"]),
        ("q=session", ["iLO and Redfish 101"]),  # a notebook heading, not the title
        ("q=profiles", ["OneView REST API 101"]),
        ("product=oneview", ["OneView REST API 101"]),
        ("level=beginner&sort=title", ["iLO and Redfish 101", "PowerShell for API users"]),
        ("kernel=powershell", ["PowerShell for API users"]),
        ("tag=rest&sort=title", ["iLO and Redfish 101", "OneView REST API 101"]),
        ("tag=rest&level=intermediate", ["OneView REST API 101"]),
        ("q=rest&product=Redfish", ["iLO and Redfish 101"]),
        ("sort=title", ["iLO and Redfish 101", "OneView REST API 101", "PowerShell for API users"]),
        ("level=wizard&sort=bogus", ["iLO and Redfish 101", "OneView REST API 101", "PowerShell for API users"]),
    ],
)
def test_search_and_filters_combine(client: Client, catalog, params: str, expected: list[str]) -> None:
    """Search and filters narrow the cards together; nonsense values are ignored."""
    response = client.get(f"/workshops/?{params}")
    titles = _titles(response)
    assert titles == expected if "sort=title" in params else sorted(titles) == sorted(expected)


def test_empty_states_help(client: Client, catalog) -> None:
    """No match says so and offers the way back."""
    body = client.get("/workshops/?q=kubernetes").content.decode()
    assert "No workshop matches “kubernetes”" in body
    assert "Show all workshops" in body


def test_empty_catalog_says_how_to_fill_it(client: Client, db) -> None:
    """An empty catalog tells the operator what to run."""
    assert "python manage.py sync_catalog" in client.get("/workshops/").content.decode()


def test_pagination(client: Client, catalog, settings) -> None:
    """Pages keep the filters in their links."""
    settings.CATALOG_PAGE_SIZE = 2
    first = client.get("/workshops/?sort=title")
    assert len(first.context["page"].object_list) == 2
    assert "sort=title&amp;page=2" in first.content.decode()
    second = client.get("/workshops/?sort=title&page=2")
    assert _titles(second) == ["PowerShell for API users"]


def test_workshop_page(client: Client, catalog) -> None:
    """The workshop page shows the sanitised description, notebooks in order with outlines."""
    response = client.get("/workshops/redfish-101/")
    body = response.content.decode()
    assert "<strong>Redfish</strong>" in body
    assert "alert(1)" not in body
    assert body.index("redfish-101 part 0") < body.index("Sessions and tokens")
    assert 'href="/workshops/redfish-101/notebooks/1-Part1.ipynb#nb-Log-in-with-a-session"' in body
    assert catalog.head()[:10] in body
    assert "/workshops/redfish-101/download.zip" in body


def test_unknown_workshop_is_a_helpful_404(client: Client, catalog) -> None:
    """An unknown slug gets a 404 page that leads back to the catalog."""
    response = client.get("/workshops/nope/")
    assert response.status_code == 404
    assert "Browse all workshops" in response.content.decode()


def test_notebook_preview(client: Client, catalog) -> None:
    """A notebook preview shows the rendered notebook with its outline and neighbours."""
    body = client.get("/workshops/redfish-101/notebooks/1-Part1.ipynb").content.decode()
    assert 'id="nb-Log-in-with-a-session"' in body  # the outline's anchor, namespaced
    assert 'href="#nb-Log-in-with-a-session"' in body
    assert "print" in body  # code cells rendered
    assert 'rel="prev"' in body
    assert client.get("/workshops/redfish-101/notebooks/9-Nope.ipynb").status_code == 404


def test_strict_content_security_policy(client: Client, catalog) -> None:
    """Every page forbids inline script; repository files are served in a sandbox."""
    csp = client.get("/workshops/redfish-101/notebooks/1-Part1.ipynb")["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "object-src 'none'" in csp
    image = client.get("/workshops/redfish-101/files/images/tree.png")
    assert image["Content-Type"] == "image/png"
    assert image["Content-Security-Policy"].startswith("sandbox")


def test_notebook_download(client: Client, catalog) -> None:
    """A notebook downloads as the .ipynb from the synced commit."""
    response = client.get("/workshops/redfish-101/download/1-Part1.ipynb")
    assert response["Content-Disposition"] == 'attachment; filename="1-Part1.ipynb"'
    assert json.loads(response.content)["nbformat"] == 4
    assert client.get("/workshops/redfish-101/download/requirements.txt").status_code == 404


def test_workshop_zip(client: Client, catalog) -> None:
    """The zip holds notebooks, images, requirements and a README on running it locally."""
    response = client.get("/workshops/redfish-101/download.zip")
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.getvalue()))  # streamed: no .content
    names = set(archive.namelist())
    assert {
        "redfish-101/0-Part0.ipynb", "redfish-101/1-Part1.ipynb", "redfish-101/images/tree.png",
        "redfish-101/requirements.txt", "redfish-101/README.md", "redfish-101/workshop.yml",
    } <= names  # fmt: skip
    readme = archive.read("redfish-101/README.md").decode()
    assert "pip install -r requirements.txt" in readme and "jupyter lab" in readme
    assert archive.read("redfish-101/requirements.txt") == b"redfish==3.2.5\n"
    no_reqs = zipfile.ZipFile(io.BytesIO(client.get("/workshops/oneview-101/download.zip").getvalue()))
    assert no_reqs.read("oneview-101/requirements.txt") == b"jupyterlab\n"


def test_api_list_and_filters(client: Client, catalog) -> None:
    """GET /api/workshops takes the page's search and filters and paginates."""
    data = client.get("/api/workshops?level=beginner&sort=title").json()
    assert data["count"] == 2
    assert [w["slug"] for w in data["results"]] == ["redfish-101", "powershell-101"]
    first = data["results"][0]
    assert first["url"] == "http://testserver/workshops/redfish-101/"
    assert first["duration_minutes"] == 90 and first["products"] == ["iLO", "Redfish"]
    paged = client.get("/api/workshops?per_page=1&sort=title").json()
    assert paged["pages"] == 3 and paged["next"].endswith("page=2")
    assert client.get("/api/workshops?page=abc").status_code == 400
    assert client.get("/api/workshops?page=99").status_code == 404


def test_api_detail(client: Client, catalog) -> None:
    """GET /api/workshops/<slug> gives metadata, notebooks, download URLs and commit."""
    data = client.get("/api/workshops/redfish-101").json()
    assert data["source"]["commit"] == catalog.head()
    assert [nb["path"] for nb in data["notebooks"]] == ["0-Part0.ipynb", "1-Part1.ipynb"]
    assert data["notebooks"][1]["download_url"].endswith("/workshops/redfish-101/download/1-Part1.ipynb")
    assert data["download_zip_url"].endswith("/workshops/redfish-101/download.zip")
    missing = client.get("/api/workshops/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "unknown workshop 'nope'"}


def test_hidden_workshop_disappears(client: Client, catalog) -> None:
    """Staff hiding a workshop removes it from pages, API and downloads."""
    from catalog.models import Workshop

    workshop = Workshop.objects.get(slug="oneview-101")
    workshop.hidden = True  # as staff do in the admin
    workshop.save()
    assert "OneView REST API 101" not in client.get("/workshops/").content.decode()
    assert client.get("/workshops/oneview-101/").status_code == 404
    assert client.get("/api/workshops/oneview-101").status_code == 404
    assert client.get("/workshops/oneview-101/download.zip").status_code == 404


def test_cached_pages_follow_a_sync(client: Client, catalog) -> None:
    """A visitor's cached catalog page shows a new workshop right after the next sync."""
    assert "GreenLake API 101" not in client.get("/workshops/").content.decode()
    catalog.add_workshop("greenlake-101", meta={"title": "GreenLake API 101"})
    catalog.commit("add greenlake")
    catalog_sync()
    assert "GreenLake API 101" in client.get("/workshops/").content.decode()


# --- One shared page cache for visitors and signed-in learners --------------------------------


def _page(client: Client, path: str, queries=None) -> tuple[str, int]:
    """GET path; return the body and the number of database queries it took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode(), len(captured)


def _signed_in(name: str, **kwargs) -> Client:
    from django.contrib.auth.models import User

    client = Client(**kwargs)
    client.force_login(User.objects.create(username=name))
    return client


@pytest.mark.parametrize(
    "path", ["/workshops/", "/workshops/redfish-101/", "/workshops/redfish-101/notebooks/1-Part1.ipynb"]
)
def test_signed_in_pages_come_from_the_shared_cache_with_only_their_own_name(catalog, path: str) -> None:
    """Two learners and a visitor read the same cached page: each sees their own header, never
    another's name, and a cached page costs a known signed-in learner no database query."""
    alice, bob, visitor = _signed_in("alice"), _signed_in("bob"), Client()

    def page(client: Client) -> tuple[str, int]:
        # Without the CSRF tokens: 64 random letters and digits spell "bob" now and then.
        body, queries = _page(client, path)
        return re.sub(r'value="[^"]{64}"', 'value=""', body), queries

    first, rendered_queries = page(alice)
    assert ">alice<" in first and "bob" not in first and "Sign out" in first
    seen_by_bob, bob_queries = page(bob)
    assert ">bob<" in seen_by_bob and "alice" not in seen_by_bob
    assert ">bob<" in page(bob)[0]
    assert page(bob)[1] <= 1 < rendered_queries  # the catalog version (tests re-check it each time)
    anonymous, _ = page(visitor)
    assert "alice" not in anonymous and "bob" not in anonymous and "Sign in with GitHub" in anonymous
    again, _ = page(alice)
    assert ">alice<" in again and "bob" not in again
    for body in (first, seen_by_bob, anonymous, again):
        assert "personal-" not in body  # every marker filled in
    # The cached page is the page itself: the same as a fresh render, but for the CSRF token.
    assert seen_by_bob == first.replace(">alice<", ">bob<")


def test_after_signing_out_the_old_session_cookie_shows_nobody(catalog, settings) -> None:
    """Signing out forgets who the session was at once: replaying its cookie gets the visitor's page."""
    alice = _signed_in("alice")
    old = alice.cookies[settings.SESSION_COOKIE_NAME].value
    assert ">alice<" in _page(alice, "/workshops/")[0]
    alice.post("/accounts/logout")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old
    body, _ = _page(replay, "/workshops/")
    assert "alice" not in body and "Sign in with GitHub" in body


def test_personal_pages_are_marked_private_for_every_cache_on_the_way(catalog) -> None:
    alice, visitor = _signed_in("alice"), Client()
    for _ in range(2):  # rendered, then cached
        mine = alice.get("/workshops/redfish-101/")
        assert mine["Cache-Control"] == "private, no-cache" and "Cookie" in mine["Vary"]
        public = visitor.get("/workshops/redfish-101/")
        assert "Cookie" in public["Vary"] and "private" not in public.get("Cache-Control", "")


def test_the_cached_launch_form_carries_each_learners_own_csrf_token(catalog, settings) -> None:
    """Launch from a page bob's visit cached: alice's form has her own token, and it is accepted."""
    settings.HUB_API_URL = "http://127.0.0.1:9/hub/api"  # nothing listens: the hub is down
    bob = _signed_in("bob", enforce_csrf_checks=True)
    alice = _signed_in("alice", enforce_csrf_checks=True)
    token = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    bob_token = token.search(_page(bob, "/workshops/redfish-101/")[0]).group(1)
    alice_token = token.search(_page(alice, "/workshops/redfish-101/")[0]).group(1)
    assert alice_token != bob_token
    launch = alice.post("/workshops/redfish-101/launch", {"csrfmiddlewaretoken": alice_token})
    assert launch.status_code == 503  # past the CSRF check, to the (down) hub
    assert "The notebook hub is unavailable" in launch.content.decode()


def test_every_view_of_a_cached_page_carries_a_fresh_token_and_each_is_accepted(catalog, settings) -> None:
    """Each response masks the learner's secret anew (nothing repeats for BREACH to learn from a
    compressed page), a first visit without a CSRF cookie gets one, and every token works."""
    settings.HUB_API_URL = "http://127.0.0.1:9/hub/api"  # nothing listens: the hub is down
    alice = _signed_in("alice", enforce_csrf_checks=True)
    token = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    first = alice.get("/workshops/redfish-101/")
    assert settings.CSRF_COOKIE_NAME in first.cookies  # a first visit is given its secret
    tokens = [token.search(_page(alice, "/workshops/redfish-101/")[0]).group(1) for _ in range(5)]
    assert len(set(tokens)) == 5 and all(len(t) == 64 and t.isalnum() for t in tokens)
    for each in tokens:
        launch = alice.post("/workshops/redfish-101/launch", {"csrfmiddlewaretoken": each})
        assert launch.status_code == 503  # past the CSRF check, to the (down) hub
    forged = tokens[0][:32] + tokens[1][32:]  # another response's mask over this one's cipher
    assert alice.post("/workshops/redfish-101/launch", {"csrfmiddlewaretoken": forged}).status_code == 403


def test_a_forked_worker_draws_its_own_random_bytes() -> None:
    """Two processes forked from one server never hand out the same CSRF secrets or masks."""
    import os

    from portal.personal import _random_chars

    _random_chars(32)  # the parent holds bytes read ahead
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, _random_chars(32).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    assert len(theirs) == 32 and theirs != _random_chars(32)


def test_a_message_for_a_learner_is_shown_once_not_lost_in_the_cache(catalog, settings) -> None:
    settings.ADMISSION_PREFIX = f"test-pagecache-{uuid.uuid4().hex[:8]}:"
    alice = _signed_in("alice")
    _page(alice, "/workshops/")  # the page is in the cache
    assert alice.post("/queue/leave").status_code == 302
    shown, _ = _page(alice, "/workshops/")
    assert "You left the waiting list." in shown and ">alice<" in shown
    assert "You left the waiting list." not in _page(alice, "/workshops/")[0]


def test_unknown_query_parameters_create_no_cache_entry(client: Client, catalog) -> None:
    """Made-up parameters (tracking tags, a flood of random ones) are served but never stored."""
    from django.core.cache import cache

    _page(client, "/workshops/")
    held = cache.bytes_held
    for i in range(20):
        body, _ = _page(client, f"/workshops/?utm_source=x{i}&q=redfish")
        assert "iLO and Redfish 101" in body
    assert cache.bytes_held == held
    _page(client, "/workshops/?q=redfish&sort=title")
    assert cache.bytes_held > held


def test_a_page_over_the_size_limit_is_served_but_not_stored(client: Client, catalog, settings) -> None:
    from django.core.cache import cache

    settings.PAGE_CACHE_MAX_PAGE_BYTES = 1000
    held = cache.bytes_held
    _, first = _page(client, "/workshops/redfish-101/")
    _, second = _page(client, "/workshops/redfish-101/")
    assert cache.bytes_held == held and second == first  # rendered again, from the database


def test_the_memory_cache_is_bounded_in_bytes() -> None:
    """Whatever is put in, the cache holds at most MAX_BYTES: the least recently used go first."""
    from portal.memory_cache import BoundedMemoryCache

    cache = BoundedMemoryCache("test-bytes", {"OPTIONS": {"MAX_BYTES": 100_000, "MAX_ENTRIES": 1000}})
    cache.clear()
    for i in range(10):
        cache.set(f"page-{i}", b"x" * 30_000)
        cache.get("page-0")  # kept in use: the others go first
        assert cache.bytes_held <= 100_000
    assert [i for i in range(10) if cache.get(f"page-{i}") is not None] == [0, 8, 9]
    cache.set("huge", b"x" * 200_000)  # over the whole budget: not stored, nothing evicted for it
    assert cache.get("huge") is None and cache.get("page-9") is not None
    cache.set("brief", b"y", timeout=0.05)
    time.sleep(0.1)
    assert cache.get("brief") is None
    few = BoundedMemoryCache("test-entries", {"OPTIONS": {"MAX_BYTES": 100_000, "MAX_ENTRIES": 3}})
    for i in range(5):
        few.set(f"k{i}", i)
    assert [few.get(f"k{i}") for i in range(5)] == [None, None, 2, 3, 4]


# --- Malformed requests are 400s, never 500s ---------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/workshops/?q=a%00b", "NUL character"),
        ("/workshops/?tag=%00", "NUL character"),
        ("/workshops/?product=Redfish&kernel=python3%00", "NUL character"),
        ("/workshops/?q=%ff%fe", "not valid UTF-8"),
        ("/workshops/?q=%zz", "malformed percent-encoding"),
        ("/workshops/?q=100%", "malformed percent-encoding"),
        ("/workshops/redfish-101/notebooks/1-Part1%00.ipynb", "NUL character"),
        ("/workshops/redfish-101/download/1-Part1.ipynb%00", "NUL character"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(client: Client, catalog, url: str, reason: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert reason in response.content.decode()


@pytest.mark.parametrize("url", ["/api/workshops?q=a%00b", "/api/workshops?level=%00", "/api/workshops/redfish%00"])
def test_malformed_api_queries_get_a_json_400(client: Client, catalog, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400 and "NUL character" in response.json()["error"]


def test_a_path_that_is_not_utf8_is_a_plain_404(client: Client, catalog) -> None:
    """Django re-encodes such a path as %XX, which names no workshop."""
    assert client.get("/workshops/%ff/").status_code == 404


def test_well_formed_unusual_queries_still_work(client: Client, catalog) -> None:
    """Percent-encoded UTF-8, plus signs and a literal %25 are fine."""
    assert client.get("/workshops/?q=r%C3%A9seau+redfish").status_code == 200
    assert client.get("/workshops/?q=100%25").status_code == 200
    assert client.get("/api/workshops?q=caf%C3%A9").status_code == 200

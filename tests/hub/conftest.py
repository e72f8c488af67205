"""A real JupyterHub (project config, CHP from npm), the live portal and a fake GitHub."""

from __future__ import annotations

import copy
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test.utils import override_settings

from tests.contentrepo import ContentRepo, notebook_bytes
from tests.fakegithub import FakeGitHub
from tests.portal.labkit import lab_key  # noqa: F401 - a fixture for the lab tests

ROOT = Path(__file__).resolve().parents[2]
ORG = "hpe-workshops"
WORKSHOP = "intro-api"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the hub tests, with the reason, when configurable-http-proxy is not installed."""
    chp = os.environ.get("CONFIGURABLE_HTTP_PROXY") or str(ROOT / "node_modules/.bin/configurable-http-proxy")
    if Path(chp).exists():
        return
    skip = pytest.mark.skip(reason=f"configurable-http-proxy not found at {chp}: run npm install")
    for item in items:
        if "hub" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fake_github() -> Iterator[FakeGitHub]:
    """Serve the fake GitHub with octocat (in the org) and mallory (not in it)."""
    fake = FakeGitHub().start()
    fake.add_user("octocat", orgs=(ORG,), name="The Octocat")
    fake.add_user("hubber", orgs=(ORG,))
    fake.add_user("mallory", orgs=("elsewhere",))
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def hub_content(tmp_path_factory) -> ContentRepo:
    """Return the content repository the hub's learners pull from."""
    repo = ContentRepo(tmp_path_factory.mktemp("hub-content"))
    repo.write(f"{WORKSHOP}/0-Welcome.ipynb", notebook_bytes("Welcome to the API", "Setup", "First call"))
    repo.write(f"{WORKSHOP}/1-Calls.ipynb", notebook_bytes("Calling the API", "GET", "POST"))
    repo.write(
        f"{WORKSHOP}/workshop.yml",
        json.dumps({"title": "Intro to the API", "summary": "Your first calls."}),
    )
    repo.commit("Add the intro workshop")
    return repo


@dataclass
class Hub:
    """The running hub and what tests need to talk to it."""

    url: str
    api_url: str
    portal_url: str
    portal_token: str
    tester_token: str
    data_dir: Path
    log: Path
    culler_token: str = ""

    def home(self, user: str) -> Path:
        """Return a user's home directory (SimpleLocalProcessSpawner)."""
        return self.data_dir / "home" / user

    def api(self, token: str | None = None) -> httpx.Client:
        """Return a client for the hub API with a token (the tester's by default)."""
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"token {token or self.tester_token}"},
            timeout=30,
        )

    def wait_stopped(self, user: str, timeout: float = 30) -> None:
        """Wait until a user's server is gone."""
        deadline = time.monotonic() + timeout
        with self.api() as api:
            while time.monotonic() < deadline:
                model = api.get(f"/users/{user}").json()
                if not model.get("servers"):
                    return
                time.sleep(0.2)
        raise AssertionError(f"{user}'s server did not stop")

    def stop_server(self, user: str) -> None:
        """Stop a user's server (test clean-up)."""
        with self.api() as api:
            api.delete(f"/users/{user}/server")
        self.wait_stopped(user)


@pytest.fixture(scope="session")
def hub(live_server, fake_github, hub_content, tmp_path_factory) -> Iterator[Hub]:
    """Run JupyterHub with hubconfig/jupyterhub_config.py, GitHub OAuth at the fake GitHub."""
    data = tmp_path_factory.mktemp("hubdata")
    hub_url = f"http://127.0.0.1:{_free_port()}"
    portal_token, tester_token = secrets.token_hex(32), secrets.token_hex(32)
    culler_token = secrets.token_hex(32)
    env = {
        **os.environ,
        "PROJECT_HUB_CONFIG": str(ROOT / "hubconfig" / "jupyterhub_config.py"),
        "TESTER_TOKEN": tester_token,
        "PORTAL_VAR_DIR": str(data / "var"),
        "HUB_DATA_DIR": str(data),
        "HUB_URL": hub_url,
        "HUB_INTERNAL_URL": f"http://127.0.0.1:{_free_port()}",
        "HUB_PROXY_API_URL": f"http://127.0.0.1:{_free_port()}",
        "PORTAL_URL": live_server.url,
        "PORTAL_SERVICE_TOKEN": portal_token,
        "CULLER_SERVICE_TOKEN": culler_token,
        "GITHUB_CLIENT_ID": fake_github.client_id,
        "GITHUB_CLIENT_SECRET": fake_github.client_secret,
        "GITHUB_URL": fake_github.url,
        "GITHUB_ALLOWED_ORGS": ORG,
        "CAPACITY_MAX_SERVERS": "4",
        "HUB_ACTIVITY_INTERVAL": "60",
        # The hub stops every server when the session's hub ends: nothing outlives the tests.
        "HUB_KEEP_SERVERS_ON_RESTART": "false",
    }
    log = data / "hub.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(Path(__file__).parent / "hub_test_config.py"),
            ],
            cwd=data,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(
        url=hub_url,
        api_url=hub_url + "/hub/api",
        portal_url=live_server.url,
        portal_token=portal_token,
        tester_token=tester_token,
        data_dir=data,
        log=log,
        culler_token=culler_token,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(hub.api_url + "/", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the hub did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    # The portal (live_server thread) talks to this hub with this token; its forms may
    # lead there (Launch, Sign out), which the CSP must allow.
    from django.conf import settings as django_settings

    csp = copy.deepcopy(django_settings.CONTENT_SECURITY_POLICY)
    csp["DIRECTIVES"]["form-action"] = ["'self'", hub_url]
    portal_settings = override_settings(
        CONTENT_SECURITY_POLICY=csp,
        HUB_URL=hub_url,
        HUB_API_URL=hub.api_url,
        PORTAL_URL=live_server.url,
        HUB_SERVICE_TOKEN=portal_token,
        CULLER_SERVICE_TOKEN=culler_token,
        ADMISSION_PREFIX=f"test-hub-{secrets.token_hex(4)}:",  # the Redis is shared
        HUB_OAUTH_REDIRECT_URI=live_server.url + "/accounts/callback",
        HUB_DEV_SIGNIN=False,
        CATALOG_SOURCE=hub_content.url,
        CATALOG_BRANCH=hub_content.branch,
        LAUNCH_REPO_URL="",
        LAUNCH_MIRROR_DIR=data / "launch" / "content.git",  # one for the session: clones keep their origin
        ALLOWED_HOSTS=["*"],
    )
    portal_settings.enable()
    try:
        yield hub
    finally:
        portal_settings.disable()
        os.killpg(proc.pid, signal.SIGTERM)  # the hub stops its servers and the proxy
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def workshop(hub, hub_content, transactional_db, settings):
    """Sync the catalog from the hub's content repository; return the workshop."""
    from catalog.models import Workshop
    from catalog.sync import catalog_sync

    settings.CATALOG_SOURCE = hub_content.url
    settings.CATALOG_BRANCH = hub_content.branch
    run = catalog_sync(source=hub_content.url, branch=hub_content.branch)
    assert run.status == "ok", json.dumps(run.report, default=str)[:2000]
    return Workshop.objects.get(folder=WORKSHOP)


class Browserless:
    """A person's HTTP session across the portal, the hub and the fake GitHub (one cookie jar)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.http = httpx.Client(follow_redirects=True, timeout=60)

    def close(self) -> None:
        """Close the session."""
        self.http.close()

    def sign_in(self, next_path: str = "/") -> httpx.Response:
        """Click "Sign in with GitHub" on the portal and follow the whole dance."""
        return self.http.get(f"{self.hub.portal_url}/accounts/login", params={"next": next_path})

    def csrf(self) -> str:
        """Return the portal's CSRF token (from its cookie)."""
        # http.cookiejar files "localhost" as "localhost.local": look the cookie up by name.
        return next((c.value for c in self.http.cookies.jar if c.name == "csrftoken"), "") or ""

    def post(self, path: str) -> httpx.Response:
        """Submit a portal form (with its CSRF token), without following the answer."""
        return self.http.post(
            f"{self.hub.portal_url}{path}",
            data={"csrfmiddlewaretoken": self.csrf()},
            follow_redirects=False,
        )

    def launch(self, slug: str) -> str:
        """Press Launch; return the hub link the portal sends the browser to."""
        response = self.post(f"/workshops/{slug}/launch")
        assert response.status_code == 302, response.text[:500]
        return response.headers["location"]

    def pull(self, launch_url: str, user: str) -> str:
        """Do what the hub's and nbgitpuller's pages do in a browser; return the lab URL reached."""
        query = parse_qs(urlsplit(launch_url).query)
        wait_ready(self.hub, user)
        # The browser follows user-redirect into the server, then nbgitpuller's page calls its API.
        page = self.http.get(launch_url)
        assert page.status_code == 200 and "nbgitpuller" in page.text.lower(), page.text[:500]
        api = f"{self.hub.url}/user/{user}/git-pull/api"
        params = {k: query[k][0] for k in ("repo", "branch", "targetpath")}
        with self.http.stream("GET", api, params=params) as stream:
            events = [line for line in stream.iter_lines() if line.startswith("data:")]
        assert any('"finished"' in e for e in events) and not any('"error"' in e for e in events), events
        return f"{self.hub.url}/user/{user}/{query['urlpath'][0]}"


def wait_ready(hub: Hub, user: str, timeout: float = 60) -> None:
    """Wait until the hub says user's server is ready."""
    deadline = time.monotonic() + timeout
    with hub.api() as api:
        while time.monotonic() < deadline:
            server = api.get(f"/users/{user}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.2)
    raise AssertionError(f"{user}'s server is not ready:\n{hub.log.read_text()[-3000:]}")


@pytest.fixture
def person(hub, fake_github) -> Iterator[Browserless]:
    """Return a fresh HTTP session, signing in on GitHub as octocat by default."""
    fake_github.approve_as = "octocat"
    session = Browserless(hub)
    yield session
    session.close()

"""Kernels: a workshop needing a kernel the hub lacks says so, Launch explains it, the learners' image has it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dockerfile
import pytest
import yaml
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from catalog.models import Workshop
from catalog.sync import catalog_sync
from tests.contentrepo import ContentRepo, notebook_bytes, workshop_yml

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "workshops"


@pytest.fixture
def catalog(content_repo: ContentRepo, db) -> ContentRepo:
    """The bundled PowerShell workshop beside a Python one, and a Python workshop with one PowerShell notebook."""
    for file in (SAMPLES / "powershell-101").rglob("*"):
        if file.is_file():
            content_repo.write(f"powershell-101/{file.relative_to(SAMPLES / 'powershell-101')}", file.read_bytes())
    content_repo.add_workshop("python-101", meta={"title": "Python 101", "kernels": ["python3"]})
    content_repo.add_workshop("mixed", meta={"title": "Mixed", "kernels": ["python3"]})
    content_repo.write("mixed/9-Extra.ipynb", notebook_bytes("Extra", kernel="powershell"))
    content_repo.commit("kernels")
    catalog_sync()
    cache.clear()
    return content_repo


class _Hub(BaseHTTPRequestHandler):
    """A stand-in hub API on 127.0.0.1 that records what it is asked (and knows no user)."""

    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.asked.append(self.path)
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": 404, "message": "Not found"}')

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub(settings) -> Iterator[list[str]]:
    """Point the portal at a recording hub API; yield the paths it was asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    _Hub.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.HUB_API_URL = f"http://127.0.0.1:{server.server_port}/hub/api"
    try:
        yield _Hub.asked
    finally:
        server.shutdown()
        server.server_close()


def test_workshops_know_every_kernel_their_notebooks_need(catalog: ContentRepo) -> None:
    """The metadata's kernels come first, then any other a notebook asks for."""
    assert Workshop.objects.get(folder="mixed").kernels == ["python3", "powershell"]
    assert Workshop.objects.get(folder="powershell-101").kernels == ["powershell"]


def test_card_and_page_say_when_the_hub_lacks_a_kernel(catalog: ContentRepo, settings) -> None:
    """On the embedded default (python3 only) the PowerShell workshop says it runs locally only."""
    settings.HUB_KERNELS = ["python3"]
    client = Client()
    index = client.get("/workshops/?sort=title").content.decode()
    assert index.count("Runs on your own machine only: needs PowerShell") == 2  # powershell-101 and mixed
    page = client.get("/workshops/powershell-101/").content.decode()
    assert 'id="kernel-notice"' in page and "needs the PowerShell kernel" in page
    assert 'id="launch-unavailable"' in page and 'id="signin-to-launch"' not in page
    python = client.get("/workshops/python-101/").content.decode()
    assert "kernel-notice" not in python and 'id="signin-to-launch"' in python


def test_no_notice_where_the_hub_offers_the_kernel(catalog: ContentRepo, settings) -> None:
    """With the container image's kernels (HUB_KERNELS=python3,powershell), nothing to say."""
    settings.HUB_KERNELS = ["python3", "powershell"]
    page = Client().get("/workshops/powershell-101/").content.decode()
    assert "kernel-notice" not in page and 'id="signin-to-launch"' in page


def test_launch_explains_instead_of_opening_a_notebook_without_kernel(catalog: ContentRepo, settings, hub) -> None:
    """Launch of a workshop whose kernel the hub lacks: a page saying why, and no server asked for."""
    settings.HUB_KERNELS = ["python3"]
    client = Client()
    client.force_login(User.objects.create_user("octocat"))
    response = client.post("/workshops/powershell-101/launch")
    body = response.content.decode()
    assert response.status_code == 409 and 'id="kernel-unavailable"' in body
    assert "<strong>PowerShell</strong> kernel" in body and "No server was started" in body
    assert "/workshops/powershell-101/download.zip" in body
    assert hub == []  # the hub was never asked: no server started

    settings.HUB_KERNELS = ["python3", "powershell"]
    client.post("/workshops/powershell-101/launch")
    assert hub == ["/hub/api/users/octocat"]  # with the kernel offered, Launch goes to the hub


# --- the learners' image (validated here: no Docker engine on this machine) -----------------

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


def _stages() -> dict[str, list[dockerfile.Command]]:
    """Parse the Dockerfile with BuildKit's parser; return its stages by name, in order."""
    stages: dict[str, list[dockerfile.Command]] = {}
    current: list[dockerfile.Command] = []
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        assert command.cmd.upper() in INSTRUCTIONS, command.original
        if command.cmd.upper() == "FROM":
            value = command.value
            assert len(value) == 3 and value[1].upper() == "AS", "every stage is named"
            current = stages.setdefault(value[2], [])
        current.append(command)
    return stages


def test_the_learners_image_has_powershell_and_its_kernel() -> None:
    """Target singleuser: PowerShell from Microsoft's packages and the powershell kernel; the portal is the default."""
    stages = _stages()
    assert list(stages) == ["singleuser", "portal"]  # the last stage is what a plain `docker build` makes
    runs = " ".join(" ".join(c.value) for c in stages["singleuser"] if c.cmd.upper() == "RUN")
    assert (
        "https://packages.microsoft.com/config/ubuntu/" in runs
        and "install -y --no-install-recommends powershell" in runs
    )
    assert "powershell_kernel" in runs and "python -m powershell_kernel.install" in runs and "nbgitpuller" in runs
    copies = [c.value for c in stages["singleuser"] if c.cmd.upper() == "COPY"]
    assert ("hubconfig/singleuser", "/app/hubconfig/singleuser") in copies  # where JUPYTER_CONFIG_PATH points
    assert stages["portal"][-1].cmd.upper() == "CMD" and "portal.webserver" in stages["portal"][-1].value


def test_compose_builds_the_learners_image_and_the_hub_spawns_it() -> None:
    """Compose builds both targets; the hub's DockerSpawner runs the learners' image; the portal knows its kernels."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    learner = services["singleuser"]
    assert learner["build"] == {"context": ".", "target": "singleuser"}
    assert services["hub"]["environment"]["SINGLEUSER_IMAGE"] == learner["image"]
    assert services["hub"]["depends_on"]["singleuser"] == {"condition": "service_completed_successfully"}
    assert services["portal"]["build"]["target"] == "portal"
    assert services["portal"]["environment"]["HUB_KERNELS"].split(",") == ["python3", "powershell"]
    values = yaml.safe_load((ROOT / "hubconfig" / "z2jh-values.yaml").read_text())
    assert values["singleuser"]["image"]["name"].endswith("/notebooks-portal-singleuser")


def test_a_workshop_yml_kernel_list_is_still_read(content_repo: ContentRepo, db) -> None:
    """Declared kernels that no notebook uses stay listed (a workshop may describe what it needs)."""
    content_repo.add_workshop("declared")
    content_repo.write("declared/workshop.yml", workshop_yml(title="Declared", kernels=["python3", "bash"]))
    content_repo.commit("declared")
    catalog_sync()
    assert Workshop.objects.get(folder="declared").kernels == ["python3", "bash"]

"""Learners pull from a copy of the content repository on the host, at the commit the catalog
published: forty launches do not fetch from GitHub forty times."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from catalog.models import Workshop
from catalog.sync import catalog_sync
from portal.launch import workshop_launch_url
from tests.contentrepo import ContentRepo

pytestmark = pytest.mark.django_db


def _head(repo: Path, branch: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", f"refs/heads/{branch}"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_sync_moves_the_launch_mirror_and_the_launch_link_names_it(content_repo: ContentRepo, settings, tmp_path):
    settings.LAUNCH_REPO_URL = ""
    mirror = settings.LAUNCH_MIRROR_DIR = tmp_path / "launch" / "content.git"
    content_repo.add_workshop("redfish-basics")
    first = content_repo.commit("initial")
    workshop_link = f"{settings.HUB_URL}/hub/user-redirect/git-pull?repo="

    catalog_sync()
    assert _head(mirror, content_repo.branch) == first
    assert (mirror / "HEAD").stat().st_mode & 0o004  # learners (other Linux users) can read it
    link = workshop_launch_url(workshop=Workshop.objects.get(folder="redfish-basics"))
    assert link.startswith(workshop_link + quote(mirror.resolve().as_uri(), safe=""))

    # A learner's clone from it has the workshop, at that commit.
    clone = tmp_path / "learner"
    subprocess.run(["git", "clone", "--quiet", "-b", content_repo.branch, mirror.as_uri(), str(clone)], check=True)
    assert (clone / "redfish-basics" / "0-Part0.ipynb").is_file()

    # A push moves it only once the catalog has read it (the webhook's sync).
    content_repo.write("redfish-basics/2-More.ipynb", (clone / "redfish-basics" / "0-Part0.ipynb").read_bytes())
    second = content_repo.commit("more")
    assert _head(mirror, content_repo.branch) == first
    catalog_sync()
    assert _head(mirror, content_repo.branch) == second


def test_without_a_published_mirror_or_with_a_configured_url_the_link_names_the_source(
    content_repo: ContentRepo, settings, tmp_path
):
    content_repo.add_workshop("redfish-basics")
    content_repo.commit("initial")
    settings.LAUNCH_MIRROR_DIR = None  # containers: the servers cannot see the host's path
    catalog_sync()
    workshop = Workshop.objects.get(folder="redfish-basics")
    assert "repo=" + quote(Path(content_repo.url).as_uri(), safe="") in workshop_launch_url(workshop=workshop)
    settings.LAUNCH_MIRROR_DIR = tmp_path / "launch" / "content.git"
    settings.LAUNCH_REPO_URL = "https://git.example.test/content.git"
    catalog_sync(force=True)
    assert "repo=" + quote("https://git.example.test/content.git", safe="") in workshop_launch_url(workshop=workshop)

"""Fixtures shared by every test: real git content repositories and isolated caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contentrepo import ContentRepo


@pytest.fixture(autouse=True)
def _isolated_cache(settings, tmp_path: Path) -> None:
    """Give each test its own clone cache and var dir, so tests never share git state."""
    settings.CATALOG_CACHE_DIR = tmp_path / "cache"
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()


@pytest.fixture
def content_repo(tmp_path: Path, settings) -> ContentRepo:
    """Return an empty real content repository that the catalog syncs from."""
    repo = ContentRepo(tmp_path / "content")
    settings.CATALOG_SOURCE = repo.url
    settings.CATALOG_BRANCH = repo.branch
    return repo

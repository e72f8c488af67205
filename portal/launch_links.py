"""The nbgitpuller launch link, built only from catalog and settings values (pure functions)."""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from urllib.parse import quote, urlencode


def puller_repo_url(*, configured: str, source: str) -> str:
    """Return the URL nbgitpuller pulls from: the configured one, else the catalog source.

    A local path becomes a file:// URL, which nbgitpuller clones like any other.
    """
    if configured:
        return configured
    if "://" in source or source.startswith("git@"):
        return source
    return PurePosixPath(os.path.abspath(source)).as_uri()


def lab_urlpath_build(*, target_dir: str, folder: str, notebook: str) -> str:
    """Return JupyterLab's path to a workshop's notebook, each path segment URL-encoded.

    `?reset` makes JupyterLab start from a clean workspace: the learner sees exactly this
    notebook, not tabs (or a "select kernel" dialog) restored from an earlier workshop.
    """
    parts = [p for p in f"{target_dir}/{folder}/{notebook}".split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("a launch path never climbs out of the learner's home")
    return "lab/tree/" + "/".join(quote(part, safe="") for part in parts) + "?reset"


def lab_fill_urlpath_build(*, target_dir: str, folder: str, urlpath: str) -> str:
    """Return the server path that fills the learner's copy of the workshop with their lab values
    (hubconfig/labext.py: `portal-lab/fill`), then goes on to urlpath."""
    parts = [p for p in f"{target_dir}/{folder}".split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("a launch path never climbs out of the learner's home")
    return "portal-lab/fill?" + urlencode({"dir": "/".join(parts), "next": urlpath})


def launch_url_build(
    *, hub_url: str, repo: str, branch: str, target_dir: str, folder: str, notebook: str, fill: bool = False
) -> str:
    """Return the hub link that pulls the content repository and opens the workshop's notebook
    (through `portal-lab/fill` first when fill: the workshop has per-learner values)."""
    urlpath = lab_urlpath_build(target_dir=target_dir, folder=folder, notebook=notebook)
    if fill:
        urlpath = lab_fill_urlpath_build(target_dir=target_dir, folder=folder, urlpath=urlpath)
    query = urlencode({"repo": repo, "branch": branch, "targetpath": target_dir, "urlpath": urlpath})
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"

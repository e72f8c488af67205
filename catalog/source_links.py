"""Links to the content repository's web pages (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

_GITHUB = re.compile(
    r"^(?:https?://|git@|ssh://git@)(?P<host>[^/:]+)[/:](?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$"
)


def repo_web_url(*, source: str, configured: str = "") -> str:
    """Return the repository's web address: the configured one, else derived from a forge URL."""
    if configured:
        return configured.rstrip("/")
    match = _GITHUB.match(source.strip())
    if not match or match["host"] in ("localhost", "127.0.0.1"):
        return ""
    return f"https://{match['host']}/{match['owner']}/{match['repo']}"


@dataclass(frozen=True)
class SourceLinks:
    """Where to read, edit and report a problem with a workshop."""

    tree: str
    edit: str
    issue: str


def source_links(
    *, web_url: str, branch: str, commit: str, folder: str, title: str, first_file: str = ""
) -> SourceLinks | None:
    """Build view / suggest-an-edit / report-a-problem links for a workshop, if the forge is known."""
    if not web_url:
        return None
    ref = commit or branch
    edit_target = f"{folder}/{first_file}" if first_file else folder
    issue_query = urlencode(
        {
            "title": f"[{folder}] ",
            "body": f"Workshop: {title}\nFolder: {folder}\nCommit: {commit}\n\nWhat went wrong:\n",
            "labels": "workshop",
        }
    )
    return SourceLinks(
        tree=f"{web_url}/tree/{quote(ref)}/{quote(folder)}",
        edit=f"{web_url}/edit/{quote(branch)}/{quote(edit_target)}",
        issue=f"{web_url}/issues/new?{issue_query}",
    )

"""Launch badges and deep links for sharing a workshop (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlencode

BADGE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="128" height="20" role="img" aria-label="launch: workshop">
<title>launch: workshop</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="128" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="53" height="20" fill="#555"/><rect x="53" width="75" height="20" fill="#01a982"/><rect width="128" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="26.5" y="15" fill="#010101" fill-opacity=".3">launch</text><text x="26.5" y="14">launch</text>
<text x="89.5" y="15" fill="#010101" fill-opacity=".3">workshop</text><text x="89.5" y="14">workshop</text></g>
</svg>
"""  # noqa: E501 - an SVG document, kept readable as one element per line


@dataclass(frozen=True)
class NotebookLinks:
    """Where to read one notebook, and where to launch the workshop opened at it."""

    path: str
    title: str
    preview: str
    launch: str


@dataclass(frozen=True)
class ShareSnippets:
    """What a workshop page offers for READMEs, slides and blog posts."""

    workshop_url: str
    launch_url: str
    badge_url: str
    markdown: str
    html: str
    rst: str
    notebooks: list[NotebookLinks]


def share_snippets(*, portal_url: str, slug: str, title: str, notebooks: list[tuple[str, str]]) -> ShareSnippets:
    """Build launch badges (Markdown, HTML, reStructuredText) and per-notebook deep links."""
    base = portal_url.rstrip("/")
    workshop_url = f"{base}/workshops/{quote(slug)}/"
    launch_url = f"{workshop_url}#launch"
    badge_url = f"{base}/badge.svg"
    alt = f"Launch the {title} workshop"
    md_alt = alt.replace("\\", "").replace("[", "\\[").replace("]", "\\]")
    image = f'<img src="{escape(badge_url)}" alt="{escape(alt)}">'
    return ShareSnippets(
        workshop_url=workshop_url,
        launch_url=launch_url,
        badge_url=badge_url,
        markdown=f"[![{md_alt}]({badge_url})]({launch_url})",
        html=f'<a href="{escape(launch_url)}">{image}</a>',
        rst=f".. image:: {badge_url}\n   :alt: {alt}\n   :target: {launch_url}",
        notebooks=[
            NotebookLinks(
                path=path,
                title=nb_title,
                preview=f"{workshop_url}notebooks/{quote(path)}",
                launch=f"{workshop_url}?{urlencode({'notebook': path})}#launch",
            )
            for path, nb_title in notebooks
        ],
    )

"""Make untrusted HTML and Markdown safe to show in the portal's origin."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from copy import deepcopy
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import nh3
from markdown_it import MarkdownIt

_TAGS = set(nh3.ALLOWED_TAGS) | {
    "div", "span", "pre", "code", "img", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
    "caption", "colgroup", "col", "details", "summary", "figure", "figcaption", "hr", "br",
    "sup", "sub", "kbd", "samp", "var", "mark", "del", "ins", "s", "u", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "ul", "ol", "li", "em", "strong",
}  # fmt: skip
_ATTRIBUTES = deepcopy(nh3.ALLOWED_ATTRIBUTES)
for _tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
    _ATTRIBUTES.setdefault(_tag, set()).add("id")
_ATTRIBUTES.setdefault("img", set()).update({"src", "alt", "title", "width", "height"})
_ATTRIBUTES.setdefault("a", set()).update({"href", "title"})
_ATTRIBUTES.setdefault("td", set()).update({"colspan", "rowspan", "align"})
_ATTRIBUTES.setdefault("th", set()).update({"colspan", "rowspan", "align", "scope"})
_ATTRIBUTES.setdefault("*", set()).update({"class", "style"})
# Presentational properties only: no position, no url() anywhere (nh3 drops values it rejects).
_STYLE_PROPERTIES = {
    "color", "background-color", "text-align", "font-weight", "font-style",
    "text-decoration", "vertical-align", "white-space", "border", "border-collapse",
    "padding", "margin", "width", "max-width",
}  # fmt: skip
_SCHEMES = {"http", "https", "mailto", "data"}

SrcResolver = Callable[[str], str | None]


def _is_external(url: str) -> bool:
    """Tell whether url has a scheme or host of its own (is not relative to the notebook)."""
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc) or url.startswith(("#", "/"))


def _attribute_filter(resolve_src: SrcResolver | None) -> Callable[[str, str, str], str | None]:
    """Build nh3's per-attribute hook: data: only for images, relative files resolved."""

    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr not in ("src", "href"):
            if attr == "style" and "url(" in value.lower():
                return None  # style must never fetch anything
            return value
        lowered = value.strip().lower()
        if lowered.startswith("data:"):
            return value if tag == "img" and lowered.startswith("data:image/") else None
        if resolve_src is not None and not _is_external(value):
            return resolve_src(value)
        return value

    return keep


def html_sanitize(html: str, *, resolve_src: SrcResolver | None = None) -> str:
    """Return html with everything that could run script removed."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "template", "svg", "math"},
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        attribute_filter=_attribute_filter(resolve_src),
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer nofollow",
    )


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """Return the Markdown renderer: CommonMark plus tables and strikethrough, raw HTML kept."""
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])


def markdown_render(text: str, *, resolve_src: SrcResolver | None = None) -> str:
    """Render Markdown to sanitised HTML."""
    return html_sanitize(_markdown().render(text or ""), resolve_src=resolve_src)


def relative_resolver(*, targets: dict[str, str], notebook_dir: str) -> SrcResolver:
    """Resolve links relative to a notebook through targets (path in folder -> portal URL)."""

    def resolve(url: str) -> str | None:
        path_part, _, fragment = url.partition("#")
        path_part = unquote(path_part.split("?", 1)[0])
        target = posixpath.normpath(posixpath.join(notebook_dir, path_part)) if path_part else ""
        if target in targets:
            return targets[target] + (f"#{fragment}" if fragment else "")
        return url  # unknown relative targets stay as written (validation reports them)

    return resolve

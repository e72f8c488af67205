"""Make untrusted HTML and Markdown safe to show in the portal's origin.

Everything a notebook or a description brings goes through `html_sanitize` (nh3, the Rust
ammonia sanitiser): an allow-list of HTML and MathML elements and attributes, http(s) and
data:image URLs only, no script, no event handler, no style that fetches. Ids the content
brings are namespaced (`ID_PREFIX`) and so are its `#fragment` links, so a notebook's anchors
keep working without ever clashing with the page's own ids.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Callable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import nh3
from markdown_it import MarkdownIt

# Every id that content brings starts with this; no id of the portal's own pages does.
ID_PREFIX = "nb-"

# MathML Core (what Chromium and Firefox render natively), as latex2mathml writes it. No
# href (MathML 3 allowed it on any element), no <maction>, no <annotation-xml> (it can hold
# HTML, an mXSS vector).
_MATHML_TAGS = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace",
    "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover",
    "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose", "merror",
    "mmultiscripts", "mprescripts", "none",
}  # fmt: skip
_MATHML_ATTRIBUTES = {
    "display", "displaystyle", "scriptlevel", "mathvariant", "mathsize", "mathcolor",
    "mathbackground", "stretchy", "fence", "separator", "form", "lspace", "rspace", "minsize",
    "maxsize", "movablelimits", "accent", "accentunder", "largeop", "symmetric",
    "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines",
    "rowlines", "frame", "width", "height", "depth", "voffset", "notation", "encoding",
    "linebreak", "columnspan", "rowspan",
}  # fmt: skip

_TAGS = set(nh3.ALLOWED_TAGS) | _MATHML_TAGS | {
    "div", "span", "pre", "code", "img", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
    "caption", "colgroup", "col", "details", "summary", "figure", "figcaption", "hr", "br",
    "sup", "sub", "kbd", "samp", "var", "mark", "del", "ins", "s", "u", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "ul", "ol", "li", "em", "strong",
}  # fmt: skip
_ATTRIBUTES = deepcopy(nh3.ALLOWED_ATTRIBUTES)
for _tag in _MATHML_TAGS:
    _ATTRIBUTES.setdefault(_tag, set()).update(_MATHML_ATTRIBUTES)
_ATTRIBUTES.setdefault("img", set()).update({"src", "alt", "title", "width", "height"})
_ATTRIBUTES.setdefault("a", set()).update({"href", "title", "name"})
_ATTRIBUTES.setdefault("td", set()).update({"colspan", "rowspan", "align"})
_ATTRIBUTES.setdefault("th", set()).update({"colspan", "rowspan", "align", "scope"})
_ATTRIBUTES.setdefault("*", set()).update({"class", "style", "id"})
# Presentational properties only: no position, no url() anywhere (nh3 drops values it rejects).
_STYLE_PROPERTIES = {
    "color", "background-color", "text-align", "font-weight", "font-style",
    "text-decoration", "vertical-align", "white-space", "border", "border-collapse",
    "padding", "margin", "width", "max-width",
}  # fmt: skip
# attachment: is let through to the attribute filter, which turns it into a data: image or drops it.
_SCHEMES = {"http", "https", "mailto", "data", "attachment"}

SrcResolver = Callable[[str], str | None]


def _is_external(url: str) -> bool:
    """Tell whether url has a scheme or host of its own (is not relative to the notebook)."""
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc) or url.startswith(("#", "/"))


def id_namespaced(value: str) -> str:
    """Return the page id that content's id (or #fragment target) value becomes."""
    return ID_PREFIX + value


def _attachment_uri(value: str, attachments: Mapping[str, Mapping[str, object]]) -> str | None:
    """Return a data: URI for an attachment:name URL of a cell, or None if it has no image by that name."""
    bundle = attachments.get(unquote(value.strip()[len("attachment:") :]))
    if not isinstance(bundle, Mapping):
        return None
    for mime, data in bundle.items():
        if isinstance(mime, str) and mime.startswith("image/") and isinstance(data, str | list):
            encoded = "".join(data) if isinstance(data, list) else data
            if mime == "image/svg+xml":  # stored as text, not base64
                encoded = base64.b64encode(encoded.encode()).decode()
            return f"data:{mime};base64,{''.join(encoded.split())}"
    return None


def _attribute_filter(
    resolve_src: SrcResolver | None, attachments: Mapping[str, Mapping[str, object]] | None
) -> Callable[[str, str, str], str | None]:
    """Build nh3's per-attribute hook: data: only for images, attachments inlined, ids namespaced."""

    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr == "id" or (attr == "name" and tag == "a"):
            return id_namespaced(value) if value else None
        if attr not in ("src", "href"):
            if attr == "style" and "url(" in value.lower():
                return None  # style must never fetch anything
            return value
        lowered = value.strip().lower()
        if lowered.startswith("attachment:"):
            value = (_attachment_uri(value, attachments) if attachments else None) or ""
            lowered = value
            if not value:
                return None
        if lowered.startswith("data:"):
            return value if tag == "img" and lowered.startswith("data:image/") else None
        if lowered.startswith("#"):
            return "#" + id_namespaced(value[1:]) if len(value) > 1 else value
        if resolve_src is not None and not _is_external(value):
            return resolve_src(value)
        return value

    return keep


def html_sanitize(
    html: str,
    *,
    resolve_src: SrcResolver | None = None,
    attachments: Mapping[str, Mapping[str, object]] | None = None,
) -> str:
    """Return html with everything that could run script removed.

    resolve_src maps URLs relative to the notebook to portal URLs; attachments (a cell's
    `attachments`: name -> {mime: base64}) turn `attachment:name` images into data: URIs.
    """
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "template", "svg"},
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        attribute_filter=_attribute_filter(resolve_src, attachments),
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


@dataclass(frozen=True)
class RelativeResolver:
    """Resolve links relative to a notebook through targets (path in folder -> portal URL).

    A class rather than a closure so that it can be sent to a rendering process (pickled).
    """

    targets: dict[str, str] = field(default_factory=dict)
    notebook_dir: str = ""

    def __call__(self, url: str) -> str | None:
        """Return the portal URL for url, or url itself when it names no file of the workshop."""
        path_part, _, fragment = url.partition("#")
        path_part = unquote(path_part.split("?", 1)[0])
        target = posixpath.normpath(posixpath.join(self.notebook_dir, path_part)) if path_part else ""
        if target in self.targets:
            if fragment and target.endswith(".ipynb"):
                fragment = id_namespaced(fragment)  # the other preview namespaces its ids too
            return self.targets[target] + (f"#{fragment}" if fragment else "")
        return url  # unknown relative targets stay as written (validation reports them)


def relative_resolver(*, targets: dict[str, str], notebook_dir: str) -> SrcResolver:
    """Resolve links relative to a notebook through targets (path in folder -> portal URL)."""
    return RelativeResolver(targets=targets, notebook_dir=notebook_dir)

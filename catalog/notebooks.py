"""Read, check and render notebooks (pure functions: bytes in, results out)."""

from __future__ import annotations

import base64
import json
import re
from copy import deepcopy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import nbformat
from markdown_it import MarkdownIt
from nbconvert import HTMLExporter

from catalog.sanitize import SrcResolver, html_sanitize


class NotebookError(ValueError):
    """A notebook that cannot be published, with a reason a maintainer can act on."""


@dataclass(frozen=True)
class Heading:
    """One Markdown heading of a notebook."""

    level: int
    text: str
    anchor: str


@dataclass
class ParsedNotebook:
    """A notebook that passed the checks."""

    node: Any
    title: str | None
    headings: list[Heading] = field(default_factory=list)
    kernel: str = ""


def notebook_parse(raw: bytes, *, name: str, max_bytes: int) -> ParsedNotebook:
    """Check raw notebook bytes (size, JSON, nbformat 4, schema) and pull out its outline."""
    if len(raw) > max_bytes:
        raise NotebookError(
            f"{name}: {len(raw) / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB limit "
            "(clear large outputs before committing)"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookError(f"{name}: not UTF-8 text, so not a notebook") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{name}: JSON but not a notebook (no 'cells')")
    major = data.get("nbformat")
    if major != 4:
        raise NotebookError(
            f"{name}: nbformat {major} is not supported; open and save it with Jupyter to upgrade it to nbformat 4"
        )
    try:
        # reads() (not from_dict) also joins multi-line sources stored as lists.
        node = nbformat.reads(raw.decode("utf-8"), as_version=nbformat.NO_CONVERT)
        nbformat.validate(node)
    except nbformat.ValidationError as exc:
        first = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
        raise NotebookError(f"{name}: not a valid nbformat 4 notebook ({first})") from None
    headings = notebook_headings(node)
    title = next((h.text for h in headings if h.level == 1), None) or (headings[0].text if headings else None)
    kernel = (node.get("metadata", {}).get("kernelspec") or {}).get("name", "")
    return ParsedNotebook(node=node, title=title, headings=headings, kernel=str(kernel))


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """Return the CommonMark parser that finds headings here and links in the linter (built once)."""
    return MarkdownIt("commonmark")


def markdown_sources(node: Any) -> list[str]:
    """Return the sources of a notebook's Markdown cells, in order."""
    sources = []
    for cell in node.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else source)
    return sources


def heading_anchor(text: str) -> str:
    """Return the id nbconvert gives a heading (spaces become dashes)."""
    return re.sub(r"\s+", "-", text.strip())


def notebook_headings(node: Any) -> list[Heading]:
    """List the Markdown headings of a notebook in order."""
    found: list[Heading] = []
    for source in markdown_sources(node):
        tokens = markdown_parser().parse(source)
        for i, token in enumerate(tokens):
            if token.type == "heading_open" and i + 1 < len(tokens):
                text = re.sub(r"\s+", " ", tokens[i + 1].content).strip()
                text = re.sub(r"[*_`]", "", text)
                if text:
                    found.append(Heading(int(token.tag[1]), text[:200], heading_anchor(text)))
    return found


@lru_cache(maxsize=1)
def _exporter() -> HTMLExporter:
    """Return nbconvert's body-only HTML exporter (the page supplies the styles)."""
    return HTMLExporter(template_name="basic")


def _svg_outputs_as_images(node: Any) -> Any:
    """Turn inline SVG outputs into data: images, which cannot run script."""
    copy = deepcopy(node)
    for cell in copy.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            svg = data.pop("image/svg+xml", None)
            if svg is not None and not {"image/png", "text/html"} & set(data):
                svg_text = "".join(svg) if isinstance(svg, list) else str(svg)
                encoded = base64.b64encode(svg_text.encode()).decode()
                data["text/html"] = f'<img src="data:image/svg+xml;base64,{encoded}" alt="figure">'
    return copy


def notebook_render(parsed: ParsedNotebook, *, resolve_src: SrcResolver | None = None) -> str:
    """Render a checked notebook to sanitised preview HTML."""
    body, _ = _exporter().from_notebook_node(_svg_outputs_as_images(parsed.node))
    return html_sanitize(body, resolve_src=resolve_src)

"""Read and check notebooks (pure functions: bytes in, results out); catalog.render renders them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import nbformat
from markdown_it import MarkdownIt

from catalog.render import heading_anchor, markdown_headings


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


def notebook_headings(node: Any) -> list[Heading]:
    """List the Markdown headings of a notebook in order, as plain text (the preview gives the final anchors)."""
    return [
        Heading(level, text, heading_anchor(text))
        for source in markdown_sources(node)
        for level, text in markdown_headings(source)
    ]

"""Read and check notebooks (pure functions: bytes in, results out); catalog.render renders them.

Reading accepts what JupyterLab opens: schema faults that nbformat repairs (missing or
duplicate cell ids, invalid metadata) and fields a cell type does not have (a Markdown cell
carrying `outputs` and `execution_count` after an editor turned a code cell into Markdown)
are repaired, the way JupyterLab drops them on save, and reported as warnings. Only what
Jupyter refuses fails: not JSON, not nbformat 4, a notebook still invalid after repair.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import nbformat
from markdown_it import MarkdownIt
from nbformat import validator

from catalog.notices import NOTEBOOK, TEMPLATE, Notice
from catalog.render import heading_anchor, markdown_headings
from catalog.templating import DEFAULT_LIMITS, template_render


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
    """A notebook that passed the checks (repaired and its template rendered, when it is one).

    changed: the node differs from the committed bytes (repaired or rendered), so what is
    published is the node written out again. placeholders: template names shown as ‹NAME›.
    """

    node: Any
    title: str | None
    headings: list[Heading] = field(default_factory=list)
    kernel: str = ""
    warnings: list[Notice] = field(default_factory=list)
    placeholders: frozenset[str] = frozenset()
    changed: bool = False


# nbformat's validator assumes some shapes before it validates (asserts, indexing, hashing ids):
# on content from a repository, anything it raises means "not a notebook Jupyter opens".
_INVALID = (Exception,)


@lru_cache(maxsize=8)
def _schema(minor: int) -> dict[str, Any]:
    """Return nbformat's own JSON schema for nbformat 4.minor (the newest it knows for later ones)."""
    name = nbformat.v4.nbformat_schema.get((4, minor)) or nbformat.v4.nbformat_schema[(None, None)]
    return json.loads(resources.files("nbformat.v4").joinpath(name).read_text())


def _fields_dropped(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, int]:
    """Drop the fields the schema does not allow where it lists them; count cells per (type, field)."""
    definitions = schema["definitions"]
    dropped: dict[str, int] = {}
    for key in [k for k in data if k not in schema["properties"]]:
        del data[key]
        dropped[f"notebook field '{key}'"] = 1
    cells = data.get("cells")
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        allowed = definitions.get(f"{kind}_cell", {}).get("properties") if isinstance(kind, str) else None
        if allowed is None:
            continue  # an unknown cell type: the validation says so
        extra = sorted(k for k in cell if k not in allowed)
        for key in extra:
            del cell[key]
        if extra:
            label = f"{', '.join(extra)} on {kind.capitalize()} cells"
            dropped[label] = dropped.get(label, 0) + 1
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            if not isinstance(output, dict):
                continue
            known = definitions.get(str(output.get("output_type")), {}).get("properties")
            if known:
                for key in [k for k in output if k not in known]:
                    del output[key]
                    dropped[f"output field '{key}'"] = dropped.get(f"output field '{key}'", 0) + 1
    return dropped


def _valid(data: dict[str, Any]) -> bool:
    """Tell whether a notebook dict is valid as it stands (cell ids present and unique, where 4.5+ has them)."""
    cells = data.get("cells")
    if not isinstance(cells, list):
        return False
    if isinstance(data.get("nbformat_minor"), int) and data["nbformat_minor"] >= 5:
        ids = [c.get("id") if isinstance(c, dict) else None for c in cells]
        if not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
            return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(data)
    except _INVALID:
        return False
    return True


def notebook_repair(data: dict[str, Any], *, name: str) -> list[Notice]:
    """Repair a notebook dict in place as Jupyter would read it; return what was repaired.

    Fields a cell or output type does not have are dropped (JupyterLab ignores them and drops
    them on save); then nbformat's own normalize() gives missing or duplicate cell ids new
    ones and strips invalid metadata.
    """
    minor = data.get("nbformat_minor") if isinstance(data.get("nbformat_minor"), int) else 0
    notices = []
    dropped = _fields_dropped(data, _schema(minor))
    if dropped:
        parts = ", ".join(f"{label} ({count})" if count > 1 else label for label, count in dropped.items())
        notices.append(Notice(name, f"repaired as JupyterLab reads it: dropped {parts}", kind=NOTEBOOK))
    ids_before = [c.get("id") if isinstance(c, dict) else None for c in data.get("cells") or []]
    metadata_before = json.dumps(
        [data.get("metadata")] + [c.get("metadata") for c in data.get("cells") or [] if isinstance(c, dict)],
        sort_keys=True,
        default=str,
    )
    try:
        with warnings.catch_warnings():  # nbformat warns about what it repairs: reported here instead
            warnings.simplefilter("ignore")
            _, normalized = validator.normalize(data, version=4, version_minor=minor, strip_invalid_metadata=True)
        data.clear()
        data.update(normalized)  # normalize() works on a copy
    except _INVALID:
        return notices  # the validation that follows names the fault
    ids_after = [c.get("id") if isinstance(c, dict) else None for c in data.get("cells") or []]
    new_ids = sum(1 for a, b in zip(ids_before, ids_after, strict=False) if a != b)
    if new_ids:
        notices.append(Notice(name, f"repaired: {new_ids} cell(s) had a missing or duplicate id", kind=NOTEBOOK))
    metadata_after = json.dumps(
        [data.get("metadata")] + [c.get("metadata") for c in data.get("cells") or [] if isinstance(c, dict)],
        sort_keys=True,
        default=str,
    )
    if metadata_after != metadata_before:
        notices.append(Notice(name, "repaired: invalid metadata was removed", kind=NOTEBOOK))
    return notices


# Characters a notebook's template may add in all (values filled in): bounds the published size.
TEMPLATE_GROWTH_CHARS = 4_000_000


@dataclass
class _Budget:
    """What rendering one notebook's texts has found and may still add."""

    values: Mapping[str, Any]
    growth_left: int = TEMPLATE_GROWTH_CHARS
    shown: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _text_rendered(value: Any, budget: _Budget) -> Any:
    """Render one source or text output (a string, or the list of lines nbformat may keep)."""
    text = "".join(value) if isinstance(value, list) else value
    if not isinstance(text, str):
        return value
    limits = replace(
        DEFAULT_LIMITS, max_output_chars=min(DEFAULT_LIMITS.max_output_chars, len(text) + budget.growth_left)
    )
    result = template_render(text=text, values=budget.values, limits=limits)
    budget.growth_left -= max(0, len(result.text) - len(text))
    budget.shown.update(result.placeholders)
    if result.problem:
        budget.problems.append(result.problem)
    return result.text if result.text != text else value


def notebook_template_render(
    node: Any, *, values: Mapping[str, Any], name: str
) -> tuple[bool, frozenset[str], list[Notice]]:
    """Render every cell source and text output of a notebook node in place (catalog.templating).

    Return (changed, placeholders shown, warnings).
    """
    budget = _Budget(values=values)
    changed = False
    for cell in node.get("cells", []):
        rendered = _text_rendered(cell.get("source", ""), budget)
        if rendered is not cell.get("source", ""):
            cell["source"], changed = rendered, True
        for output in cell.get("outputs", []) or []:
            if "text" in output:
                rendered = _text_rendered(output["text"], budget)
                if rendered is not output["text"]:
                    output["text"], changed = rendered, True
            data = output.get("data") or {}
            for mime in [m for m in data if m.startswith("text/")]:
                rendered = _text_rendered(data[mime], budget)
                if rendered is not data[mime]:
                    data[mime], changed = rendered, True
    shown, problems = budget.shown, budget.problems
    notices = []
    if problems:
        notices.append(
            Notice(
                name,
                f"template could not be rendered ({problems[0]}); its tags were left out"
                + (f", and in {len(problems) - 1} more cell(s)" if len(problems) > 1 else ""),
                kind=TEMPLATE,
            )
        )
    return changed, frozenset(shown), notices


def notebook_parse(
    raw: bytes,
    *,
    name: str,
    max_bytes: int,
    templates: bool = False,
    template_values: Mapping[str, Any] | None = None,
) -> ParsedNotebook:
    """Check raw notebook bytes (size, JSON, nbformat 4, schema), repair what Jupyter repairs,
    render its template (when templates) and pull out its outline from the result.

    Raise NotebookError when Jupyter itself would refuse the notebook.
    """
    if len(raw) > max_bytes:
        raise NotebookError(
            f"{name}: {len(raw) / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB limit "
            "(clear large outputs before committing)"
        )
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NotebookError(f"{name}: not UTF-8 text, so not a notebook") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise NotebookError(f"{name}: JSON nested too deeply to be a notebook") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{name}: JSON but not a notebook (no 'cells')")
    major = data.get("nbformat")
    if major != 4:
        raise NotebookError(
            f"{name}: nbformat {major} is not supported; open and save it with Jupyter to upgrade it to nbformat 4"
        )
    notices: list[Notice] = []
    if not isinstance(data.get("cells"), list):
        raise NotebookError(f"{name}: not a valid nbformat 4 notebook ('cells' is not a list)")
    if not _valid(data):  # most notebooks are: one validation, no copy
        notices = notebook_repair(data, name=name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nbformat.validate(data)
        except _INVALID as exc:
            first = (str(getattr(exc, "message", None) or exc) or type(exc).__name__).splitlines()[0]
            raise NotebookError(f"{name}: not a valid nbformat 4 notebook ({first[:200]})") from None
    try:
        node = nbformat.v4.to_notebook_json(data)  # joins multi-line sources kept as lists
    except _INVALID as exc:
        raise NotebookError(f"{name}: not a valid nbformat 4 notebook ({type(exc).__name__})") from None
    placeholders: frozenset[str] = frozenset()
    rendered = False
    if templates:
        rendered, placeholders, template_notices = notebook_template_render(
            node, values=template_values or {}, name=name
        )
        notices += template_notices
    headings = notebook_headings(node)
    title = next((h.text for h in headings if h.level == 1), None) or (headings[0].text if headings else None)
    kernel = (node.get("metadata", {}).get("kernelspec") or {}).get("name", "")
    return ParsedNotebook(
        node=node,
        title=title,
        headings=headings,
        kernel=str(kernel),
        warnings=notices,
        placeholders=placeholders,
        changed=bool(notices and any(n.kind == NOTEBOOK for n in notices)) or rendered,
    )


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

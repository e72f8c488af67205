"""Turn the files of one workshop folder into a publishable draft (pure: no database)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from catalog.metadata import METADATA_FILES, MetadataError, WorkshopInfo, metadata_parse
from catalog.notebooks import NotebookError, notebook_parse, notebook_render
from catalog.sanitize import markdown_render, relative_resolver

# Bump when parsing or rendering changes, so the next sync re-renders every workshop.
PARSER_VERSION = 1


class WorkshopError(ValueError):
    """A workshop folder that cannot be published; problems are shown to maintainers."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class NotebookDraft:
    """A notebook ready to store."""

    path: str
    position: int
    title: str
    headings: list[dict[str, Any]]
    kernel: str
    preview_html: str
    size: int


@dataclass
class WorkshopDraft:
    """A workshop ready to store: metadata, notebooks in order, and every file."""

    folder: str
    info: WorkshopInfo
    title: str
    description_html: str
    notebooks: list[NotebookDraft]
    files: dict[str, bytes]
    warnings: list[str] = field(default_factory=list)

    @property
    def search_text(self) -> str:
        """Return the text that full-text search looks through."""
        headings = " ".join(h["text"] for nb in self.notebooks for h in nb.headings)
        info = self.info
        return " ".join(
            [self.title, info.summary, info.description, " ".join(info.tags),
             " ".join(info.products), " ".join(info.kernels), headings]
        )  # fmt: skip


def natural_key(name: str) -> list[Any]:
    """Sort key that puts 2-x before 10-x."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_workshop_notebook(path: str) -> bool:
    """Tell whether path is a notebook of the workshop's sequence (top level, not a checkpoint)."""
    return path.endswith(".ipynb") and "/" not in path


def _is_url(value: str) -> bool:
    """Tell whether value is an absolute http(s) URL."""
    return value.startswith(("http://", "https://"))


def _metadata(folder: str, files: dict[str, bytes]) -> WorkshopInfo:
    """Parse the folder's metadata file, or return defaults when there is none."""
    for name in METADATA_FILES:
        if name in files:
            try:
                text = files[name].decode("utf-8")
            except UnicodeDecodeError:
                raise MetadataError(name, ["not UTF-8 text"]) from None
            return metadata_parse(filename=name, text=text)
    return WorkshopInfo()


def _ordered(notebook_paths: list[str], order: list[str] | None) -> tuple[list[str], list[str]]:
    """Order notebooks by the metadata's order then by name; return (ordered, problems)."""
    by_name = sorted(notebook_paths, key=natural_key)
    if not order:
        return by_name, []
    missing = [name for name in order if name not in notebook_paths]
    problems = [f"workshop.yml: field 'order' lists '{name}', which is not in the folder" for name in missing]
    listed = [name for name in order if name in notebook_paths]
    return listed + [p for p in by_name if p not in listed], problems


def workshop_build(
    *,
    folder: str,
    files: dict[str, bytes],
    base_url: str,
    max_notebook_bytes: int,
    max_file_bytes: int,
) -> WorkshopDraft | None:
    """Check and render one workshop folder; None if the folder holds no workshop at all."""
    files = {p: b for p, b in files.items() if ".ipynb_checkpoints/" not in p}
    notebook_paths = [p for p in files if is_workshop_notebook(p)]
    has_metadata = any(name in files for name in METADATA_FILES)
    if not notebook_paths and not has_metadata:
        return None
    problems: list[str] = []
    warnings: list[str] = []
    try:
        info = _metadata(folder, files)
    except MetadataError as exc:
        raise WorkshopError([str(exc)]) from None
    if not notebook_paths:
        raise WorkshopError(["no notebooks (*.ipynb) at the top of the folder"])
    ordered, order_problems = _ordered(notebook_paths, info.order)
    problems += order_problems
    if info.image and not _is_url(info.image) and posixpath.normpath(info.image) not in files:
        field_name = "workshopImg" if info.metadata_format == "wod.yml" else "image"
        problems.append(f"{info.metadata_format}: field '{field_name}': file '{info.image}' not found")

    stored: dict[str, bytes] = {}
    for path, content in files.items():
        if len(content) > max_file_bytes and not path.endswith(".ipynb"):
            warnings.append(f"{path}: {len(content) / 1e6:.1f} MB, over the file limit; not published")
        else:
            stored[path] = content

    targets = {p: f"{base_url}files/{quote(p)}" for p in stored}
    targets.update({p: f"{base_url}notebooks/{quote(p)}" for p in notebook_paths})
    notebooks: list[NotebookDraft] = []
    for position, path in enumerate(ordered):
        try:
            parsed = notebook_parse(files[path], name=path, max_bytes=max_notebook_bytes)
        except NotebookError as exc:
            problems.append(str(exc))
            continue
        html = notebook_render(
            parsed, resolve_src=relative_resolver(targets=targets, notebook_dir=posixpath.dirname(path))
        )
        notebooks.append(
            NotebookDraft(
                path=path,
                position=position,
                title=parsed.title or path.removesuffix(".ipynb"),
                headings=[{"level": h.level, "text": h.text, "anchor": h.anchor} for h in parsed.headings],
                kernel=parsed.kernel,
                preview_html=html,
                size=len(files[path]),
            )
        )
    if problems:
        raise WorkshopError(problems)

    title = info.title or notebooks[0].title or folder
    description_html = markdown_render(
        info.description, resolve_src=relative_resolver(targets=targets, notebook_dir="")
    )
    if not info.kernels:
        kernels = sorted({nb.kernel for nb in notebooks if nb.kernel})
        info = WorkshopInfo(**{**info.__dict__, "kernels": kernels})
    return WorkshopDraft(
        folder=folder,
        info=info,
        title=title,
        description_html=description_html,
        notebooks=notebooks,
        files=stored,
        warnings=warnings,
    )

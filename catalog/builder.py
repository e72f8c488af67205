"""Read the files of one workshop folder into a plan, and render a plan into a draft (pure: no database)."""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import nbformat

from catalog.metadata import MetadataError, WorkshopInfo, metadata_file, metadata_load
from catalog.notebooks import NotebookError, ParsedNotebook, notebook_parse
from catalog.notices import IMAGE, TEMPLATE, Notice
from catalog.render import RenderBudget, RenderedNotebook
from catalog.render_pool import RenderJob, notebooks_render_start
from catalog.sanitize import markdown_render, relative_resolver
from catalog.templating import placeholder

# Bump when parsing or rendering changes, so the next sync re-renders every workshop.
# 2: the git reader leaves out refused names and never-read oversized files; templates, repairs.
# 3: previews rendered by catalog.render (MathML, ANSI, raw cells, attachments, widgets, anchors).
# 4: the per-learner lab (`lab:` in workshop.yml / wod.yml, Workshop.lab).
PARSER_VERSION = 4
# Workshops whose notebooks render ahead while the sync stores the current one.
RENDER_AHEAD = 8


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
    placeholders: list[str] = field(default_factory=list)  # template names shown as ‹NAME›

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


def is_workshop_folder(name: str) -> bool:
    """Tell whether a top-level folder of the content repository can hold a workshop."""
    return not name.startswith((".", "_"))


def is_workshop_notebook(path: str) -> bool:
    """Tell whether path is a notebook of the workshop's sequence (top level, not a checkpoint)."""
    return path.endswith(".ipynb") and "/" not in path


def workshop_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """Return a folder's files without Jupyter's checkpoints (never published, never checked)."""
    return {p: b for p, b in files.items() if ".ipynb_checkpoints/" not in p}


def holds_workshop(files: dict[str, bytes]) -> bool:
    """Tell whether a folder's files make a workshop: a top-level notebook or a metadata file."""
    return any(is_workshop_notebook(p) for p in files) or metadata_file(files) is not None


def _is_url(value: str) -> bool:
    """Tell whether value is an absolute http(s) URL."""
    return value.startswith(("http://", "https://"))


def _ordered(notebook_paths: list[str], order: list[str] | None) -> tuple[list[str], list[str]]:
    """Order notebooks by the metadata's order then by name; return (ordered, problems)."""
    by_name = sorted(notebook_paths, key=natural_key)
    if not order:
        return by_name, []
    missing = [name for name in order if name not in notebook_paths]
    problems = [f"workshop.yml: field 'order' lists '{name}', which is not in the folder" for name in missing]
    listed = [name for name in order if name in notebook_paths]
    return listed + [p for p in by_name if p not in listed], problems


@dataclass
class WorkshopPlan:
    """What a workshop folder holds and what stops it being published, before any rendering.

    The sync renders a plan without problems; the linter reports every problem of a plan, so a
    folder that passes validation is one the sync publishes.
    """

    folder: str
    files: dict[str, bytes]  # checkpoints left out
    metadata_name: str | None
    info: WorkshopInfo  # as declared (defaults when there is no metadata or it is broken)
    metadata_error: MetadataError | None
    notebook_paths: list[str]  # the workshop's order
    notebooks: dict[str, ParsedNotebook]  # those that parsed
    notebook_errors: dict[str, str]  # path -> problem
    layout_problems: list[str]  # no notebooks, an 'order' naming a missing notebook
    stored: dict[str, bytes]  # the files to publish (notebooks as repaired and rendered)
    warnings: list[Notice] = field(default_factory=list)  # published anyway, with a default
    placeholders: frozenset[str] = frozenset()  # template names shown as ‹NAME›
    oversized: dict[str, int] = field(default_factory=dict)  # path -> bytes: files too large to read
    skipped: list[str] = field(default_factory=list)  # entries the reader left out (refused names)

    @property
    def problems(self) -> list[str]:
        """Return what stops the sync publishing the folder (empty when it can be published)."""
        if self.metadata_error is not None:
            return [str(self.metadata_error)]  # the rest depends on the metadata (its 'order')
        unreadable = [self.notebook_errors[p] for p in self.notebook_paths if p in self.notebook_errors]
        return self.layout_problems + unreadable


def plan_unreadable(*, folder: str, problem: str) -> WorkshopPlan:
    """Return the plan of a folder the reader could not list: nothing but its problem."""
    return WorkshopPlan(
        folder=folder,
        files={},
        metadata_name=None,
        info=WorkshopInfo(),
        metadata_error=None,
        notebook_paths=[],
        notebooks={},
        notebook_errors={},
        layout_problems=[problem],
        stored={},
    )


def _image_checked(info: WorkshopInfo, files: dict[str, bytes], *, external_images: bool) -> WorkshopInfo:
    """Keep the card image only if it can be shown: a file of the folder, or an allowed URL.

    Otherwise the workshop gets the default card and a warning: an image is cosmetic.
    """
    if not info.image:
        return info
    name = "workshopImg" if info.metadata_format == "wod.yml" else "image"
    line = info.lines.get(name)
    if _is_url(info.image):
        if external_images:
            return info
        problem = f"'{info.image[:80]}' is on another site, and CATALOG_EXTERNAL_IMAGES is off (visitors' privacy)"
    elif posixpath.normpath(info.image) in files:
        return info
    else:
        problem = f"file '{info.image}' not found"
    notice = Notice(info.metadata_format, f"field '{name}': {problem}; the default card is used", line, IMAGE)
    return WorkshopInfo(**{**info.__dict__, "image": "", "warnings": [*info.warnings, notice]})


def workshop_plan(
    *,
    folder: str,
    files: dict[str, bytes],
    max_notebook_bytes: int,
    max_file_bytes: int,
    oversized: Mapping[str, int] | None = None,
    skipped: Sequence[str] = (),
    template_values: Mapping[str, Any] | None = None,
    external_images: bool = True,
    categories: Collection[str] | None = None,
) -> WorkshopPlan | None:
    """Read one workshop folder (metadata, notebook order, notebooks, files to store); None if no workshop.

    oversized: files the reader left unread for their size (path -> bytes): an oversized
    notebook or metadata file fails the workshop, any other is left out with a warning.
    skipped: the reader's warnings about entries it left out (names git refuses).
    template_values: the site's values for Workshops-on-Demand templates (they win over the
    workshop's own template_values). external_images: whether a card image may be a URL on
    another site. categories: the tags the catalog knows (None: any).
    """
    files = workshop_files(files)
    too_big = {p: n for p, n in (oversized or {}).items() if ".ipynb_checkpoints/" not in p}
    present = {**files, **dict.fromkeys(too_big, b"")}  # every file, read or not
    if not holds_workshop(present):
        return None
    site_values = dict(template_values or {})
    name = metadata_file(present)
    info, metadata_error = WorkshopInfo(), None
    if name in too_big:
        too_large = f"{too_big[name] / 1e6:.1f} MB is over the {max_file_bytes / 1e6:.1f} MB limit"
        metadata_error = MetadataError(name, [too_large])
    elif name is not None:
        try:
            info = metadata_load(filename=name, raw=files[name], site_values=site_values, categories=categories)
        except MetadataError as exc:
            metadata_error = exc
    info = _image_checked(info, present, external_images=external_images)
    notebook_paths, layout_problems = _ordered([p for p in present if is_workshop_notebook(p)], info.order)
    if not notebook_paths:
        layout_problems = ["no notebooks (*.ipynb) at the top of the folder"]

    values = {**info.template_values, **site_values}
    notebooks: dict[str, ParsedNotebook] = {}
    notebook_errors: dict[str, str] = {}
    warnings: list[Notice] = list(info.warnings)
    placeholders = set(info.placeholders)
    for path in notebook_paths:
        if path in too_big:  # same words as notebook_parse's size check
            notebook_errors[path] = (
                f"{path}: {too_big[path] / 1e6:.1f} MB is over the {max_notebook_bytes / 1e6:.1f} MB limit "
                "(clear large outputs before committing)"
            )
            continue
        try:
            parsed = notebook_parse(
                files[path], name=path, max_bytes=max_notebook_bytes, templates=info.templates, template_values=values
            )
        except NotebookError as exc:
            notebook_errors[path] = str(exc)
            continue
        notebooks[path] = parsed
        warnings += parsed.warnings
        placeholders |= parsed.placeholders
    if placeholders:
        shown = ", ".join(placeholder(p) for p in sorted(placeholders))
        message = f"template values known only per learner (or not set for the site) are shown as {shown}"
        warnings.append(Notice(name or notebook_paths[0], message, kind=TEMPLATE))

    stored: dict[str, bytes] = {}
    warnings += [Notice("", warning, kind="paths") for warning in skipped]
    for path, size in too_big.items():
        if path != name and path not in notebook_paths:
            warnings.append(Notice(path, f"{size / 1e6:.1f} MB, over the file limit; not published", kind="size"))
    for path, content in files.items():
        if path in notebooks and notebooks[path].changed:
            stored[path] = nbformat.writes(notebooks[path].node).encode()  # repaired and rendered
        elif len(content) > max_file_bytes and not path.endswith(".ipynb"):
            warnings.append(
                Notice(path, f"{len(content) / 1e6:.1f} MB, over the file limit; not published", kind="size")
            )
        else:
            stored[path] = content
    return WorkshopPlan(
        folder=folder,
        files=files,
        metadata_name=name,
        info=info,
        metadata_error=metadata_error,
        notebook_paths=notebook_paths,
        notebooks=notebooks,
        notebook_errors=notebook_errors,
        layout_problems=layout_problems,
        stored=stored,
        warnings=warnings,
        placeholders=frozenset(placeholders),
        oversized=too_big,
        skipped=list(skipped),
    )


def workshop_render_start(
    plan: WorkshopPlan, *, base_url: str, budget: RenderBudget | None = None
) -> Callable[[], WorkshopDraft]:
    """Queue a plan's notebooks on the rendering processes; return the function that finishes the draft.

    Notebooks render in parallel in killable processes (render_pool) within budget (cells,
    outputs, bytes, seconds, memory); a cut or missing preview says so on the page and in
    the draft's warnings. Raises WorkshopError for a plan with problems.
    """
    if plan.problems:
        raise WorkshopError(plan.problems)
    targets = {p: f"{base_url}files/{quote(p)}" for p in plan.stored}
    targets.update({p: f"{base_url}notebooks/{quote(p)}" for p in plan.notebook_paths})
    jobs = [
        RenderJob(
            name=path,
            node=plan.notebooks[path].node,
            resolve_src=relative_resolver(targets=targets, notebook_dir=posixpath.dirname(path)),
        )
        for path in plan.notebook_paths
    ]
    previews = notebooks_render_start(jobs=jobs, budget=budget)
    return lambda: _draft(plan, previews(), targets)


def workshop_render(plan: WorkshopPlan, *, base_url: str, budget: RenderBudget | None = None) -> WorkshopDraft:
    """Render a plan without problems into a publishable draft (previews, description)."""
    return workshop_render_start(plan, base_url=base_url, budget=budget)()


def workshops_render(
    plans: Iterable[tuple[str, WorkshopPlan | None, str]], *, ahead: int = RENDER_AHEAD
) -> Iterator[tuple[str, WorkshopDraft | None, list[str] | None]]:
    """Yield (folder, draft or None, problems or None) for (folder, plan, base_url), in order.

    The notebooks of the next `ahead` workshops render in the pool while the caller stores
    the current one, so a full sync keeps every core busy. A plan of None (no workshop) gives
    (folder, None, None); a plan with problems gives them.
    """
    pending: deque[tuple[str, Callable[[], WorkshopDraft] | None, list[str] | None]] = deque()
    for folder, plan, base_url in plans:
        if plan is None or plan.problems:
            pending.append((folder, None, plan.problems if plan is not None else None))
        else:
            pending.append((folder, workshop_render_start(plan, base_url=base_url), None))
        while len(pending) > ahead:
            folder_done, finish, problems = pending.popleft()
            yield folder_done, finish() if finish else None, problems
    while pending:
        folder_done, finish, problems = pending.popleft()
        yield folder_done, finish() if finish else None, problems


def _draft(plan: WorkshopPlan, previews: list[RenderedNotebook], targets: dict[str, str]) -> WorkshopDraft:
    """Assemble a draft from a plan and its notebooks' previews."""
    warnings = [str(w) for w in plan.warnings]
    notebooks: list[NotebookDraft] = []
    for position, (path, rendered) in enumerate(zip(plan.notebook_paths, previews, strict=True)):
        parsed = plan.notebooks[path]
        warnings += [f"{path}: {notice}" for notice in rendered.notices]
        notebooks.append(
            NotebookDraft(
                path=path,
                position=position,
                title=parsed.title or path.removesuffix(".ipynb"),
                headings=[{"level": h.level, "text": h.text, "anchor": h.anchor} for h in rendered.headings],
                kernel=parsed.kernel,
                preview_html=rendered.html,
                size=len(plan.stored[path]),
            )
        )
    info = plan.info
    title = info.title or notebooks[0].title or plan.folder
    description_html = markdown_render(
        info.description, resolve_src=relative_resolver(targets=targets, notebook_dir="")
    )
    # The kernels the metadata declares, then any other a notebook asks for (Launch checks them all).
    notebook_kernels = sorted({nb.kernel for nb in notebooks if nb.kernel} - set(info.kernels))
    if notebook_kernels:
        info = WorkshopInfo(**{**info.__dict__, "kernels": [*info.kernels, *notebook_kernels]})
    return WorkshopDraft(
        folder=plan.folder,
        info=info,
        title=title,
        description_html=description_html,
        notebooks=notebooks,
        files=plan.stored,
        warnings=warnings,
        placeholders=sorted(plan.placeholders),
    )

"""Validate workshops: one report for pull requests (catalog.github_pulls), the command and CI."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.builder import WorkshopPlan, is_workshop_folder
from catalog.gitrepo import GitError, GitReader, git_reader, path_refusal, path_shown
from catalog.lint import ERROR, WARNING, Finding, Limits, lint_plan, workshop_lint
from catalog.models import ValidationRun


@dataclass(frozen=True)
class Snapshot:
    """The files of some workshop folders at one commit (or in a working tree)."""

    commit: str
    folders: dict[str, dict[str, bytes]]
    repo_paths: frozenset[str]
    oversized: dict[str, dict[str, int]] = field(default_factory=dict)  # folder -> path -> bytes, unread
    skipped: dict[str, list[str]] = field(default_factory=dict)  # folder -> entries left out, why


def validation_limits() -> Limits:
    """Return the check limits from settings."""
    outputs = settings.VALIDATION_OUTPUTS if settings.VALIDATION_OUTPUTS in (ERROR, WARNING) else WARNING
    return Limits(
        max_notebook_bytes=settings.CATALOG_MAX_NOTEBOOK_BYTES,
        max_file_bytes=settings.CATALOG_MAX_FILE_BYTES,
        hub_kernels=tuple(settings.HUB_KERNELS),
        documented_kernels=tuple(settings.HUB_KERNELS_DOCUMENTED),
        outputs_severity=outputs,
        template_values=tuple(sorted(settings.CATALOG_TEMPLATE_VALUES.items())),
        external_images=settings.CATALOG_EXTERNAL_IMAGES,
        categories=tuple(settings.CATALOG_CATEGORIES) or None,
    )


def snapshot_from_git(*, reader: GitReader, commit: str, folders: Iterable[str] | None = None) -> Snapshot:
    """Read the given folders (default: every workshop folder) of commit from a fetched cache."""
    present = [name for name in reader.folders(commit) if is_workshop_folder(name)]
    wanted = sorted(present if folders is None else [f for f in folders if f in present])
    snapshot = Snapshot(commit=commit, folders={}, repo_paths=frozenset(reader.paths(commit)))
    for folder, read in reader.folder_files_read(commit=commit, folders=wanted, max_bytes=_max_read_bytes()):
        if read.error:
            raise GitError(read.error)
        snapshot.folders[folder] = read.files
        snapshot.oversized[folder] = read.oversized
        snapshot.skipped[folder] = read.warnings
    return snapshot


def _max_read_bytes() -> int:
    """Return the size over which a file is never read (over every limit, so never published)."""
    return max(settings.CATALOG_MAX_NOTEBOOK_BYTES, settings.CATALOG_MAX_FILE_BYTES)


def snapshot_from_directory(*, root: Path, folders: Iterable[str] | None = None) -> Snapshot:
    """Read workshop folders from a working tree on disk (a CI checkout)."""
    repo_paths: set[str] = set()
    grouped: dict[str, dict[str, bytes]] = {}
    oversized: dict[str, dict[str, int]] = {}
    skipped: dict[str, list[str]] = {}
    wanted = set(folders) if folders is not None else None
    max_bytes = _max_read_bytes()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            rel = Path(dirpath, name).relative_to(root).as_posix()
            top, _, inner = rel.partition("/")
            if reason := path_refusal(rel):
                if inner and is_workshop_folder(top):
                    skipped.setdefault(top, []).append(f"{path_shown(inner)}: skipped: {reason}")
                continue
            repo_paths.add(rel)
            if not (inner and is_workshop_folder(top) and (wanted is None or top in wanted)):
                continue
            # As git stores them: a symbolic link is its target, never followed; sizes before reading.
            path, files = Path(dirpath, name), grouped.setdefault(top, {})
            size = path.lstat().st_size
            if path.is_symlink():
                files[inner] = os.readlink(path).encode()
            elif not path.is_file():
                skipped.setdefault(top, []).append(f"{path_shown(inner)}: skipped: not a regular file")
            elif size > max_bytes:
                oversized.setdefault(top, {})[inner] = size
            else:
                with path.open("rb") as stream:
                    files[inner] = stream.read(max_bytes + 1)  # bounded even if it grew since lstat
    return Snapshot(
        commit="",
        folders=dict(sorted(grouped.items())),
        repo_paths=frozenset(repo_paths),
        oversized=oversized,
        skipped=skipped,
    )


def workshops_validate(*, snapshot: Snapshot, limits: Limits) -> dict[str, Any]:
    """Check every folder of snapshot; return the report (per workshop, per notebook)."""
    workshops, skipped = [], []
    for folder, files in snapshot.folders.items():
        plan = lint_plan(
            folder=folder,
            files=files,
            limits=limits,
            oversized=snapshot.oversized.get(folder),
            skipped=snapshot.skipped.get(folder, ()),
        )
        if plan is None:
            skipped.append(folder)
            continue
        findings = workshop_lint(plan=plan, repo_paths=snapshot.repo_paths, limits=limits)
        workshops.append(_workshop_report(plan=plan, findings=findings))
    errors = sum(w["errors"] for w in workshops)
    warnings = sum(w["warnings"] for w in workshops)
    return {
        "commit": snapshot.commit,
        "summary": {
            "workshops": len(workshops),
            "failed": sum(1 for w in workshops if w["errors"]),
            "errors": errors,
            "warnings": warnings,
        },
        "workshops": workshops,
        "skipped": skipped,
    }


def _workshop_report(*, plan: WorkshopPlan, findings: list[Finding]) -> dict[str, Any]:
    """Group one workshop's findings: per notebook, and the rest at workshop level."""
    folder = plan.folder
    notebook_paths = sorted(plan.notebook_paths)
    per_notebook = {p: [] for p in notebook_paths}
    other = []
    for finding in findings:
        inner = finding.file.removeprefix(f"{folder}/")
        per_notebook.get(inner, other).append(finding.as_dict())
    return {
        "folder": folder,
        "title": (plan.info.title or folder)[:200],  # the metadata's title when it is valid
        "errors": sum(1 for f in findings if f.severity == ERROR),
        "warnings": sum(1 for f in findings if f.severity == WARNING),
        "findings": other,
        "notebooks": [{"path": p, "findings": per_notebook[p]} for p in notebook_paths],
    }


def report_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a report's findings, workshop-level first then notebook by notebook."""
    flat = []
    for workshop in report.get("workshops", []):
        flat += workshop["findings"]
        for notebook in workshop["notebooks"]:
            flat += notebook["findings"]
    return flat


def report_state(report: dict[str, Any]) -> tuple[str, str]:
    """Return the commit status (state, description of at most 140 characters) for a report."""
    summary = report["summary"]
    if not summary["workshops"]:
        return ValidationRun.State.SUCCESS, "No workshop changed"
    if summary["errors"]:
        first = next(f for f in report_findings(report) if f["severity"] == ERROR)
        counts = f"{summary['errors']} error(s) in {summary['failed']}/{summary['workshops']}"
        counts += " workshop(s)"
        text = f"{counts}: {first['message']}"
        return ValidationRun.State.FAILURE, text if len(text) <= 140 else text[:139] + "…"
    warned = f", {summary['warnings']} warning(s)" if summary["warnings"] else ""
    return ValidationRun.State.SUCCESS, f"{summary['workshops']} workshop(s) valid{warned}"


def source_validate(*, source: str, ref: str | None = None, folders: Iterable[str] | None = None) -> dict[str, Any]:
    """Validate a working tree on disk, or a git source at ref (default: the catalog branch)."""
    path = Path(source)
    if path.is_dir() and ref is None and not (path / "HEAD").is_file():
        return workshops_validate(
            snapshot=snapshot_from_directory(root=path, folders=folders), limits=validation_limits()
        )
    reader = git_reader(source=str(path.resolve()) if path.exists() else source)
    commit = reader.fetch_ref(ref=ref or settings.CATALOG_BRANCH)
    snapshot = snapshot_from_git(reader=reader, commit=commit, folders=folders)
    return workshops_validate(snapshot=snapshot, limits=validation_limits())

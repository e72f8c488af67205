"""Validate pull requests on GitHub: the workshops a pull request touches, as commit statuses."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from github import GithubException

from catalog.builder import is_workshop_folder
from catalog.github_client import GitHubNotConfigured, github_client
from catalog.gitrepo import GitError, git_reader
from catalog.models import ValidationRun
from catalog.validation import (
    report_state,
    snapshot_from_git,
    validation_limits,
    workshops_validate,
)

log = logging.getLogger(__name__)


def validation_url(run: ValidationRun) -> str:
    """Return the portal page of a validation run (the status's target URL)."""
    return settings.PORTAL_URL + reverse("github:validation", kwargs={"pk": run.pk})


def _status_post(repo: Any, run: ValidationRun, state: str, description: str) -> None:
    """Post a commit status on the run's head commit and remember which state was sent."""
    if repo is None:
        return
    repo.get_commit(run.head_sha).create_status(
        state=state,
        target_url=validation_url(run),
        description=description[:140],
        context=settings.GITHUB_STATUS_CONTEXT,
    )
    run.status_posted = state
    run.save(update_fields=["status_posted"])


def _touched_folders(pull: Any) -> list[str]:
    """Return the top-level folders a pull request changes (renames count on both sides)."""
    folders = set()
    for changed in pull.get_files():
        for name in (changed.filename, getattr(changed, "previous_filename", None)):
            if name and "/" in name and is_workshop_folder(name.split("/", 1)[0]):
                folders.add(name.split("/", 1)[0])
    return sorted(folders)


def _github_repo(run: ValidationRun) -> Any:
    """Return the PyGithub repository to post on, or None when GitHub is not configured."""
    try:
        client = github_client(lazy=True)  # statuses and PR files need no repository GET first
    except GitHubNotConfigured as exc:
        log.warning("validation %s: not posting statuses: %s", run.pk, exc)
        return None
    return client.get_repo(run.repository)


def pull_request_validate(*, run_id: int) -> str:
    """Validate the workshops a pull request touches at its head; post pending, then the result."""
    run = ValidationRun.objects.get(pk=run_id)
    if run.state != ValidationRun.State.PENDING and run.status_posted == run.state:
        return run.state  # a redelivered task: the result is already on GitHub
    repo = _github_repo(run)
    try:
        _status_post(repo, run, "pending", "Validating the workshops this pull request changes…")
        if repo is not None and run.pull_number is not None:
            run.folders = _touched_folders(repo.get_pull(run.pull_number))
        reader = git_reader()
        ref = f"refs/pull/{run.pull_number}/head" if run.pull_number else run.head_sha
        commit = reader.fetch_ref(ref=ref, commit=run.head_sha)
        folders = run.folders if repo is not None else None
        report = workshops_validate(
            snapshot=snapshot_from_git(reader=reader, commit=commit, folders=folders),
            limits=validation_limits(),
        )
        report["removed"] = [
            f for f in run.folders if f not in {w["folder"] for w in report["workshops"]} and f not in report["skipped"]
        ]
        run.report = report
        run.state, run.description = report_state(report)
    except (GitError, GithubException) as exc:
        log.warning("validation %s failed to run: %s", run.pk, exc)
        run.state, run.description = (
            ValidationRun.State.ERROR,
            f"Validation could not run: {exc}"[:140],
        )
        run.report = {"error": str(exc)}
    run.finished_at = timezone.now()
    run.save()
    try:
        _status_post(repo, run, run.state, run.description)
    except GithubException as exc:
        log.error("validation %s: status not posted: %s", run.pk, exc)
        raise
    return run.state

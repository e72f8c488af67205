"""Sync the catalog from the content repository: fetch, compare trees, re-parse what changed.

One sync runs at a time (a lock leased and renewed while it works). Pushes coalesce in a
SyncRequest per branch: one sync waits and reads the newest pushed commit when it starts,
and the commit stays recorded until a sync of it succeeds. catalog_recover closes runs whose
worker died and queues a sync for a pushed commit that no queued sync will read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from catalog.builder import (
    PARSER_VERSION,
    WorkshopDraft,
    is_workshop_folder,
    plan_unreadable,
    workshop_plan,
    workshops_render,
)
from catalog.gitrepo import GitError, GitReader, git_reader
from catalog.models import Notebook, SyncRequest, SyncRun, Workshop, WorkshopFile
from catalog.outbox import outbox_add
from portal.locks import lock_held, singleton_lock

log = logging.getLogger(__name__)

SYNC_LOCK = "catalog-sync"
# Named, not imported (catalog.tasks imports this module); a test checks the name is registered.
SYNC_TASK = "catalog.tasks.catalog_sync_task"
# The longest a sync may hold the lock: its task's hard time limit (catalog.tasks) and a margin.
SYNC_LOCK_MAX = 660
# A queued sync not started after this long, while no sync runs, is taken as lost: queued again.
# Longer than a push sync spends retrying behind a running one (catalog.tasks).
SYNC_WAIT_STALE = timedelta(minutes=15)
RUN_ABANDONED = (
    "The worker running this sync stopped before it finished (its lock lapsed, e.g. the process "
    "was killed); the next sync starts over."
)


@dataclass
class SyncReport:
    """What a sync did, workshop by workshop."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Return the report as JSON-ready data."""
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "warnings": self.warnings,
        }


def _slug_for(folder: str, taken: set[str]) -> str:
    """Return a unique slug for a new workshop folder."""
    base = slugify(folder)[:100] or "workshop"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _needs_parse(workshop: Workshop | None, tree: str, *, force: bool) -> bool:
    """Tell whether a folder must be parsed again."""
    if workshop is None or force or workshop.parser_version != PARSER_VERSION:
        return True
    if tree == workshop.tree_sha:
        return bool(workshop.error)  # back to the published tree: parse once to clear the error
    return tree != workshop.error_tree_sha


def _publish(workshop: Workshop, draft: WorkshopDraft, *, tree: str, commit: str, when: datetime) -> None:
    """Store a good draft as the published version of workshop."""
    info = draft.info
    workshop.title = draft.title[:200]
    workshop.summary = info.summary[:500]
    workshop.description = info.description
    workshop.description_html = draft.description_html
    workshop.tags, workshop.products, workshop.kernels = info.tags, info.products, info.kernels
    workshop.authors, workshop.prerequisites = info.authors, info.prerequisites
    workshop.level = info.level
    workshop.duration_minutes = info.duration_minutes
    workshop.image = info.image
    workshop.active, workshop.featured = info.active, info.featured
    workshop.metadata_format, workshop.extra = info.metadata_format, info.extra
    workshop.lab = info.lab
    workshop.commit_sha, workshop.tree_sha = commit, tree
    workshop.parser_version = PARSER_VERSION
    workshop.content_updated_at = when
    workshop.search_text = draft.search_text
    workshop.warnings, workshop.template_placeholders = draft.warnings, draft.placeholders
    workshop.error, workshop.error_tree_sha, workshop.error_commit_sha = "", "", ""
    workshop.error_at = None
    workshop.published = True
    workshop.save()
    workshop.notebooks.all().delete()
    workshop.files.all().delete()
    Notebook.objects.bulk_create(
        Notebook(
            workshop=workshop,
            path=nb.path,
            position=nb.position,
            title=nb.title[:300],
            headings=nb.headings,
            kernel=nb.kernel,
            preview_html=nb.preview_html,
            size=nb.size,
        )
        for nb in draft.notebooks
    )
    WorkshopFile.objects.bulk_create(
        WorkshopFile(workshop=workshop, path=path, content=content, size=len(content))
        for path, content in draft.files.items()
    )


def _refresh_search_vectors(ids: Iterable[int]) -> None:
    """Recompute the full-text vectors of the given workshops (PostgreSQL only)."""
    ids = list(ids)
    if not ids or connection.vendor != "postgresql":
        return
    # Local: only PostgreSQL keeps search vectors (the early return above covers SQLite).
    from django.contrib.postgres.search import SearchVector

    Workshop.objects.filter(id__in=ids).update(
        search_vector=SearchVector("title", weight="A", config="english")
        + SearchVector("summary", weight="B", config="english")
        + SearchVector("search_text", weight="C", config="english")
    )


def _build(reader: GitReader, commit: str, folders: list[str], slugs: dict[str, str]):
    """Yield (folder, draft or None, problems or None) for each folder, reading blobs in bounded batches.

    Notebooks of the next few folders render in the pool while the current one is stored.
    """
    # A file over both limits is never read: its size comes from the tree (FolderRead.oversized).
    max_bytes = max(settings.CATALOG_MAX_NOTEBOOK_BYTES, settings.CATALOG_MAX_FILE_BYTES)

    def plans():
        for folder, read in reader.folder_files_read(commit=commit, folders=folders, max_bytes=max_bytes):
            if read.error:
                yield folder, plan_unreadable(folder=folder, problem=read.error), ""
                continue
            plan = workshop_plan(
                folder=folder,
                files=read.files,
                max_notebook_bytes=settings.CATALOG_MAX_NOTEBOOK_BYTES,
                max_file_bytes=settings.CATALOG_MAX_FILE_BYTES,
                oversized=read.oversized,
                skipped=read.warnings,
                template_values=settings.CATALOG_TEMPLATE_VALUES,
                external_images=settings.CATALOG_EXTERNAL_IMAGES,
                categories=settings.CATALOG_CATEGORIES or None,
            )
            yield folder, plan, f"/workshops/{slugs[folder]}/"

    yield from workshops_render(plans())


def push_commit_resolve(*, reader: GitReader, head: str, commit: str) -> str:
    """Return the commit a push sync should read: the pushed one, or the branch head if newer.

    Deliveries can be handled out of order; syncing an older push after a newer one (or
    after a force-push) would roll the catalog back. The branch head is the truth unless it
    lags behind the pushed commit (a mirror not caught up yet), when the push wins.
    """
    if head == commit or not reader.has_commit(commit):
        return commit  # not fetched with the branch: commit_ensure asks for it by id
    return commit if reader.is_ancestor(head, commit) else head


def _commit_to_read(reader: GitReader, *, branch: str, commit: str | None, pushed: bool) -> str:
    """Fetch the branch (one git fetch) and return the commit to read: its head, or commit."""
    head = reader.fetch(branch=branch)
    if not commit:
        return head
    if pushed:
        commit = push_commit_resolve(reader=reader, head=head, commit=commit)
    return reader.commit_ensure(commit)


@dataclass
class _Plan:
    """What a sync has to do, decided before any folder is read."""

    slugs: dict[str, str]  # folder -> slug (kept for known workshops, fresh for new folders)
    to_parse: list[str]  # folders to read and build, sorted
    gone: list[Workshop]  # workshops whose folder no longer exists
    report: SyncReport  # unchanged and still-failing workshops already filled in


def _plan(existing: dict[str, Workshop], folders: dict[str, str], *, force: bool) -> _Plan:
    """Decide slugs, which folders to parse, and which workshops are unchanged or still broken."""
    report = SyncReport()
    taken = {w.slug for w in existing.values()}
    slugs = {f: existing[f].slug if f in existing else _slug_for(f, taken) for f in folders}
    to_parse = sorted(f for f, tree in folders.items() if _needs_parse(existing.get(f), tree, force=force))
    for folder, ws in existing.items():
        if folder in folders and folder not in to_parse:
            if ws.error and ws.error_tree_sha == folders[folder]:
                report.failed[ws.slug] = ws.error  # still broken: nothing new to try
            else:
                report.unchanged.append(ws.slug)
    gone = [w for f, w in existing.items() if f not in folders]
    return _Plan(slugs=slugs, to_parse=to_parse, gone=gone, report=report)


def _apply(
    reader: GitReader,
    plan: _Plan,
    *,
    existing: dict[str, Workshop],
    folders: dict[str, str],
    sha: str,
    when: datetime,
) -> None:
    """Build and store each folder to parse (one transaction each), then drop removed workshops."""
    report = plan.report
    touched: list[int] = []
    for folder, draft, problems in _build(reader, sha, plan.to_parse, plan.slugs):
        workshop = existing.get(folder)
        with transaction.atomic():
            if draft is None and problems is None:
                if workshop is not None:  # the folder no longer holds a workshop
                    report.removed.append(workshop.slug)
                    workshop.delete()
                continue
            if workshop is None:
                workshop = Workshop(folder=folder, slug=plan.slugs[folder])
            if problems is not None:
                workshop.error = "\n".join(problems)
                workshop.error_tree_sha, workshop.error_commit_sha = folders[folder], sha
                workshop.error_at = timezone.now()
                if not workshop.pk:
                    workshop.title = folder
                workshop.save()
                report.failed[workshop.slug] = workshop.error
                continue
            is_new = not workshop.published
            _publish(workshop, draft, tree=folders[folder], commit=sha, when=when)
            touched.append(workshop.pk)
            (report.added if is_new else report.updated).append(workshop.slug)
            if draft.warnings:
                report.warnings[workshop.slug] = draft.warnings

    for workshop in plan.gone:
        report.removed.append(workshop.slug)
    Workshop.objects.filter(pk__in=[w.pk for w in plan.gone]).delete()
    _refresh_search_vectors(touched)


def _finish(run: SyncRun, report: SyncReport) -> SyncRun:
    """Record the report and the counts on the run, and close it."""
    run.added, run.updated, run.removed = len(report.added), len(report.updated), len(report.removed)
    run.unchanged, run.failed = len(report.unchanged), len(report.failed)
    run.report = report.as_dict()
    run.status = SyncRun.Status.PARTIAL if report.failed else SyncRun.Status.OK
    run.finished_at = timezone.now()
    run.save()
    return run


def _runs_abandon(runs: QuerySet[SyncRun], *, now: datetime) -> int:
    """Mark runs still "running" as failed with RUN_ABANDONED; return how many."""
    count = runs.filter(status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED, error=RUN_ABANDONED, finished_at=now
    )
    if count:
        log.warning("catalog sync: %d run(s) left running by a worker that died, marked failed", count)
    return count


def _pending_claim(*, branch: str) -> str:
    """Take the newest pushed commit of branch for this sync; "" if none is recorded.

    The waiting mark is cleared: from now on a new push queues a new sync, which waits for
    this one. The commit itself stays until this sync succeeds (_pending_settle).
    """
    with transaction.atomic():
        pending = SyncRequest.objects.select_for_update().filter(branch=branch).first()
        if pending is None:
            return ""
        pending.waiting_since, pending.claimed_at = None, timezone.now()
        pending.save(update_fields=["waiting_since", "claimed_at"])
        return pending.commit


def _pending_settle(*, branch: str, claimed: str, run: SyncRun) -> None:
    """Forget the claimed commit once synced, unless a newer push replaced it meanwhile."""
    if run.status in (SyncRun.Status.OK, SyncRun.Status.PARTIAL):
        SyncRequest.objects.filter(branch=branch, commit=claimed).update(commit="")


def sync_request(*, branch: str, commit: str) -> bool:
    """Record commit as the newest pushed to branch; queue a sync unless one already waits.

    Call it inside the transaction that records the delivery: the push and its sync (through
    the outbox) commit together. Return True if a sync was queued, False if the waiting one will
    read this commit when it starts.
    """
    now = timezone.now()
    with transaction.atomic():
        # The row may not exist yet; concurrent first pushes must not fail on the unique branch.
        SyncRequest.objects.bulk_create([SyncRequest(branch=branch)], ignore_conflicts=True)
        pending = SyncRequest.objects.select_for_update().get(branch=branch)
        pending.commit, pending.pushed_at, pending.pushes = commit, now, pending.pushes + 1
        queue = pending.waiting_since is None
        if queue:
            pending.waiting_since = now
            outbox_add(task=SYNC_TASK, kwargs={"branch": branch, "trigger": "push"})
        pending.save()
    return queue


def catalog_recover(*, now: datetime | None = None, broker_since: datetime | None = None) -> dict[str, int]:
    """Close runs left "running" by a dead worker; queue a sync for pushed commits none will read.

    A run is stale when the sync lock is free: its worker would hold it (the lease lapses within
    LOCK_LEASE_SECONDS of the worker's death). A pushed commit is orphaned when no sync waits for
    it (its sync died, or failed to read the source) or the waiting one has not started within
    SYNC_WAIT_STALE, or was queued before broker_since, when the broker last started (a restart
    loses what it and the workers held in memory: a retry's countdown, a message being handed
    back). A sync queued twice does no harm (the second finds the commit read). Return
    {"reaped": runs closed, "queued": syncs queued}.
    """
    now = now or timezone.now()
    # Listed before the lock is checked: a run started after the check is not among them.
    running = list(SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values_list("pk", flat=True))
    if lock_held(SYNC_LOCK):
        return {"reaped": 0, "queued": 0}  # a sync runs: it reads the pushed commit, or a newer push queued one
    reaped = _runs_abandon(SyncRun.objects.filter(pk__in=running), now=now)
    queued = 0
    with transaction.atomic():
        for pending in SyncRequest.objects.select_for_update().exclude(commit=""):
            waiting = pending.waiting_since
            if (
                waiting is not None
                and waiting > now - SYNC_WAIT_STALE
                and not (broker_since and waiting < broker_since)
            ):
                continue
            log.warning("catalog sync: pushed commit %s of %s had no sync to read it; queued one",
                        pending.commit[:12], pending.branch)  # fmt: skip
            pending.waiting_since = now
            pending.save(update_fields=["waiting_since"])
            outbox_add(task=SYNC_TASK, kwargs={"branch": pending.branch, "trigger": "push"})
            queued += 1
    return {"reaped": reaped, "queued": queued}


def _sync(*, source: str, branch: str, commit: str | None, trigger: str, force: bool) -> SyncRun:
    """Read the repository and update the catalog, recorded as one SyncRun (the lock is held)."""
    previous = (
        SyncRun.objects.filter(status__in=[SyncRun.Status.OK, SyncRun.Status.PARTIAL])
        .order_by("-started_at")
        .values_list("commit_sha", flat=True)
        .first()
    )
    run = SyncRun.objects.create(source=source, branch=branch, trigger=trigger, previous_sha=previous or "")
    try:
        reader = git_reader(source=source)
        try:
            sha = _commit_to_read(reader, branch=branch, commit=commit, pushed=trigger == "push")
            when = reader.commit_info(sha).date
            folders = {name: tree for name, tree in reader.folders(sha).items() if is_workshop_folder(name)}
        except GitError as exc:
            run.status, run.error, run.finished_at = SyncRun.Status.ERROR, str(exc), timezone.now()
            run.save()
            log.warning("catalog sync failed: %s", exc)
            return run
        run.commit_sha = sha
        existing = {w.folder: w for w in Workshop.objects.all()}
        plan = _plan(existing, folders, force=force)
        _apply(reader, plan, existing=existing, folders=folders, sha=sha, when=when)
        _launch_mirror_publish(reader, source=source, branch=branch, sha=sha)
        return _finish(run, plan.report)
    except Exception as error:
        # Soft time limit, a lost database connection, a bug: the run says so instead of "running".
        run.status, run.finished_at = SyncRun.Status.FAILED, timezone.now()
        run.error = f"The sync stopped: {type(error).__name__}: {error}"[:5000]
        with suppress(DatabaseError):
            run.save(update_fields=["status", "finished_at", "error"])
        raise


def _launch_mirror_publish(reader: GitReader, *, source: str, branch: str, sha: str) -> None:
    """Move the launch mirror (settings.LAUNCH_MIRROR_DIR, None: off) to the commit just
    published, for the configured source and branch only. A failure is logged: learners then
    pull the previous commit from it, and the next sync tries again."""
    mirror = settings.LAUNCH_MIRROR_DIR
    if mirror is None or source != settings.CATALOG_SOURCE or branch != settings.CATALOG_BRANCH:
        return
    try:
        reader.publish(sha=sha, branch=branch, target=mirror)
    except GitError as error:
        log.warning("launch mirror not updated to %s: %s", sha[:12], error)


def catalog_sync(
    *,
    source: str | None = None,
    branch: str | None = None,
    commit: str | None = None,
    trigger: str = "manual",
    force: bool = False,
    lock_wait: float = 0,
) -> SyncRun:
    """Bring the catalog to the state of the content repository at branch (or commit).

    One sync at a time: raise LockBusy if another holds the lock for lock_wait seconds. Holding
    it, runs left "running" by a dead worker are closed first. With trigger "push" and no
    commit, the branch's newest pushed commit (SyncRequest) is read, and forgotten once synced;
    with trigger "push" a commit gives way to a newer branch head (push_commit_resolve);
    otherwise a given commit is read as it is, and no commit means the branch head.
    """
    source = source or settings.CATALOG_SOURCE
    branch = branch or settings.CATALOG_BRANCH
    with singleton_lock(SYNC_LOCK, timeout=SYNC_LOCK_MAX, wait=lock_wait):
        _runs_abandon(SyncRun.objects.all(), now=timezone.now())  # the lock is ours: no other run is alive
        claimed = _pending_claim(branch=branch) if trigger == "push" and not commit else ""
        run = _sync(source=source, branch=branch, commit=commit or claimed or None, trigger=trigger, force=force)
        if claimed:
            _pending_settle(branch=branch, claimed=claimed, run=run)
        return run

"""`manage.py sync_catalog`: bring the catalog up to date with the content repository."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.models import SyncRun
from catalog.sync import catalog_sync
from portal.locks import LockBusy


class Command(BaseCommand):
    """Fetch the content repository and print what changed."""

    help = "Sync the workshop catalog from the content repository."

    def add_arguments(self, parser) -> None:
        """Declare --source, --branch, --commit and --force."""
        parser.add_argument("--source", help="git URL or local path (default: CATALOG_SOURCE)")
        parser.add_argument("--branch", help="branch to read (default: CATALOG_BRANCH)")
        parser.add_argument("--commit", help="read this commit instead of the branch head")
        parser.add_argument("--force", action="store_true", help="re-parse every workshop")

    def handle(self, *args, **options) -> None:
        """Run the sync and print its report."""
        try:
            run = catalog_sync(
                source=options["source"],
                branch=options["branch"],
                commit=options["commit"],
                force=options["force"],
            )
        except LockBusy:
            raise CommandError("another sync is running; try again when it has finished") from None
        if run.status == SyncRun.Status.ERROR:
            raise CommandError(f"sync failed: {run.error}")
        report = run.report
        self.stdout.write(f"Synced {run.source} ({run.branch}) at {run.commit_sha[:12]}")
        for label in ("added", "updated", "removed"):
            for slug in report[label]:
                self.stdout.write(f"  {label:9} {slug}")
        for slug, reason in report["failed"].items():
            self.stdout.write(self.style.ERROR(f"  failed    {slug}: {reason}"))
        for slug, notes in report["warnings"].items():
            for note in notes:
                self.stdout.write(self.style.WARNING(f"  warning   {slug}: {note}"))
        self.stdout.write(
            f"added={run.added} updated={run.updated} removed={run.removed} "
            f"unchanged={run.unchanged} failed={run.failed}"
        )

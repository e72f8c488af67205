"""`manage.py sample_repo`: turn the bundled sample workshops into a git repository."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from catalog.samples import SAMPLES_DIR, sample_repo_build


class Command(BaseCommand):
    """Create (or refresh) the sample content repository used by the embedded default."""

    help = "Build the bundled sample workshops into a git repository (default: CATALOG_SOURCE)."

    def add_arguments(self, parser) -> None:
        """Declare the destination."""
        parser.add_argument("--dest", default=settings.CATALOG_SOURCE, help="bare repository path")

    def handle(self, *args, **options) -> None:
        """Build the repository and print where it is."""
        sha = sample_repo_build(source=SAMPLES_DIR, dest=Path(options["dest"]), branch=settings.CATALOG_BRANCH)
        self.stdout.write(f"Sample content repository at {options['dest']} ({sha[:12]})")

"""Full versus incremental sync of a generated repository of 1,000 workshops x 3 notebooks.

Last line: workshops=... full_s=... incremental_s=... incremental_ratio=...
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, django_setup, fresh_database

sys.path.insert(0, str(ROOT))


def main() -> None:
    """Generate, full-sync, change one workshop, incremental-sync, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--workshops", type=int, default=1000)
    parser.add_argument("--database", default="bench_sync", help="scratch database (dropped and made anew)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    env = {"DATABASE_URL": fresh_database(args.database), "PORTAL_IGNORE_DOTENV": "1", "LOG_LEVEL": "WARNING",
           "CATALOG_CACHE_DIR": str(tmp / "cache"), "PORTAL_VAR_DIR": str(tmp / "var")}  # fmt: skip
    django_setup(env)
    from django.core.management import call_command

    from catalog.sync import catalog_sync
    from tests.contentrepo import ContentRepo, notebook_bytes

    call_command("migrate", verbosity=0)
    repo = ContentRepo(tmp / "content")
    for i in range(args.workshops):
        repo.add_workshop(f"workshop-{i:04d}", notebooks=3, meta={"title": f"Workshop {i}", "level": "beginner"})
    repo.commit("generated")

    started = time.perf_counter()
    full = catalog_sync(source=repo.url)
    full_s = time.perf_counter() - started
    assert full.added == args.workshops, full.report

    changed = f"workshop-{args.workshops // 2:04d}"
    repo.write(f"{changed}/1-Part1.ipynb", notebook_bytes("Changed part", "New section"))
    repo.commit("change one workshop")
    started = time.perf_counter()
    incremental = catalog_sync(source=repo.url)
    incremental_s = time.perf_counter() - started
    assert incremental.report["updated"] == [changed], incremental.report
    print(f"full sync: {full_s:.2f} s for {args.workshops} workshops; incremental: {incremental_s:.3f} s")
    print(
        f"workshops={args.workshops} full_s={full_s:.2f} incremental_s={incremental_s:.3f} "
        f"incremental_ratio={incremental_s / full_s:.4f}"
    )


if __name__ == "__main__":
    main()

"""Load a pool's accounts from CSV: `manage.py lab_pool_load <pool> <file.csv>`.

Columns label,endpoint,username,password, then any others (kept encrypted as the account's extra
fields, which workshops may map to env names). Creates the pool if needed, updates accounts by
label, leaves accounts the file does not name as they are. All rows or none; passwords are
never printed.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.lab_crypto import LabKeyInvalid, LabKeyMissing
from portal.lab_pools import PoolFileError, lab_pool_load, pool_csv_parse

MAX_FILE_BYTES = 10 * 1024 * 1024


class Command(BaseCommand):
    help = "Create or update a lab credential pool's accounts from a CSV file (label,endpoint,username,password,...)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("pool", help="the pool's name, as workshops give it (lab: credentials: pool:)")
        parser.add_argument("file", type=Path, help="CSV with a header row; UTF-8")

    def handle(self, *args, pool: str, file: Path, **options) -> None:
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                raise CommandError(f"{file}: over {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            text = file.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not part of "label"
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{file}: cannot be read as UTF-8 text ({error.__class__.__name__})") from None
        try:
            report = lab_pool_load(pool=pool, rows=pool_csv_parse(text))
        except PoolFileError as error:
            raise CommandError(f"{file}: nothing loaded:\n  " + "\n  ".join(error.problems)) from None
        except (LabKeyMissing, LabKeyInvalid) as error:
            raise CommandError(f"nothing loaded: {error}") from None
        self.stdout.write(
            f"pool {report.pool}{' (created)' if report.pool_created else ''}: {report.added} added, "
            f"{report.updated} updated, {report.unchanged} unchanged"
            + (f", {report.not_in_file} not in the file (left as they are)" if report.not_in_file else "")
        )

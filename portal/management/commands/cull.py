"""python manage.py cull [--dry-run]: one cull pass, printing each running server's decision."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.cull import servers_cull
from portal.hub import HubError, HubUnavailable


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


class Command(BaseCommand):
    help = "Stop idle, over-age and (under pressure) longest-idle servers; admit the waiting list."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Decide and print; stop nothing.")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        try:
            report = servers_cull(now=timezone.now(), dry_run=dry_run)
        except HubUnavailable as error:
            raise CommandError(f"The hub is unavailable: {error}") from error
        except HubError as error:  # a dry run raises what a real run records on its CullRun
            raise CommandError(f"The hub refused: {error}") from error
        for d in sorted(report.decisions, key=lambda d: d.key):
            stop = report.stops.get(d.key, "")
            self.stdout.write(
                f"{d.key:<40} {d.action:<5} {d.reason:<10} idle={_duration(d.idle)} "
                f"age={_duration(d.age)}{'  -> ' + stop if stop else ''}"
            )
        if report.run is not None and report.run.error:
            self.stderr.write(f"The run ended {report.outcome}: {report.run.error}")
        culled = sum(1 for d in report.decisions if d.action == "cull")
        self.stdout.write(
            f"{len(report.decisions)} servers, {culled} to cull{' (dry run: none stopped)' if dry_run else ''}, "
            f"{report.waiting} waiting, {len(report.admitted)} admitted, outcome {report.outcome}, "
            f"{report.hub_requests} hub requests"
        )

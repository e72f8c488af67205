"""`manage.py validate_workshops PATH_OR_URL`: check workshops as the PR status does (CI too)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from catalog.gitrepo import GitError
from catalog.validation import report_findings, source_validate


def _escape_data(text: str) -> str:
    """Escape a workflow-command message (GitHub's toolkit rules)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a workflow-command property value."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_format(finding: dict[str, Any]) -> str:
    """Return a finding as a GitHub Actions workflow annotation line."""
    props = [f"file={_escape_property(finding['file'])}"]
    if finding.get("line"):
        props.append(f"line={finding['line']}")
    props.append(f"title={_escape_property('workshops/' + finding['check'])}")
    return f"::{finding['severity']} {','.join(props)}::{_escape_data(finding['message'])}"


def text_format(report: dict[str, Any]) -> list[str]:
    """Return the report as lines for people."""
    lines = []
    for workshop in report["workshops"]:
        verdict = "FAILED" if workshop["errors"] else "ok"
        lines.append(f"{workshop['folder']}: {verdict} ({workshop['errors']} error(s), "
                     f"{workshop['warnings']} warning(s))")  # fmt: skip
        findings = workshop["findings"] + [f for nb in workshop["notebooks"] for f in nb["findings"]]
        for f in findings:
            where = f"{f['file']}:{f['line']}" if f.get("line") else f["file"]
            lines.append(f"  {f['severity']:7} {where}: {f['message']}")
    s = report["summary"]
    lines.append(f"{s['workshops']} workshop(s), {s['failed']} failed, {s['errors']} error(s), "
                 f"{s['warnings']} warning(s)")  # fmt: skip
    return lines


class Command(BaseCommand):
    """Validate the workshops of a working tree, a local repository or a git URL."""

    help = "Validate workshops (metadata, notebooks, outputs, secrets, kernels, links, sizes)."
    # A linter run in content repositories' CI with no portal configured: the deployment checks
    # (secret key, GitHub sign-in; errors now that DEBUG is off unless set) are not its business.
    requires_system_checks: list = []

    def add_arguments(self, parser) -> None:
        """Declare PATH_OR_URL, --ref, --format and --folder."""
        parser.add_argument("source", metavar="PATH_OR_URL", help="working tree, git repository or URL")
        parser.add_argument("--ref", help="branch, tag or commit to read (git sources)")
        parser.add_argument("--format", choices=["text", "json", "github"], default="text")
        parser.add_argument("--folder", action="append", help="only this workshop folder (repeatable)")

    def handle(self, *args, **options) -> None:
        """Validate, print the report, and fail when there are errors."""
        try:
            report = source_validate(source=options["source"], ref=options["ref"], folders=options["folder"])
        except GitError as exc:
            raise CommandError(str(exc)) from None
        if options["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2))
        elif options["format"] == "github":
            for finding in report_findings(report):
                self.stdout.write(annotation_format(finding))
            self.stdout.write("\n".join(text_format(report)))
        else:
            self.stdout.write("\n".join(text_format(report)))
        if report["summary"]["errors"]:
            raise CommandError(f"{report['summary']['errors']} error(s) in the workshops", returncode=1)

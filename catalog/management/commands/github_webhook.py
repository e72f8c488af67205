"""`manage.py github_webhook install`: register (or update) the webhook on the content repo."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from github import GithubException

from catalog.github_client import GitHubNotConfigured
from catalog.github_hooks import github_webhook_install, webhook_url


class Command(BaseCommand):
    """Manage the GitHub webhook of the content repository."""

    help = "Register or update the push / pull_request webhook on GITHUB_REPOSITORY (idempotent)."

    def add_arguments(self, parser) -> None:
        """Declare the action and --url."""
        parser.add_argument("action", choices=["install", "url"])
        parser.add_argument("--url", help="delivery URL (default: PORTAL_URL + /github/webhook)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="send config and secret again (after a secret rotation)",
        )

    def handle(self, *args, **options) -> None:
        """Install the hook and say what changed."""
        if options["action"] == "url":
            self.stdout.write(options["url"] or webhook_url())
            return
        try:
            result = github_webhook_install(url=options["url"], force=options["force"])
        except (GitHubNotConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from None
        except GithubException as exc:
            raise CommandError(f"GitHub refused: {exc.status} {exc.data}") from None
        self.stdout.write(f"webhook {result.action}: id={result.hook_id} url={result.url}")

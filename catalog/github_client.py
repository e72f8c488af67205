"""The one factory for PyGithub clients, configured from settings (tests swap the URL)."""

from __future__ import annotations

from django.conf import settings
from github import Auth, Github, GithubRetry


class GitHubNotConfigured(RuntimeError):
    """GITHUB_REPOSITORY or GITHUB_TOKEN is missing."""


def github_retry() -> GithubRetry:
    """Return the retry policy: back off on rate limits (Retry-After, X-RateLimit-Reset) and 5xx."""
    return GithubRetry(
        total=settings.GITHUB_RETRIES,
        backoff_factor=0.5,
        secondary_rate_wait=settings.GITHUB_SECONDARY_RATE_WAIT,
        max_rate_limit_wait=settings.GITHUB_MAX_RATE_WAIT,
    )


def github_client(*, lazy: bool = False) -> Github:
    """Build an authenticated PyGithub client for the configured API (lazy: no GET per object)."""
    if not settings.GITHUB_TOKEN:
        raise GitHubNotConfigured("GITHUB_TOKEN is not set")
    return Github(
        base_url=settings.GITHUB_API_URL,
        auth=Auth.Token(settings.GITHUB_TOKEN),
        retry=github_retry(),
        timeout=settings.GITHUB_TIMEOUT,
        seconds_between_writes=settings.GITHUB_SECONDS_BETWEEN_WRITES,
        user_agent="notebooks-portal",
        lazy=lazy,
    )


def github_repository_name() -> str:
    """Return owner/name of the content repository, or raise GitHubNotConfigured."""
    if not settings.GITHUB_REPOSITORY or "/" not in settings.GITHUB_REPOSITORY:
        raise GitHubNotConfigured("GITHUB_REPOSITORY must be owner/name")
    return settings.GITHUB_REPOSITORY

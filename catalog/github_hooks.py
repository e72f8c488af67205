"""Register the portal's webhook on the content repository through PyGithub (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from catalog.github_client import github_client, github_repository_name

HOOK_EVENTS = ["pull_request", "push"]


@dataclass(frozen=True)
class HookResult:
    """What the install did: created, updated or unchanged, and the hook id."""

    action: str
    hook_id: int
    url: str


def webhook_url() -> str:
    """Return the public URL GitHub delivers to."""
    return settings.PORTAL_URL + reverse("github:webhook")


def github_webhook_install(*, url: str | None = None, secret: str | None = None, force: bool = False) -> HookResult:
    """Create the webhook, or update the one already pointing at url; change nothing if current."""
    url = url or webhook_url()
    secret = secret if secret is not None else settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        raise ValueError("GITHUB_WEBHOOK_SECRET is empty: a webhook without a secret is refused")
    config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
    repo = github_client(lazy=True).get_repo(github_repository_name())
    for hook in repo.get_hooks():
        if hook.config.get("url") != url:
            continue
        # GitHub never shows a secret back, so a rotated secret cannot be detected: force sends it.
        current = (sorted(hook.events), hook.active, hook.config.get("content_type"))
        if not force and current == (HOOK_EVENTS, True, "json") and hook.config.get("secret"):
            return HookResult("unchanged", hook.id, url)
        hook.edit("web", config, events=HOOK_EVENTS, active=True)
        return HookResult("updated", hook.id, url)
    hook = repo.create_hook("web", config, events=HOOK_EVENTS, active=True)
    return HookResult("created", hook.id, url)

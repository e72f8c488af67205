"""GitHub webhook pieces that need no database: the signature check and event routing."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

SIGNATURE_PREFIX = "sha256="
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
ZERO_SHA = "0" * 40


def signature_compute(*, secret: str, body: bytes) -> str:
    """Return the X-Hub-Signature-256 value GitHub sends for body."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_verify(*, secret: str, body: bytes, header: str | None) -> bool:
    """Tell whether header is the HMAC-SHA256 of body under secret (constant-time compare)."""
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = signature_compute(secret=secret, body=body)
    # compare_digest on bytes: a str argument with non-ASCII characters would raise TypeError.
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))


@dataclass(frozen=True)
class WebhookAction:
    """What to do with one delivery: kind is ping, sync, validate or ignore."""

    kind: str
    reason: str = ""
    args: dict[str, Any] = field(default_factory=dict)


def _push_route(payload: dict[str, Any], *, branch: str) -> WebhookAction:
    """Route a push: a sync of the pushed commit when it is the catalog's branch."""
    ref = payload.get("ref")
    if not isinstance(ref, str) or ref != f"refs/heads/{branch}":
        return WebhookAction("ignore", f"push to {ref!r}, not the catalog branch {branch!r}")
    after = payload.get("after")
    if payload.get("deleted") or not isinstance(after, str) or after == ZERO_SHA:
        return WebhookAction("ignore", "the catalog branch was deleted; the reconcile sync decides")
    if len(after) != 40 or any(c not in "0123456789abcdef" for c in after):
        return WebhookAction("ignore", "push without a valid 'after' commit")
    return WebhookAction("sync", f"push {after[:12]}", {"commit": after})


def _pull_request_route(payload: dict[str, Any], *, repository: str) -> WebhookAction:
    """Route a pull request: validate its head on opened / synchronize / reopened."""
    action = payload.get("action")
    if action not in PR_ACTIONS:
        return WebhookAction("ignore", f"pull_request action {action!r} needs no validation")
    pr = payload.get("pull_request")
    if not isinstance(pr, dict):
        return WebhookAction("ignore", "pull_request event without a pull request")
    head = pr.get("head") or {}
    base = pr.get("base") or {}
    sha = head.get("sha")
    number = pr.get("number", payload.get("number"))
    if not isinstance(sha, str) or not isinstance(number, int):
        return WebhookAction("ignore", "pull request without a head commit or number")
    head_repo = (head.get("repo") or {}).get("clone_url") or ""
    return WebhookAction(
        "validate",
        f"pull request #{number} {action} at {sha[:12]}",
        {
            "pull_number": number,
            "head_sha": sha,
            "head_clone_url": head_repo,
            "base_ref": str(base.get("ref") or ""),
            "title": str(pr.get("title") or "")[:300],
            "repository": str((payload.get("repository") or {}).get("full_name") or repository),
        },
    )


def webhook_route(*, event: str, payload: Any, branch: str, repository: str = "") -> WebhookAction:
    """Decide what a delivery asks for (pure: no side effects)."""
    if event == "ping":
        return WebhookAction("ping", "pong")
    if not isinstance(payload, dict):
        return WebhookAction("ignore", "payload is not a JSON object")
    full_name = (payload.get("repository") or {}).get("full_name")
    if repository and full_name and full_name.lower() != repository.lower():
        return WebhookAction("ignore", f"event from {full_name}, not the content repository")
    if event == "push":
        return _push_route(payload, branch=branch)
    if event == "pull_request":
        return _pull_request_route(payload, repository=repository)
    return WebhookAction("ignore", f"event {event!r} is not used")

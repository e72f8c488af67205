"""The GitHub webhook endpoint (thin: verify, parse, hand over) and validation reports."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from catalog.github_deliveries import webhook_receive
from catalog.github_events import signature_verify
from catalog.models import ValidationRun


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """Read the raw body up to limit bytes; None when it is bigger.

    request.body would refuse anything over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), far below
    GitHub's 25 MB, so the stream is read directly with this view's own limit.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


# GitHub's payloads nest about ten levels deep; a hundred leaves room and keeps every later walk
# over the payload (storing it, reading it) far from Python's recursion limit.
MAX_JSON_DEPTH = 100


def _depth_within(value: object, limit: int) -> bool:
    """Tell whether value nests at most limit lists/objects deep (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def _payload(body: bytes, content_type: str) -> object:
    """Decode the JSON payload (or GitHub's form-encoded variant); ValueError if malformed or
    nested deeper than MAX_JSON_DEPTH."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            values = parse_qs(body.decode("utf-8"), strict_parsing=True).get("payload")
        except UnicodeDecodeError:
            raise
        except ValueError:  # its message quotes the body: say it in our words
            raise ValueError("not form-encoded") from None
        if not values:
            raise ValueError("form-encoded delivery without a 'payload' field")
        text = values[0]
    else:
        text = body.decode("utf-8")
    try:
        payload = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not _depth_within(payload, MAX_JSON_DEPTH):
        raise ValueError("JSON nested too deeply")
    return payload


def _reason(error: ValueError) -> str:
    """Say what was wrong with a payload in a few words (never echoing its content)."""
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return str(error)


@csrf_exempt  # authenticated by the HMAC signature; GitHub has no CSRF token
@require_POST
def github_webhook(request: HttpRequest) -> JsonResponse:
    """Receive a GitHub webhook delivery: 403 unsigned, 413 too big, 400 malformed."""
    body = _read_body(request, settings.GITHUB_WEBHOOK_MAX_BYTES)
    if body is None:
        return JsonResponse({"error": "payload too large"}, status=413)
    if not signature_verify(
        secret=settings.GITHUB_WEBHOOK_SECRET,
        body=body,
        header=request.headers.get("X-Hub-Signature-256"),
    ):
        return JsonResponse({"error": "missing or invalid X-Hub-Signature-256"}, status=403)
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery or len(delivery) > 100:
        return JsonResponse({"error": "missing X-GitHub-Event or X-GitHub-Delivery"}, status=400)
    try:
        payload = _payload(body, request.content_type or "")
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
        return JsonResponse({"error": f"malformed JSON payload: {_reason(error)}"}, status=400)
    outcome = webhook_receive(delivery_id=delivery, event=event, payload=payload)
    return JsonResponse(outcome.body, status=outcome.status)


@require_GET
def validation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a validation report: per workshop, per notebook (the commit status links here)."""
    run = get_object_or_404(ValidationRun, pk=pk)
    if request.GET.get("format") == "json":
        return JsonResponse({"id": run.pk, "state": run.state, "description": run.description,
                             "head_sha": run.head_sha, "pull_number": run.pull_number,
                             "report": run.report})  # fmt: skip
    return render(request, "catalog/validation.html", {"run": run, "report": run.report})

"""The learner's server ("My server"), its JSON for the stop warning, Stop and Extend, and their lab's
credentials: thin views over portal.my_server and portal.lab."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from portal import lab_status
from portal.hub import HubError, HubUnavailable, hub_client_build
from portal.lab import lab_credentials_read, lab_panel
from portal.locks import LockBusy
from portal.my_server import (
    CannotExtend,
    launches_recent,
    server_extend,
    server_status_cached,
    server_stop,
    server_view,
)
from portal.views import hub_problem


@require_GET
@login_required
def my_server(request: HttpRequest) -> HttpResponse:
    """Show the learner's server: state, times, workshops, a link into JupyterLab, Stop."""
    try:
        server = server_view(user=request.user)
    except HubError:
        return hub_problem(
            request,
            title="The notebook hub is unavailable",
            message="Your server's state cannot be read now.",
        )
    return render(
        request,
        "portal/my_server.html",
        {"server": server, "launches": launches_recent(user=request.user), "lab": lab_panel(user=request.user)},
    )


@require_POST
@login_required
@sensitive_variables("values")
def my_lab_credentials(request: HttpRequest) -> HttpResponse:
    """Show the learner their own lab credentials, on request only (a POST with the CSRF token).

    Never cached (no-store, and not a page-cache view), so a shared computer's back button or a
    proxy cannot show them again; the values are in the body only, never in a URL or a log.
    """
    values = lab_credentials_read(user=request.user)
    response = render(request, "portal/lab_credentials.html", {"values": values, "lab": lab_panel(user=request.user)})
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


@require_GET
def my_server_status(request: HttpRequest) -> JsonResponse:
    """Return the learner's server state as JSON (every portal page asks it for the stop warning)."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Sign in to see your server."}, status=401)
    try:
        server = server_status_cached(user=request.user)
    except HubError:
        return JsonResponse(
            {"error": "The notebook hub is unavailable."}, status=503, headers={"Cache-Control": "no-store"}
        )
    return JsonResponse(server, headers={"Cache-Control": "no-store"})


@require_POST
@login_required
def my_server_stop(request: HttpRequest) -> HttpResponse:
    """Stop the learner's server (their files stay in their home)."""
    try:
        stopped = server_stop(user=request.user)
    except HubError:
        return hub_problem(request, title="The notebook hub is unavailable", message="Please try again.")
    except LockBusy:
        messages.warning(request, "Your server is being launched right now: try Stop again in a moment.")
        return redirect("my_server")
    messages.success(request, "Your server is stopped." if stopped else "Your server is stopping.")
    return redirect("my_server")


@require_POST
@login_required
def my_server_extend(request: HttpRequest) -> HttpResponse:
    """Extend the learner's server once (when nobody is waiting)."""
    try:
        seconds = server_extend(user=request.user)
    except CannotExtend as error:
        messages.warning(request, str(error))
    except HubError:
        return hub_problem(request, title="The notebook hub is unavailable", message="Please try again.")
    else:
        messages.success(request, f"Your server may now run {seconds // 60} more minutes.")
    return redirect("my_server")


@csrf_exempt  # a learner's server posts it, authenticated by its own hub token (no cookie)
@require_POST
def lab_report(request: HttpRequest) -> HttpResponse:
    """Record how a learner's lab services started, as their server reports it (hubconfig/labext.py).

    Authorization: the server's own token (`token <JUPYTERHUB_API_TOKEN>`), identified by the hub:
    a server reports for its own learner only. 204 recorded, 400 not a report, 401 no or an
    unknown token, 404 no active lab, 503 the hub cannot say who it is.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        return JsonResponse({"error": "A server's hub token is needed."}, status=401)
    if len(request.body) > lab_status.REPORT_MAX_BYTES:
        return JsonResponse({"error": "The report is too large."}, status=400)
    try:
        services = lab_status.report_services(json.loads(request.body))
    except (ValueError, lab_status.ReportInvalid):
        return JsonResponse({"error": "Not a lab report."}, status=400)
    try:
        with hub_client_build(token=token.strip(), timeout=settings.HUB_TIMEOUT) as hub:
            name = hub.whoami()
    except HubUnavailable:
        return JsonResponse({"error": "The notebook hub is unavailable."}, status=503)
    except HubError:
        return JsonResponse({"error": "The hub does not know this token."}, status=401)
    if lab_status.lab_report(name=name, services=services) == "gone":
        return JsonResponse({"error": "No active lab."}, status=404)
    return HttpResponse(status=204)

"""Sign in and out: thin views over portal.auth."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal import auth


def _problem(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    """Show a sign-in problem in words, with a way to try again."""
    return render(request, "portal/signin_problem.html", {"title": title, "message": message}, status=status)


@require_GET
def signin(request: HttpRequest) -> HttpResponse:
    """Start signing in through the hub (which signs in with GitHub)."""
    try:
        start = auth.signin_start(next_url=request.GET.get("next"))
    except auth.HubUnreachable as error:
        return _problem(request, title="The notebook hub is unavailable", message=str(error), status=503)
    auth.pending_remember(session=request.session, start=start)
    return redirect(start.authorize_url)


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Finish signing in: check the state, exchange the code, log the person in."""
    pending = auth.pending_take(session=request.session, state=request.GET.get("state", ""))
    if pending is None:
        return _problem(
            request,
            title="This sign-in link has expired",
            message="The sign-in was not started from this browser, or it took too long.",
            status=400,
        )
    if request.GET.get("error") or not request.GET.get("code"):
        return _problem(
            request,
            title="Sign-in was not completed",
            message=request.GET.get("error_description") or "The hub did not sign you in.",
            status=403,
        )
    try:
        user = auth.signin_finish(code=request.GET["code"], code_verifier=pending["verifier"])
    except auth.HubUnreachable as error:
        return _problem(request, title="The notebook hub is unavailable", message=str(error), status=503)
    except auth.SignInError as error:
        return _problem(request, title="Sign-in failed", message=str(error), status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(pending["next"])


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """Sign out of the portal, then out of the hub (which sends the person back here)."""
    logout(request)
    return redirect(auth.hub_logout_url())

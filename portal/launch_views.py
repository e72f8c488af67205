"""Launch and the waiting page: thin views over portal.launch."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from catalog.selectors import workshop_visible_or_404
from portal import admission, launch
from portal.hub import HubBusy, HubError, HubFull, HubSlow, HubUnavailable
from portal.locks import LockBusy
from portal.views import hub_problem

BUSY = "busy"  # the waiting page's state for a launch the hub had no slot for yet


@require_POST
def workshop_launch(request: HttpRequest, slug: str) -> HttpResponse:
    """Start the learner's server and send them to the workshop's first notebook in it."""
    workshop = workshop_visible_or_404(slug=slug)
    detail = reverse("catalog:detail", args=[workshop.slug])
    if not request.user.is_authenticated:
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': detail})}")
    try:
        url = launch.workshop_launch(user=request.user, workshop=workshop)
    except launch.KernelUnavailable as error:
        return render(
            request, "portal/kernel_unavailable.html", {"workshop": workshop, "kernels": error.kernels}, status=409
        )
    except launch.NothingToLaunch as error:
        raise Http404(str(error)) from error
    except launch.HubUserUnknown:
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': detail})}")
    except launch.MustWait:
        return redirect("launch_wait", slug=workshop.slug)
    except launch.LabBusy as error:
        return hub_problem(
            request,
            title="Your server is running another workshop's lab",
            message=(
                f"{workshop.title} needs a lab of its own, and your server was started with the lab of "
                f"“{error.running}”. Stop your server on “My server” (your files stay), then launch again."
            ),
            status=409,
        )
    except launch.LabUnavailable:
        return hub_problem(
            request,
            title="This workshop's lab is not available",
            message="The lab this workshop needs is not set up on this site yet. The error was logged for the staff.",
            status=503,
        )
    except HubFull:
        return redirect("launch_wait", slug=workshop.slug)
    except (HubBusy, HubSlow, LockBusy):  # LockBusy: another launch or stop of theirs is still going on
        # A launch storm fills every slot with a healthy hub, or keeps it from answering within
        # HUB_LAUNCH_TIMEOUT: this page submits Launch again in a moment (queue.js), without
        # taking a place that would hold up the learners behind.
        busy = render(
            request,
            "portal/waiting.html",
            {"workshop": workshop, "ticket": admission.Ticket(status=BUSY, workshop=workshop.slug)},
            status=503,
        )
        busy["Retry-After"] = "3"
        return busy
    except HubUnavailable:
        return hub_problem(
            request,
            title="The notebook hub is unavailable",
            message="Please try again in a moment.",
        )
    except HubError:
        return hub_problem(
            request,
            title="Your server could not be started",
            message="Please try again in a moment.",
        )
    return redirect(url)


@require_GET
@login_required
def launch_wait(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the learner's place in the waiting list; the page carries on to the launch by itself."""
    workshop = workshop_visible_or_404(slug=slug)
    ticket = launch.queue_ticket(user=request.user)
    return render(
        request,
        "portal/waiting.html",
        {"workshop": workshop, "ticket": ticket, "estimate_minutes": _minutes(ticket.estimate_seconds)},
    )


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60)) if seconds else 0


@require_GET
@login_required
def queue_status(request: HttpRequest) -> JsonResponse:
    """Return the learner's place as JSON (the waiting page polls it)."""
    ticket = launch.queue_ticket(user=request.user)
    return JsonResponse(
        {
            "status": ticket.status,
            "position": ticket.position,
            "estimate_seconds": round(ticket.estimate_seconds),
            "estimate_minutes": _minutes(ticket.estimate_seconds),
        },
        headers={"Cache-Control": "no-store"},
    )


@require_POST
@login_required
def queue_leave(request: HttpRequest) -> HttpResponse:
    """Give up the place in the waiting list."""
    launch.queue_leave(user=request.user)
    messages.info(request, "You left the waiting list.")
    return redirect("catalog:index")

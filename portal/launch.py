"""Launch a workshop on the learner's server, or give them a place in the waiting list."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from catalog.models import Workshop
from portal import admission
from portal.hub import HubBusy, HubError, HubFull, hub_client_build, servers_occupied
from portal.launch_links import launch_url_build, puller_repo_url
from portal.models import Launch
from portal.my_server import server_status_forget
from portal.tasks import servers_cull_task

log = logging.getLogger(__name__)


class NothingToLaunch(RuntimeError):
    """The workshop has no notebook to open."""


class KernelUnavailable(RuntimeError):
    """The workshop needs a kernel the hub does not offer: launching would open "No Kernel"."""

    def __init__(self, kernels: list[str]) -> None:
        super().__init__(", ".join(kernels))
        self.kernels = kernels


class HubUserUnknown(RuntimeError):
    """The hub does not know this portal user (signed in before the hub's database was reset)."""


class MustWait(RuntimeError):
    """The host is full: the learner has a place in the waiting list (or the list is down)."""

    def __init__(self, ticket: admission.Ticket) -> None:
        super().__init__(ticket.status)
        self.ticket = ticket


def workshop_launch_url(*, workshop: Workshop) -> str:
    """Return the nbgitpuller link for workshop, built from catalog and settings values only."""
    first = workshop.notebooks.order_by("position").first()
    if first is None:
        raise NothingToLaunch(f"{workshop.title} has no notebook.")
    return launch_url_build(
        hub_url=settings.HUB_URL,
        repo=puller_repo_url(configured=settings.LAUNCH_REPO_URL, source=settings.CATALOG_SOURCE),
        branch=settings.CATALOG_BRANCH,
        target_dir=settings.LAUNCH_TARGET_DIR,
        folder=workshop.folder,
        notebook=first.path,
    )


def _cull_soon() -> None:
    """Queue a cull pass now: under pressure it frees the longest-idle servers (the lock dedups)."""
    try:
        servers_cull_task.apply_async(expires=settings.CULL_INTERVAL)
    except Exception as error:  # noqa: BLE001 - a missing broker must not fail a launch
        log.warning("could not queue a cull pass: %s", error)


def _must_wait(ticket: admission.Ticket) -> MustWait:
    """Return the MustWait for a learner given a place; ask the culler to make room for them."""
    if ticket.status == admission.WAIT:
        _cull_soon()
    return MustWait(ticket)


def workshop_launch(*, user: AbstractBaseUser, workshop: Workshop) -> str:
    """Start the learner's server (the hub shows its progress), record it, return the link.

    Raise KernelUnavailable, before asking the hub for anything, when the workshop needs a
    kernel the hub does not offer (settings.HUB_KERNELS); MustWait when the host is full or the
    hub is busy with other launches (the waiting page launches again by itself).
    """
    if workshop.kernels_unavailable:
        raise KernelUnavailable(workshop.kernels_unavailable)
    url = workshop_launch_url(workshop=workshop)
    name = user.get_username()
    try:
        return _launch(user=user, name=name, workshop=workshop, url=url)
    except HubBusy:
        # Healthy but saturated (every slot with the hub taken): a place in the waiting list,
        # admitted on its next poll as soon as there is room, instead of an error page.
        raise _must_wait(admission.queue_join(user=name, workshop=workshop.slug)) from None


def _launch(*, user: AbstractBaseUser, name: str, workshop: Workshop, url: str) -> str:
    """workshop_launch's work once the link is known."""
    with hub_client_build(launch=True) as hub:
        hub_user = hub.user_get(name=name)
        if hub_user is None:
            raise HubUserUnknown(name)
        if hub_user.server is not None:
            hub.server_start(name=name)  # already running or starting: no new slot needed
        else:
            ticket = admission.admission_request(
                user=name, workshop=workshop.slug, occupied_read=lambda: servers_occupied(hub=hub)
            )
            if ticket.status == admission.WAIT:
                raise _must_wait(ticket)
            try:
                hub.server_start(name=name)
            except HubFull:
                # The hub's active_server_limit (the backstop) said no: a place, not an error.
                admission.turn_release(user=name)
                raise _must_wait(admission.queue_join(user=name, workshop=workshop.slug)) from None
            except BaseException:
                admission.turn_release(user=name)
                raise
            admission.turn_settle(user=name)
    Launch.objects.create(user=user, workshop=workshop, folder=workshop.folder, title=workshop.title)
    server_status_forget(user=user)
    return url


def queue_ticket(*, user: AbstractBaseUser) -> admission.Ticket:
    """Return a waiting learner's ticket (admitting the head of the queue when slots are free)."""

    def occupied() -> set[str]:
        try:
            with hub_client_build() as hub:
                return servers_occupied(hub=hub)
        except HubError:
            # The hub cannot say: admit nobody now (a full house of placeholders), ask again soon.
            return {f"?{i}" for i in range(settings.HUB_CAPACITY)}

    return admission.queue_poll(user=user.get_username(), occupied_read=occupied)


def queue_leave(*, user: AbstractBaseUser) -> None:
    """Give up the learner's place in the waiting list."""
    admission.queue_leave(user=user.get_username())

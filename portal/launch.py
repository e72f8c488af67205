"""Launch a workshop on the learner's server, and read / stop that server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from catalog.models import Workshop
from portal import admission
from portal.hub import HubClient, HubError, HubFull, HubServer, hub_client_build
from portal.launch_links import launch_url_build, puller_repo_url
from portal.models import Launch


class NothingToLaunch(RuntimeError):
    """The workshop has no notebook to open."""


class HubUserUnknown(RuntimeError):
    """The hub does not know this portal user (signed in before the hub's database was reset)."""


class MustWait(RuntimeError):
    """The host is full: the learner has a place in the waiting list (or the list is down)."""

    def __init__(self, ticket: admission.Ticket) -> None:
        super().__init__(ticket.status)
        self.ticket = ticket


def servers_occupied(*, hub: HubClient) -> set[str]:
    """Return who has a running, starting or stopping server ("user" or "user/name")."""
    return {f"{u.name}/{n}" if n else u.name for u in hub.users_list(state="active") for n in u.servers}


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


def workshop_launch(*, user: AbstractBaseUser, workshop: Workshop) -> str:
    """Start the learner's server (the hub shows its progress), record it, return the link."""
    url = workshop_launch_url(workshop=workshop)
    name = user.get_username()
    with hub_client_build() as hub:
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
                raise MustWait(ticket)
            try:
                hub.server_start(name=name)
            except HubFull:
                # The hub's active_server_limit (the backstop) said no: a place, not an error.
                raise MustWait(admission.queue_join(user=name, workshop=workshop.slug)) from None
            finally:
                admission.turn_release(user=name)
    Launch.objects.create(
        user=user, workshop=workshop, folder=workshop.folder, title=workshop.title
    )
    return url


@dataclass(frozen=True)
class ServerView:
    """What the "My server" page shows."""

    exists: bool
    ready: bool
    pending: str | None
    started: datetime | None
    last_activity: datetime | None
    lab_url: str


def server_view(*, user: AbstractBaseUser) -> ServerView:
    """Return the state of the learner's server, as the hub sees it."""
    name = user.get_username()
    with hub_client_build() as hub:
        hub_user = hub.user_get(name=name)
    server: HubServer | None = hub_user.server if hub_user else None
    return ServerView(
        exists=server is not None,
        ready=bool(server and server.ready),
        pending=server.pending if server else None,
        started=server.started if server else None,
        last_activity=(server.last_activity if server else None)
        or (hub_user.last_activity if hub_user else None),
        lab_url=f"{settings.HUB_URL}/hub/user-redirect/lab",
    )


def server_stop(*, user: AbstractBaseUser) -> bool:
    """Stop the learner's server; return True once stopped, False while still stopping."""
    with hub_client_build() as hub:
        return hub.server_stop(name=user.get_username())


def launches_recent(*, user: AbstractBaseUser) -> list[Launch]:
    """Return the learner's workshops, most recent launch first, one line per workshop."""
    seen: dict[str, Launch] = {}
    for item in Launch.objects.filter(user=user).select_related("workshop")[:200]:
        seen.setdefault(item.folder, item)
    return list(seen.values())


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

"""Launch a workshop on the learner's server, and read / stop that server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from catalog.models import Workshop
from portal.hub import HubServer, hub_client_build
from portal.launch_links import launch_url_build, puller_repo_url
from portal.models import Launch


class NothingToLaunch(RuntimeError):
    """The workshop has no notebook to open."""


class HubUserUnknown(RuntimeError):
    """The hub does not know this portal user (signed in before the hub's database was reset)."""


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
    with hub_client_build() as hub:
        if hub.user_get(name=user.get_username()) is None:
            raise HubUserUnknown(user.get_username())
        hub.server_start(name=user.get_username())
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

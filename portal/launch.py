"""Launch a workshop on the learner's server, or give them a place in the waiting list."""

from __future__ import annotations

import logging
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse

from catalog.models import Workshop
from hubconfig.labhandoff import LAB_OPTION, lab_handoff_seal
from portal import admission
from portal.hub import HubError, HubFull, HubSlow, hub_client_build, servers_occupied, service_token
from portal.lab import (
    LabError,
    LabGrant,
    PoolExhausted,
    lab_grant,
    lab_release,
    lab_session_status_set,
    pools_free,
)
from portal.lab_crypto import LabKeyInvalid, LabKeyMissing
from portal.launch_links import launch_url_build, puller_repo_url
from portal.learner_lock import learner_lock
from portal.models import LabSession, Launch
from portal.my_server import server_status_forget
from portal.redis_client import redis_client
from portal.tasks import servers_cull_task

log = logging.getLogger(__name__)
# Seconds after a start the hub answered late during which a launch that finds no server waits
# (the page that launches again) instead of granting a new lab: the hub may not have reached the
# first start yet, and a new grant would end the lab that start is still bringing up.
SLOW_START_HOLD = 30


class NothingToLaunch(RuntimeError):
    """The workshop has no notebook to open."""


class KernelUnavailable(RuntimeError):
    """The workshop needs a kernel the hub does not offer: launching would open "No Kernel"."""

    def __init__(self, kernels: list[str]) -> None:
        super().__init__(", ".join(kernels))
        self.kernels = kernels


class HubUserUnknown(RuntimeError):
    """The hub does not know this portal user (signed in before the hub's database was reset)."""


class LabBusy(RuntimeError):
    """The learner's server runs another workshop's lab: its services and values are set when a
    server starts, so this workshop's lab needs a fresh start (stop the server first)."""

    def __init__(self, running: str) -> None:
        super().__init__(running)
        self.running = running


class LabUnavailable(RuntimeError):
    """The workshop's lab cannot be granted (a pool nobody loaded, no free port, no key)."""


class MustWait(RuntimeError):
    """The host is full: the learner has a place in the waiting list (or the list is down)."""

    def __init__(self, ticket: admission.Ticket) -> None:
        super().__init__(ticket.status)
        self.ticket = ticket


def _lab_spec(workshop: Workshop) -> dict:
    return dict(workshop.lab or {})


def workshop_launch_url(*, workshop: Workshop) -> str:
    """Return the nbgitpuller link for workshop, built from catalog and settings values only.

    A workshop with per-learner values (a lab, or template names the catalog showed as ‹NAME›)
    goes through the server's `portal-lab/fill` on the way, where servers have it.
    """
    first = workshop.notebooks.order_by("position").first()
    if first is None:
        raise NothingToLaunch(f"{workshop.title} has no notebook.")
    personal = bool(_lab_spec(workshop) or workshop.template_placeholders)
    return launch_url_build(
        hub_url=settings.HUB_URL,
        repo=_launch_repo(),
        branch=settings.CATALOG_BRANCH,
        target_dir=settings.LAUNCH_TARGET_DIR,
        folder=workshop.folder,
        notebook=first.path,
        fill=personal and settings.LAB_SERVERS_EXTENDED,
    )


def _launch_repo() -> str:
    """Return what nbgitpuller pulls: LAUNCH_REPO_URL, else the launch mirror on this host once a
    sync has published the branch there, else the catalog's source."""
    if settings.LAUNCH_REPO_URL:
        return settings.LAUNCH_REPO_URL
    mirror = settings.LAUNCH_MIRROR_DIR
    if mirror is not None and (Path(mirror) / "refs" / "heads" / settings.CATALOG_BRANCH).is_file():
        return Path(mirror).resolve().as_uri()
    return puller_repo_url(configured="", source=settings.CATALOG_SOURCE)


def _start_options(*, user: AbstractBaseUser, grant: LabGrant | None, workshop: Workshop) -> dict:
    """Return the user_options for the start: the workshop, and the learner's lab sealed for the
    hub (hubconfig/labhandoff.py). Never empty: the hub reuses a server's last options for a
    start that gives none."""
    options: dict = {"workshop": workshop.slug}
    if grant is None:
        return options
    options[LAB_OPTION] = lab_handoff_seal(
        grant={
            "user": user.get_username(),
            "session": grant.session_id,
            "env": dict(grant.env),
            "services": grant.services,
            "values": dict(grant.values),
            "dir": f"{settings.LAUNCH_TARGET_DIR}/{workshop.folder}".strip("/"),
            "report_url": f"{settings.PORTAL_URL.rstrip('/')}{reverse('lab_report')}",
            "fill": bool(workshop.template_placeholders),  # its files hold template names
        },
        service_token=service_token(configured=settings.HUB_SERVICE_TOKEN, path=settings.HUB_SERVICE_TOKEN_FILE),
    )
    return options


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
    kernel the hub does not offer (settings.HUB_KERNELS); MustWait when the host (or the lab's
    pool) is full; HubBusy when every slot with the hub is taken by other launches (not a place in
    the waiting list: that would hold everyone behind it; the page launches again in a moment).
    """
    if workshop.kernels_unavailable:
        raise KernelUnavailable(workshop.kernels_unavailable)
    url = workshop_launch_url(workshop=workshop)
    name = user.get_username()
    with learner_lock(name=name):
        return _launch(user=user, name=name, workshop=workshop, url=url)


def _launch(*, user: AbstractBaseUser, name: str, workshop: Workshop, url: str) -> str:
    """workshop_launch's work once the link is known."""
    spec = _lab_spec(workshop)
    with hub_client_build(launch=True) as hub:
        hub_user = hub.user_get(name=name)
        if hub_user is None:
            raise HubUserUnknown(name)
        if hub_user.server is not None:
            if spec:
                running = LabSession.objects.filter(user=user, ended_at__isnull=True).values_list("workshop", flat=True)
                if workshop.slug not in running:
                    raise LabBusy(next(iter(running), ""))
                _services_less_ready(user=user, workshop=workshop)
            hub.server_start(name=name)  # already running or starting: no new slot needed
        else:
            if _slow_start_pending(name):
                raise HubSlow("A start the hub answered late may still be under way.")
            ticket = admission.admission_request(
                user=name, workshop=workshop.slug, occupied_read=lambda: servers_occupied(hub=hub)
            )
            if ticket.status == admission.WAIT:
                raise _must_wait(ticket)
            try:
                grant = lab_grant(user=user, workshop_slug=workshop.slug, spec=spec) if spec else None
            except PoolExhausted as error:
                # Every account of the pool is leased: a place in the waiting list, as for a full host,
                # admitted once an account is free.
                admission.turn_release(user=name)
                raise _must_wait(admission.queue_join(user=name, workshop=workshop.slug, pool=error.pool)) from None
            except (LabError, LabKeyMissing, LabKeyInvalid) as error:
                admission.turn_release(user=name)
                log.error("lab of %s for %s not granted: %s", workshop.slug, name, type(error).__name__)
                raise LabUnavailable(str(error)) from error
            try:
                hub.server_start(name=name, user_options=_start_options(user=user, grant=grant, workshop=workshop))
            except HubFull:
                # The hub's active_server_limit (the backstop) said no: a place, not an error.
                _start_undo(user=user, name=name, granted=grant is not None)
                raise _must_wait(admission.queue_join(user=name, workshop=workshop.slug)) from None
            except HubSlow:
                # The hub may be starting the server with this grant: nothing is given back. The
                # page launches again; that launch finds the server starting and its lab session,
                # or, SLOW_START_HOLD seconds on, no server (a fresh grant ends this one). Untried,
                # the turn lapses (ADMISSION_TURN_TTL) and reconcile ends the session of a server
                # that never came.
                _slow_start_mark(name)
                raise
            except BaseException:
                _start_undo(user=user, name=name, granted=grant is not None)
                raise
            admission.turn_settle(user=name)
            if grant is not None and not grant.services:
                # Nothing for the server to start (an account, generated values): ready as granted;
                # a lab with services is ready when the learner's server reports it.
                lab_session_status_set(session_id=grant.session_id, status=LabSession.Status.READY)
    Launch.objects.create(user=user, workshop=workshop, folder=workshop.folder, title=workshop.title)
    server_status_forget(user=user)
    return url


def _services_less_ready(*, user: AbstractBaseUser, workshop: Workshop) -> None:
    """Mark the learner's lab for workshop ready if it has no services and still says starting (a
    launch that found its server already starting, after a start the hub answered late)."""
    session = LabSession.objects.filter(user=user, ended_at__isnull=True, workshop=workshop.slug).first()
    if session is not None and not session.services and session.status == LabSession.Status.STARTING:
        lab_session_status_set(session_id=session.pk, status=LabSession.Status.READY)


def _slow_start_key(name: str) -> str:
    return f"{settings.ADMISSION_PREFIX}slow-start:{name}"


def _slow_start_mark(name: str) -> None:
    """Remember for SLOW_START_HOLD seconds that name's start was answered late (Redis down: not
    remembered; the next launch grants afresh, as before)."""
    try:
        redis_client().set(_slow_start_key(name), "1", ex=SLOW_START_HOLD)
    except redis.RedisError as error:
        log.warning("slow start of %s not remembered: %s", name, type(error).__name__)


def _slow_start_pending(name: str) -> bool:
    """Tell whether name's last start was answered late less than SLOW_START_HOLD seconds ago."""
    try:
        return bool(redis_client().exists(_slow_start_key(name)))
    except redis.RedisError:
        return False


def _start_undo(*, user: AbstractBaseUser, name: str, granted: bool) -> None:
    """The hub did not start the server: give its slot and its lab back."""
    admission.turn_release(user=name)
    if granted:
        lab_release(user=user, reason="server not started")


def queue_ticket(*, user: AbstractBaseUser) -> admission.Ticket:
    """Return a waiting learner's ticket (admitting the head of the queue when slots are free)."""

    def occupied() -> set[str]:
        try:
            with hub_client_build() as hub:
                return servers_occupied(hub=hub)
        except HubError:
            # The hub cannot say: admit nobody now (a full house of placeholders), ask again soon.
            return {f"?{i}" for i in range(settings.HUB_CAPACITY)}

    return admission.queue_poll(user=user.get_username(), occupied_read=occupied, pools_free=pools_free)


def queue_leave(*, user: AbstractBaseUser) -> None:
    """Give up the learner's place in the waiting list."""
    admission.queue_leave(user=user.get_username())

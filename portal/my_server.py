"""The learner's server ("My server"): its state and stop forecast, Stop, one extension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError
from django.utils import timezone

from portal import admission
from portal.cull_policy import CullPolicy, ServerFacts, stop_forecast
from portal.hub import HubServer, hub_client_build
from portal.lab import lab_release
from portal.learner_lock import learner_lock
from portal.models import Launch, ServerExtension


@dataclass(frozen=True)
class ServerView:
    """What the "My server" page shows."""

    exists: bool
    ready: bool
    pending: str | None
    started: datetime | None
    last_activity: datetime | None
    lab_url: str
    remaining_seconds: float | None = None  # before the culler stops it, if it stays idle
    stop_reason: str | None = None  # "idle" (using it resets the clock) or "age" (end of slot)
    warn: bool = False  # in the last CULL_WARN_SECONDS
    can_extend: bool = False


def _warned(remaining: float | None) -> bool:
    """Tell whether a server this close to its stop warrants the warning."""
    return remaining is not None and remaining <= settings.CULL_WARN_SECONDS


def _extension_seconds(*, name: str, started: datetime | None) -> int:
    if started is None:
        return 0
    found = ServerExtension.objects.filter(user=name, server_started=started).first()
    return found.seconds if found else 0


def server_view(*, user: AbstractBaseUser) -> ServerView:
    """Return the state of the learner's server, as the hub sees it."""
    name = user.get_username()
    with hub_client_build() as hub:
        hub_user = hub.user_get(name=name)
    server: HubServer | None = hub_user.server if hub_user else None
    last_activity = (server.last_activity if server else None) or (hub_user.last_activity if hub_user else None)
    remaining, reason, extended = None, None, 0
    if server is not None and server.ready:
        extended = _extension_seconds(name=name, started=server.started)
        facts = ServerFacts(name, "", True, None, server.started, last_activity, extra_age=extended)
        forecast = stop_forecast(facts=facts, now=timezone.now(), policy=CullPolicy.from_settings(settings))
        remaining, reason = forecast if forecast else (None, None)
    try:
        nobody_waits = admission.queue_length() == 0
    except admission.QueueUnavailable:
        nobody_waits = False
    return ServerView(
        exists=server is not None,
        ready=bool(server and server.ready),
        pending=server.pending if server else None,
        started=server.started if server else None,
        last_activity=last_activity,
        lab_url=f"{settings.HUB_URL}/hub/user-redirect/lab",
        remaining_seconds=remaining,
        stop_reason=reason,
        warn=_warned(remaining),
        can_extend=bool(remaining is not None and not extended and nobody_waits and settings.CULL_MAX_AGE),
    )


def _status_key(name: str) -> str:
    return f"server-status:{name}"


def server_status_cached(*, user: AbstractBaseUser) -> dict:
    """Return the learner's server state as JSON-ready data, cached briefly per learner.

    Every portal page a signed-in learner opens asks for it (the stop warning), so a class of
    fifty clicking around costs the hub one request per learner per SERVER_STATUS_TTL.
    """
    name = user.get_username()
    hit = cache.get(_status_key(name))
    now = timezone.now()
    if hit is None:
        view = server_view(user=user)
        stops_at = (now.timestamp() + view.remaining_seconds) if view.remaining_seconds is not None else None
        hit = {
            "exists": view.exists,
            "ready": view.ready,
            "pending": view.pending,
            "stops_at": stops_at,
            "stop_reason": view.stop_reason,
            "can_extend": view.can_extend,
            "lab_url": view.lab_url,
        }
        cache.set(_status_key(name), hit, settings.SERVER_STATUS_TTL)
    remaining = max(0.0, hit["stops_at"] - now.timestamp()) if hit["stops_at"] is not None else None
    return {
        **hit,
        "remaining_seconds": round(remaining) if remaining is not None else None,
        "warn": _warned(remaining),
        "warn_seconds": settings.CULL_WARN_SECONDS,
    }


def server_status_forget(*, user: AbstractBaseUser) -> None:
    """Drop the cached server state (after a launch, stop or extension changed it)."""
    cache.delete(_status_key(user.get_username()))


class CannotExtend(RuntimeError):
    """The server is not running, was extended already, or learners are waiting."""


def server_extend(*, user: AbstractBaseUser) -> int:
    """Extend the learner's running server's maximum age once; return the seconds granted."""
    view = server_view(user=user)
    if not view.can_extend or view.started is None:
        raise CannotExtend("Your server cannot be extended now.")
    try:
        ServerExtension.objects.create(
            user=user.get_username(), server_started=view.started, seconds=settings.CULL_EXTEND_SECONDS
        )
    except IntegrityError as error:  # a double click: the first one won
        raise CannotExtend("Your server was extended already.") from error
    server_status_forget(user=user)
    return settings.CULL_EXTEND_SECONDS


def server_stop(*, user: AbstractBaseUser) -> bool:
    """Stop the learner's server; return True once stopped, False while still stopping."""
    server_status_forget(user=user)
    with learner_lock(name=user.get_username()), hub_client_build() as hub:  # not while a launch is granting
        outcome = hub.server_delete(name=user.get_username())
        lab_release(user=user, reason="stopped")  # the hub ends its processes; ports and lease go back now
    return outcome != "stopping"


def launches_recent(*, user: AbstractBaseUser) -> list[Launch]:
    """Return the learner's workshops, most recent launch first, one line per workshop."""
    seen: dict[str, Launch] = {}
    for item in Launch.objects.filter(user=user).select_related("workshop")[:200]:
        seen.setdefault(item.folder, item)
    return list(seen.values())

"""Per-learner labs: grant a learner ports, a pool account and generated values for one launch;
release them when the server stops; reconcile with the servers the hub runs.

Exclusivity holds under a launch storm without a global lock: an account is picked with
`SELECT ... FOR UPDATE SKIP LOCKED` (two grants never wait on each other's candidate) and the
partial unique constraints (one open lease per account, one open use per port, one student
number per workshop among active sessions, one active session per user) catch what a stale
snapshot let through; each such conflict retries inside a savepoint. The steps take their
locks in one order (session, account, ports in ascending order), so grants cannot deadlock
on each other. Secrets are decrypted only here and in portal.lab_reset, and never logged.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from portal.lab_crypto import secret_decrypt, secret_decrypt_json, secret_encrypt_json
from portal.lab_values import (
    STUDENT_NUMBER,
    account_env,
    generated_values,
    lab_env,
    lowest_free,
    port_range_parse,
    services_fill,
    spec_credentials_env,
    spec_empty,
    spec_generate,
    spec_pool,
    spec_services,
)
from portal.models import CredentialPool, LabPort, LabSession, Lease, PoolAccount

log = logging.getLogger(__name__)

LEASE_RESET_TASK = "portal.tasks.lab_lease_reset_task"  # a test checks the name is registered

# Conflicts a grant retries (each one means another grant took that number, account or port
# between our read and our write); far more than a storm of hundreds produces.
GRANT_ATTEMPTS = 50
# Whole-transaction retries after PostgreSQL broke a deadlock (only concurrent grants for the
# same learner can cause one: a double click).
DEADLOCK_ATTEMPTS = 3
ERROR_MAX_CHARS = 2000


class LabError(RuntimeError):
    """A lab cannot be granted (the launch shows why; nothing was changed)."""


class PoolExhausted(LabError):
    """Every enabled account of the pool is leased (or being reset): the learner waits, like for a full host."""

    def __init__(self, pool: str) -> None:
        super().__init__(f"every account of the lab pool {pool!r} is in use")
        self.pool = pool


class PoolUnknown(LabError):
    """The workshop names a pool the operators have not loaded (`manage.py lab_pool_load`)."""

    def __init__(self, pool: str) -> None:
        super().__init__(f"the lab pool {pool!r} does not exist")
        self.pool = pool


class PortsExhausted(LabError):
    """Every port of LAB_PORTS is in use."""


class SecretValues(dict):
    """A dict of lab values whose repr hides them: Django's template engine logs a failed variable
    lookup at DEBUG with a repr of the whole context, and tracebacks show reprs too."""

    def __repr__(self) -> str:
        return f"<{len(self)} lab values, hidden>"

    __str__ = __repr__


@dataclass(frozen=True)
class LabGrant:
    """What a launch hands the learner's server (secrets included: never log or cache it)."""

    session_id: int
    env: dict[str, str]  # REDFISH_URL=http://127.0.0.1:20007, ILO_PASSWORD=..., STDID=7 ...
    services: list[dict]  # LabSpec services with "port": int added and "{port}" filled in command/url
    values: dict[str, str]  # template values (env ∪ generated)

    def __repr__(self) -> str:  # a grant in a traceback or a debug print shows no value
        return f"LabGrant(session_id={self.session_id}, env=<{len(self.env)} values>, services={self.services!r})"


def _is_deadlock(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


@sensitive_variables("grant", "values", "credentials", "generated", "env", "fields")
def lab_grant(
    *, user: AbstractBaseUser, workshop_slug: str, spec: dict, now: datetime | None = None
) -> LabGrant | None:
    """Give the learner a fresh lab for workshop_slug as its LabSpec asks; None when it asks for nothing.

    Ends the learner's active session first (a relaunch gets fresh ports and lease), in the same
    transaction: when the grant fails, nothing changed. Raises PoolExhausted when no account of
    the pool is free (the launch puts the learner on the waiting list), PoolUnknown,
    PortsExhausted, and portal.lab_crypto.LabKeyMissing without an encryption key.
    """
    if spec_empty(spec):
        return None
    for attempt in range(DEADLOCK_ATTEMPTS):
        try:
            with transaction.atomic():
                return _grant(user=user, workshop_slug=workshop_slug, spec=spec, now=now or timezone.now())
        except OperationalError as error:
            if not _is_deadlock(error) or attempt == DEADLOCK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@sensitive_variables("values", "credentials", "generated", "env", "fields")
def _grant(*, user: AbstractBaseUser, workshop_slug: str, spec: dict, now: datetime) -> LabGrant:
    generate = spec_generate(spec)
    session = _session_create(
        user=user, workshop_slug=workshop_slug, numbered=STUDENT_NUMBER in generate.values(), now=now
    )
    pool_name = spec_pool(spec)
    credentials: dict[str, str] = {}
    if pool_name:
        account = _account_lease(session=session, pool_name=pool_name, now=now)
        fields = {
            **secret_decrypt_json(account.extra_encrypted),
            "endpoint": account.endpoint,
            "username": account.username,
            "password": secret_decrypt(account.password_encrypted),
        }
        mapping = spec_credentials_env(spec)
        missing = sorted(field for field in set(mapping.values()) if field not in fields)
        if missing:  # names only: the values are secrets
            log.warning("lab pool %s account %s has no field(s) %s", pool_name, account.label, ", ".join(missing))
        credentials = account_env(mapping, fields)
    services = spec_services(spec)
    ports = _ports_allocate(session=session, names=[str(s.get("name", "")) for s in services], now=now)
    filled = services_fill(services, ports)
    generated = generated_values(generate, student_number=session.student_number)
    env = lab_env(services=filled, credentials=credentials, generated=generated)
    values = {**env, **generated}
    session.services = filled
    session.values_encrypted = secret_encrypt_json(values)
    session.save(update_fields=["services", "values_encrypted"])
    log.info(
        "lab granted: session %s for %s, workshop %s, pool %s, ports %s",
        session.pk,
        user.get_username(),
        workshop_slug,
        pool_name or "-",
        ports,
    )
    return LabGrant(session_id=session.pk, env=SecretValues(env), services=filled, values=SecretValues(values))


def _session_create(*, user: AbstractBaseUser, workshop_slug: str, numbered: bool, now: datetime) -> LabSession:
    """Create the learner's active session (ending any other), with the lowest free student number."""
    for _ in range(GRANT_ATTEMPTS):
        _sessions_end(user=user, reason="relaunched", now=now)
        number = None
        if numbered:
            number = lowest_free(
                LabSession.objects.filter(
                    workshop=workshop_slug, ended_at__isnull=True, student_number__isnull=False
                ).values_list("student_number", flat=True)
            )
        try:
            with transaction.atomic():  # a savepoint: the conflict below leaves the transaction usable
                return LabSession.objects.create(
                    user=user, workshop=workshop_slug, started_at=now, student_number=number
                )
        except IntegrityError:
            continue  # another grant took that number (or this learner's double click won): read again
    raise LabError("could not give a student number: too many concurrent grants")


def _busy_leases() -> QuerySet:
    """Leases that keep their account from the next learner: held, or released but not reset yet
    (the next learner must not get the last one's state). Correlated to an account (OuterRef)."""
    return Lease.objects.filter(account=OuterRef("pk")).filter(
        Q(released_at__isnull=True) | Q(reset_state=Lease.Reset.PENDING)
    )


def pools_free(names: Collection[str]) -> dict[str, int]:
    """Return how many accounts of each named pool a launch could lease now (0 for a pool nobody
    loaded): the waiting list admits a learner waiting for a pool only while it has one."""
    free = dict.fromkeys(names, 0)
    counted = (
        PoolAccount.objects.filter(pool__name__in=list(names), enabled=True)
        .exclude(Exists(_busy_leases()))
        .values_list("pool__name")
        .annotate(free=Count("pk"))
    )
    free.update(dict(counted))
    return free


def _account_lease(*, session: LabSession, pool_name: str, now: datetime) -> PoolAccount:
    """Lease a free account of the pool to session; PoolExhausted when none is free."""
    pool = CredentialPool.objects.filter(name=pool_name).first()
    if pool is None:
        raise PoolUnknown(pool_name)
    busy = _busy_leases()
    for _ in range(GRANT_ATTEMPTS):
        account = (
            PoolAccount.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pool=pool, enabled=True)
            .exclude(Exists(busy))
            .order_by("pk")
            .first()
        )
        if account is None:
            raise PoolExhausted(pool_name)
        try:
            with transaction.atomic():
                Lease.objects.create(account=account, session=session, leased_at=now)
        except IntegrityError:
            # Our snapshot predates a lease committed since (its grant released the row lock we then
            # took): the constraint caught it; the next read sees that lease.
            continue
        return account
    raise PoolExhausted(pool_name)


def _ports_allocate(*, session: LabSession, names: list[str], now: datetime) -> list[int]:
    """Give session one free port of LAB_PORTS per service name, in service order."""
    if not names:
        return []
    span = port_range_parse(settings.LAB_PORTS)
    for _ in range(GRANT_ATTEMPTS):
        used = set(
            LabPort.objects.filter(released_at__isnull=True, port__gte=span.start, port__lt=span.stop).values_list(
                "port", flat=True
            )
        )
        free = [port for port in span if port not in used]
        if len(free) < len(names):
            raise PortsExhausted(f"every port of LAB_PORTS ({settings.LAB_PORTS}) is in use")
        # Random, so concurrent grants rarely pick the same port; inserted in ascending order, so two
        # grants waiting on each other's ports cannot deadlock.
        ports = sorted(random.sample(free, len(names)))
        try:
            with transaction.atomic():
                LabPort.objects.bulk_create(
                    [
                        LabPort(port=port, session=session, service=name[:40], allocated_at=now)
                        for port, name in zip(ports, names, strict=True)
                    ]
                )
        except IntegrityError:
            continue
        return ports
    raise PortsExhausted("could not allocate ports: too many concurrent grants")


def _sessions_end(*, user: AbstractBaseUser, reason: str, now: datetime) -> int:
    """End the learner's active sessions (ports and leases released, resets queued); return how many."""
    ended = 0
    for session in LabSession.objects.select_for_update().filter(user=user, ended_at__isnull=True):
        _session_end(session=session, reason=reason, now=now)
        ended += 1
    return ended


def _session_end(*, session: LabSession, reason: str, now: datetime) -> None:
    session.ended_at, session.end_reason, session.status = now, reason[:100], LabSession.Status.ENDED
    session.save(update_fields=["ended_at", "end_reason", "status"])
    session.lab_ports.filter(released_at__isnull=True).update(released_at=now)
    for lease in session.leases.filter(released_at__isnull=True).select_related("account__pool"):
        lease.released_at = now
        lease.reset_state = Lease.Reset.PENDING if lease.account.pool.reset_command else Lease.Reset.NONE
        lease.save(update_fields=["released_at", "reset_state"])
        if lease.reset_state == Lease.Reset.PENDING:
            transaction.on_commit(lambda lease_id=lease.pk: _reset_queue(lease_id=lease_id))


def _reset_queue(*, lease_id: int) -> None:
    """Queue the reset of a released lease's account (labs_reconcile queues it again if this fails)."""
    try:
        # Named, not imported (as catalog.outbox does): the task layer sits above this service.
        current_app.send_task(LEASE_RESET_TASK, kwargs={"lease_id": lease_id})
    except Exception as error:  # noqa: BLE001 - a missing broker must not fail a stop
        log.warning("could not queue the reset of lease %s (retried by the next reconcile): %s", lease_id, error)


def lab_release(*, user: AbstractBaseUser, reason: str, now: datetime | None = None) -> int:
    """End the learner's active lab session: ports and lease released, the pool's reset queued.

    Idempotent: returns how many sessions it ended (0 when none was active).
    """
    with transaction.atomic():
        ended = _sessions_end(user=user, reason=reason, now=now or timezone.now())
    if ended:
        log.info("lab released for %s: %s", user.get_username(), reason)
    return ended


def labs_reconcile(*, running: set[str], now: datetime | None = None) -> int:
    """End the sessions of learners with no server (names in running have one); return how many.

    A session younger than LAB_RECONCILE_GRACE seconds is kept: its server may still be starting.
    Resets left pending (the broker was down, or a worker died mid-reset) are queued again.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.LAB_RECONCILE_GRACE)
    name_field = f"user__{get_user_model().USERNAME_FIELD}__in"
    stale = (
        LabSession.objects.filter(ended_at__isnull=True, started_at__lt=now - grace)
        .exclude(**{name_field: running})
        .values_list("pk", flat=True)
    )
    ended = 0
    for session_id in list(stale):
        with transaction.atomic():
            session = LabSession.objects.select_for_update().filter(pk=session_id, ended_at__isnull=True).first()
            if session is not None:
                _session_end(session=session, reason="no server", now=now)
                ended += 1
    for lease in Lease.objects.filter(reset_state=Lease.Reset.PENDING, released_at__lt=now - grace).select_related(
        "account__pool"
    ):
        started = lease.reset_started_at
        if started is None or started < now - timedelta(seconds=lease.account.pool.reset_timeout_s) - grace:
            _reset_queue(lease_id=lease.pk)
    if ended:
        log.info("labs reconciled: %s session(s) of learners without a server ended", ended)
    return ended


def lab_session_status_set(*, session_id: int, status: str, error: str = "") -> None:
    """Record how the session's services started (the launch's status check): ready or failed, why."""
    LabSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
        status=LabSession.Status(status), error=error[:ERROR_MAX_CHARS]
    )


# --- What the learner sees ------------------------------------------------------------------------
@dataclass(frozen=True)
class LabEndpoint:
    """One service of the learner's lab as "My server" lists it (no secret)."""

    name: str
    url: str
    port: int
    web_url: str  # through the learner's server (jupyter-server-proxy), "" unless a web service
    env: str = ""  # the variable that carries url to the learner's notebooks


@dataclass(frozen=True)
class LabPanel:
    """The "Your lab" panel: the active session's endpoints and state (no secret)."""

    session_id: int
    workshop: str
    started_at: datetime
    status: str
    status_label: str
    error: str
    endpoints: list[LabEndpoint]
    student_number: int | None


def lab_panel(*, user: AbstractBaseUser) -> LabPanel | None:
    """Return the learner's active lab for the "My server" page, or None."""
    session = LabSession.objects.filter(user=user, ended_at__isnull=True).first()
    if session is None:
        return None
    server = f"{settings.HUB_URL}/hub/user-redirect/"
    endpoints = [
        LabEndpoint(
            name=str(service.get("name", "")),
            url=str(service.get("url", "")),
            port=int(service["port"]),
            web_url=f"{server}proxy/{int(service['port'])}/" if service.get("web") else "",
            env=str(service.get("env") or ""),
        )
        for service in session.services
    ]
    return LabPanel(
        session_id=session.pk,
        workshop=session.workshop,
        started_at=session.started_at,
        status=session.status,
        status_label=session.get_status_display(),
        error=session.error,
        endpoints=endpoints,
        student_number=session.student_number,
    )


@sensitive_variables("values")
def lab_credentials_read(*, user: AbstractBaseUser) -> SecretValues | None:
    """Return the learner's own lab values (credentials, generated values, URLs), or None without a lab."""
    session = LabSession.objects.filter(user=user, ended_at__isnull=True).first()
    if session is None:
        return None
    values = secret_decrypt_json(session.values_encrypted)
    return SecretValues(sorted(values.items()))

"""Cull servers through the hub by the policy in portal.cull_policy, and admit the waiting list."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from portal import admission
from portal.cull_policy import (
    CULL,
    CullPolicy,
    Decision,
    Pressure,
    ServerFacts,
    backoff_seconds,
    busy_check_needed,
    cull_decide,
    server_judge,
)
from portal.hub import (
    HubClient,
    HubError,
    HubUnavailable,
    hub_client_build,
    servers_count,
    servers_occupied,
    service_token,
)
from portal.lab import lab_release, labs_reconcile, pools_free
from portal.lifetimes import lives_record
from portal.locks import LockBusy, singleton_lock
from portal.models import CapacitySample, CullEvent, CullRun, ServerExtension, ServerLife

log = logging.getLogger(__name__)
LOCK_NAME = "servers-cull"
# The longest a pass may hold the lock: more than the task's hard time limit (portal.tasks). A
# killed worker's lock lapses sooner, within its lease (portal.locks).
LOCK_TIMEOUT = 360
RUN_ABANDONED = "The worker running this pass stopped before it finished (e.g. the process was killed)."


@dataclass
class CullReport:
    """What a cull pass saw, decided and did."""

    run: CullRun | None
    outcome: str
    decisions: list[Decision] = field(default_factory=list)
    stops: dict[str, str] = field(default_factory=dict)  # key -> stopped / stopping / gone / failed
    admitted: list[str] = field(default_factory=list)
    waiting: int = 0
    hub_requests: int = 0


def backoff_until(*, now: datetime) -> datetime | None:
    """Return until when runs are skipped because the last runs found the hub down, if so.

    Only "hub-down" runs (no answer, or a 5xx) count. A "failed" run (the hub answered but refused,
    e.g. 403 for a token it does not know) ends a streak and starts no back-off: a hub that answers
    is not struggling, one refused request per interval costs it little, and the culler resumes
    within an interval of the operator fixing the token or role, each run recording the refusal.
    """
    failures, last = 0, None
    for run in CullRun.objects.filter(dry_run=False).exclude(
        outcome__in=[CullRun.Outcome.BACKOFF, CullRun.Outcome.BUSY, CullRun.Outcome.RUNNING]
    )[:12]:
        if run.outcome != CullRun.Outcome.HUB_DOWN:
            break
        failures += 1
        last = last or run
    if not failures or last is None:
        return None
    delay = backoff_seconds(failures=failures, interval=settings.CULL_INTERVAL, cap=settings.CULL_BACKOFF_MAX)
    until = last.started_at + timedelta(seconds=delay)  # started_at: the injected clock
    return until if until > now else None


def _servers_read(*, hub: HubClient, state: str) -> list[ServerFacts]:
    """List every server of every user the hub reports in state, pagination followed."""
    servers = []
    for user in hub.users_list(state=state):
        for name, server in user.servers.items():
            servers.append(
                ServerFacts(
                    user=user.name,
                    server=name,
                    ready=server.ready,
                    pending=server.pending,
                    started=server.started,
                    # A server's own activity; a user's is the fallback (hubs before 0.9).
                    last_activity=server.last_activity or user.last_activity,
                )
            )
    if not servers:
        return servers
    extensions = {
        (e.user, e.server_started): e.seconds
        for e in ServerExtension.objects.filter(user__in={s.user for s in servers})
    }
    return [ServerFacts(**{**s.__dict__, "extra_age": extensions.get((s.user, s.started), 0)}) for s in servers]


def _busy_ask(*, hub: HubClient, facts: ServerFacts) -> bool:
    """Ask one server whether a kernel is busy; a server that cannot say counts as not busy."""
    try:
        return hub.kernels_busy(name=facts.user, server=facts.server)
    except HubError as error:
        # A server that cannot answer its own API is serving nobody's work: not busy.
        log.warning("kernels of %s unreadable, counted as not busy: %s", facts.key, error)
        return False


def _stop(*, hub: HubClient, decision: Decision, hub_down: threading.Event) -> str:
    """Stop one culled server; return stopped / stopping / gone / failed."""
    if hub_down.is_set():
        return "failed"  # no point hammering a hub that stopped answering
    try:
        return hub.server_delete(name=decision.facts.user, server=decision.facts.server)
    except HubUnavailable as error:
        hub_down.set()
        log.error("stopping %s: the hub is unavailable: %s", decision.key, error)
        return "failed"
    except HubError as error:
        log.error("stopping %s failed: %s", decision.key, error)
        return "failed"


def _decide_and_stop(
    *,
    hub: HubClient,
    servers: list[ServerFacts],
    now: datetime,
    policy: CullPolicy,
    pressure: Pressure | None,
    dry_run: bool,
) -> tuple[list[Decision], dict[str, str]]:
    """Decide every server and stop the culled ones, CULL_CONCURRENCY hub requests at a time.

    Without pressure each server's decision needs only its own kernels, so a candidate is asked,
    judged and (if culled) stopped in one go: the stops start while other servers are still
    being asked. Under pressure the longest-idle choice needs every answer first.
    """
    keys = (
        set(busy_check_needed(servers=servers, now=now, policy=policy, pressure=pressure))
        if settings.CULL_BUSY_CHECK
        else set()
    )
    hub_down = threading.Event()
    stops: dict[str, str] = {}

    def judge_one(facts: ServerFacts) -> Decision:
        busy = _busy_ask(hub=hub, facts=facts) if facts.key in keys else False
        decision = server_judge(facts=facts, now=now, policy=policy, busy=busy)
        if decision.action == CULL and not dry_run:
            stops[decision.key] = _stop(hub=hub, decision=decision, hub_down=hub_down)
        return decision

    with ThreadPoolExecutor(max_workers=max(1, settings.CULL_CONCURRENCY)) as pool:
        if pressure is None:
            return list(pool.map(judge_one, servers)), stops
        checked = [f for f in servers if f.key in keys]
        answers = pool.map(lambda f: _busy_ask(hub=hub, facts=f), checked)
        busy = {f.key: answer for f, answer in zip(checked, answers, strict=True)}
        decisions = cull_decide(servers=servers, now=now, policy=policy, busy=busy, pressure=pressure)
        culls = [d for d in decisions if d.action == CULL]
        if not dry_run:
            outcomes = pool.map(lambda d: _stop(hub=hub, decision=d, hub_down=hub_down), culls)
            stops = {d.key: o for d, o in zip(culls, outcomes, strict=True)}
        return decisions, stops


def _labs_end(*, stopped: set[str], running: set[str], now: datetime) -> None:
    """Release the labs of the learners whose servers this pass stopped, and of any learner
    whose server is gone (stopped from the hub's own page, or dead): ports, leases, resets.
    A failure here is logged, never the end of the pass (the next pass reconciles again)."""
    try:
        for user in get_user_model().objects.filter(**{f"{get_user_model().USERNAME_FIELD}__in": stopped}):
            lab_release(user=user, reason="culled", now=now)
        labs_reconcile(running=running, now=now)
    except Exception:  # noqa: BLE001 - the culls themselves are done and recorded
        log.exception("cull: releasing labs failed; the next pass tries again")


def _waiting_count() -> int:
    """Return how many learners wait (0 when the waiting list is unavailable)."""
    try:
        return admission.queue_length()
    except admission.QueueUnavailable:
        return 0


def _pass(*, hub: HubClient, now: datetime, dry_run: bool, run: CullRun | None) -> CullReport:
    """Read, decide, stop, record and admit: one pass (the lock is held by the caller)."""
    policy = CullPolicy.from_settings(settings)
    waiting = _waiting_count()
    # Nobody waiting: only ready servers matter (state=ready; pending ones are skipped anyway).
    # Learners waiting: state=active also lists starting servers, which hold capacity too.
    servers = _servers_read(hub=hub, state="active" if waiting else "ready")
    running, starting = servers_count(servers)
    capacity = settings.HUB_CAPACITY
    pressure = Pressure(capacity=capacity, occupied=len(servers), waiting=waiting) if waiting else None
    decisions, stops = _decide_and_stop(
        hub=hub, servers=servers, now=now, policy=policy, pressure=pressure, dry_run=dry_run
    )
    report = CullReport(run=run, outcome="ok", decisions=decisions, waiting=waiting, stops=stops)
    if dry_run:
        report.hub_requests = hub.requests
        return report

    culls = [d for d in decisions if d.action == CULL]
    lives_record(servers=servers, now=now)
    CullEvent.objects.bulk_create(
        CullEvent(
            run=run,
            user=d.facts.user,
            server=d.facts.server,
            reason=d.reason,
            decided_at=now,
            outcome=report.stops[d.key],
            idle_seconds=int(d.idle),
            age_seconds=int(d.age),
        )
        for d in culls
    )
    stopped = {d.facts.user for d in culls if d.facts.server == "" and report.stops[d.key] != "failed"}
    _labs_end(stopped=stopped, running={s.user for s in servers if s.server == ""} - stopped, now=now)
    failed = sum(1 for o in report.stops.values() if o == "failed")
    if run is not None:  # before admitting: a hub error there still leaves the culls on the run
        run.running, run.starting, run.waiting = running, starting, waiting
        run.culled = len(culls) - failed
    if waiting:
        try:
            report.admitted = admission.queue_admit(
                occupied_read=lambda: servers_occupied(hub=hub), pools_free=pools_free
            )
        except admission.QueueUnavailable:
            report.admitted = []
    report.outcome = CullRun.Outcome.PARTIAL if failed else CullRun.Outcome.OK
    report.hub_requests = hub.requests
    CapacitySample.objects.create(at=now, capacity=capacity, running=running, starting=starting, waiting=waiting)
    if run is not None:
        run.admitted = len(report.admitted)
    return report


def servers_cull(*, now: datetime | None = None, dry_run: bool = False, hub: HubClient | None = None) -> CullReport:
    """Run one cull pass: stop idle, over-age and (under pressure) longest-idle servers; admit the queue.

    Exactly one pass runs at a time (a lock); after runs that found the hub down, passes are
    skipped for an exponentially growing, capped time so a struggling hub is not flooded. A hub
    error ends the run as "hub-down" or "failed" with the error recorded (dry runs raise it).
    """
    now = now or timezone.now()
    own_client = hub is None
    if hub is None:
        try:
            # The culler's own token (its narrow role) and timeouts.
            token = service_token(configured=settings.CULLER_SERVICE_TOKEN, path=settings.CULLER_SERVICE_TOKEN_FILE)
        except HubUnavailable as error:  # no token configured and the hub never started here
            if dry_run:
                raise
            run = CullRun.objects.create(
                started_at=now, finished_at=now, outcome=CullRun.Outcome.HUB_DOWN, error=str(error)[:2000]
            )
            return CullReport(run=run, outcome=run.outcome)
        hub = hub_client_build(token=token, timeout=settings.CULL_TIMEOUT, public_url=settings.HUB_URL)
    try:
        if dry_run:
            return _pass(hub=hub, now=now, dry_run=True, run=None)
        until = backoff_until(now=now)
        if until is not None:
            log.warning("cull skipped: the hub was down, backing off until %s", until.isoformat())
            run = CullRun.objects.create(started_at=now, finished_at=now, outcome=CullRun.Outcome.BACKOFF)
            return CullReport(run=run, outcome=run.outcome)
        try:
            with singleton_lock(LOCK_NAME, timeout=LOCK_TIMEOUT):
                cull_runs_reap(now=now)
                run = CullRun.objects.create(started_at=now)
                unexpected: Exception | None = None
                try:
                    report = _pass(hub=hub, now=now, dry_run=False, run=run)
                except HubError as error:
                    # Down (HubUnavailable: backed off) or refusing, e.g. 403 when the hub does not
                    # know the culler's token (HubError: failed). Either way the run ends here, with
                    # the hub's answer recorded, never left "running".
                    down = isinstance(error, HubUnavailable)
                    log.error("cull: %s: %s", "the hub is unavailable" if down else "the hub refused", error)
                    outcome = CullRun.Outcome.HUB_DOWN if down else CullRun.Outcome.FAILED
                    report = CullReport(run=run, outcome=outcome, hub_requests=hub.requests)
                    run.error = str(error)[:2000]
                except Exception as error:  # an answer we cannot read, a bug: recorded, then raised
                    unexpected = error
                    report = CullReport(run=run, outcome=CullRun.Outcome.FAILED, hub_requests=hub.requests)
                    run.error = f"{type(error).__name__}: {error}"[:2000]
                run.outcome = report.outcome
                run.hub_requests = report.hub_requests
                run.finished_at = timezone.now()
                run.save()
                if unexpected is not None:
                    raise unexpected
                return report
        except LockBusy:
            log.info("cull skipped: another run holds the lock")
            return CullReport(run=None, outcome=CullRun.Outcome.BUSY)
        except redis.RedisError as error:
            # No lock store, no pass: two passes at once could stop the same server twice.
            log.error("cull skipped: the lock store (Redis) is unavailable: %s", error)
            run = CullRun.objects.create(
                started_at=now,
                finished_at=timezone.now(),
                outcome=CullRun.Outcome.FAILED,
                error=f"The lock store (Redis) is unavailable, so no pass ran: {error}"[:2000],
            )
            return CullReport(run=run, outcome=run.outcome)
    finally:
        if own_client:
            hub.close()


def cull_runs_reap(*, now: datetime) -> int:
    """Mark passes left "running" by a worker that died as failed; return how many.

    Call it holding the cull lock: then no other pass is alive (a dead worker's lease lapses
    within LOCK_LEASE_SECONDS), so every "running" pass is stale.
    """
    count = CullRun.objects.filter(outcome=CullRun.Outcome.RUNNING, dry_run=False).update(
        outcome=CullRun.Outcome.FAILED, finished_at=now, error=RUN_ABANDONED
    )
    if count:
        log.warning("cull: %d pass(es) left running by a worker that died, marked failed", count)
    return count


@transaction.atomic
def capacity_samples_prune(*, now: datetime, keep_days: int = 7) -> int:
    """Delete capacity samples, cull runs and ended lifetimes older than keep_days; return how many."""
    cutoff = now - timedelta(days=keep_days)
    deleted, _ = CapacitySample.objects.filter(at__lt=cutoff).delete()
    runs, _ = CullRun.objects.filter(started_at__lt=cutoff).delete()
    lives, _ = ServerLife.objects.filter(ended__lt=cutoff).delete()
    return deleted + runs + lives

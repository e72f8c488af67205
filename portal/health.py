"""Health and readiness: is the database there (the portal cannot serve without it), and are Redis
and the hub (it can, degraded)? Each check is bounded in time and reports a word, never an error
text (those may name hosts or users); details go to the log."""

from __future__ import annotations

import logging

import redis
from django.db import DatabaseError, connection

from portal.hub import HubError, HubSkipped, hub_client_build
from portal.redis_client import redis_client

log = logging.getLogger(__name__)

OK, UNREACHABLE, NOT_ASKED = "ok", "unreachable", "not asked (failing just before)"


def database_check() -> str:
    """Return "ok" when the database answers a query, else "unreachable" (PostgreSQL's
    connect_timeout bounds the wait)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        log.warning("health: the database did not answer: %s", error)
        return UNREACHABLE
    return OK


def redis_check() -> str:
    """Return "ok" when Redis answers PING (the client's 1 s timeouts bound the wait)."""
    try:
        redis_client().ping()
    except redis.RedisError as error:
        log.warning("health: Redis did not answer: %s", error)
        return UNREACHABLE
    return OK


def hub_check() -> str:
    """Return "ok" when the hub's API answers, through the page path's breaker and short timeout."""
    try:
        with hub_client_build() as hub:
            hub.version()
    except HubSkipped:
        return NOT_ASKED
    except HubError as error:
        log.warning("health: the hub did not answer: %s", error)
        return UNREACHABLE
    return OK


def readiness_report() -> tuple[bool, dict]:
    """Return (serving, report): serving is False only without a database; Redis or the hub
    down make the report "degraded" (the catalog still works; launches and the waiting list wait).

    report: {"status": "ok" | "degraded" | "down", "checks": {"database": word, "redis": word,
    "hub": word}} with the words above.
    """
    checks = {"database": database_check(), "redis": redis_check(), "hub": hub_check()}
    if checks["database"] != OK:
        status = "down"
    elif all(value == OK for value in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return checks["database"] == OK, {"status": status, "checks": checks}

"""A launch storm on PostgreSQL: twenty learners granted at once never share an account, a port or
a student number, and those the pool cannot serve get PoolExhausted."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from portal.lab import PoolExhausted, lab_grant
from portal.models import LabPort, LabSession, Lease
from tests.portal.labkit import SPEC, pool_load

LEARNERS, ACCOUNTS = 20, 12


@pytest.mark.django_db(transaction=True)
def test_twenty_grants_at_once_share_nothing(lab_key, django_user_model, settings) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED: PostgreSQL only")
    settings.LAB_PORTS = "20000-20059"  # 40 ports for 12 x 2 services: collisions are likely, and must be caught
    pool_load(accounts=ACCOUNTS)
    users = [django_user_model.objects.create_user(f"learner{i}") for i in range(LEARNERS)]
    start = threading.Barrier(LEARNERS)
    grants, refused, errors = {}, [], []

    def launch(user) -> None:
        try:
            start.wait(10)
            grants[user.username] = lab_grant(user=user, workshop_slug="redfish-101", spec=SPEC)
        except PoolExhausted as error:
            refused.append(error.pool)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()  # this thread's connection: the test database can be dropped

    threads = [threading.Thread(target=launch, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(grants) == ACCOUNTS and refused == ["ilo-gen10"] * (LEARNERS - ACCOUNTS)
    # Granted values: each password, port and student number once.
    passwords = Counter(grant.env["ILO_PASSWORD"] for grant in grants.values())
    ports = Counter(service["port"] for grant in grants.values() for service in grant.services)
    numbers = sorted(int(grant.env["STDID"]) for grant in grants.values())
    assert max(passwords.values()) == 1 and len(passwords) == ACCOUNTS
    assert max(ports.values()) == 1 and len(ports) == 2 * ACCOUNTS
    assert numbers == list(range(1, ACCOUNTS + 1))  # the lowest free, none twice
    # And the database agrees: nothing half-granted was left by the refused ones.
    assert LabSession.objects.count() == ACCOUNTS
    assert Lease.objects.filter(released_at__isnull=True).values("account").distinct().count() == ACCOUNTS
    assert LabPort.objects.filter(released_at__isnull=True).count() == 2 * ACCOUNTS

"""Per-learner labs: what a grant gives, relaunch and release, resets, reconcile, keys and pool loading."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from portal.lab import PoolExhausted, PoolUnknown, lab_grant, lab_release, labs_reconcile
from portal.lab_reset import MASK, lease_reset
from portal.models import LabPort, LabSession, Lease, PoolAccount
from tests.portal.labkit import SPEC, pool_load, pool_password

pytestmark = pytest.mark.django_db


@pytest.fixture
def learners(django_user_model):
    return [django_user_model.objects.create_user(name) for name in ("ada", "bob", "cy", "dee")]


def test_a_grant_gives_ports_an_account_and_generated_values(lab_key, learners, settings) -> None:
    settings.LAB_PORTS = "20000-20009"
    pool_load()
    grant = lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    assert grant is not None
    redfish, console = grant.services
    assert 20000 <= redfish["port"] <= 20009 and redfish["port"] != console["port"]
    assert redfish["command"] == ["sushy-emulator", "-i", "127.0.0.1", "-p", str(redfish["port"])]
    assert console["url"] == f"http://127.0.0.1:{console['port']}" and console["web"] is True
    assert grant.env["REDFISH_URL"] == f"http://127.0.0.1:{redfish['port']}"
    assert grant.env["ILO_URL"] == "https://10.0.0.1" and grant.env["ILO_USERNAME"] == "student1"
    assert grant.env["ILO_PASSWORD"] == pool_password(1) and grant.env["ILO_HOST"] == "H1"
    assert grant.env["STDID"] == "1" and len(grant.env["PASSSTU"]) == 16 and grant.env["PASSSTU"].isalnum()
    assert len(grant.env["TOKEN"]) == 32 and int(grant.env["TOKEN"], 16) >= 0
    assert grant.values == grant.env
    assert pool_password(1) not in repr(grant) and grant.env["PASSSTU"] not in repr(grant)
    # At rest: neither the pool's password nor the generated one is in any column.
    with connection.cursor() as cursor:
        for table in ("portal_poolaccount", "portal_labsession"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - constant table names
            dump = repr(cursor.fetchall())
            assert pool_password(1) not in dump and grant.env["PASSSTU"] not in dump
    session = LabSession.objects.get(pk=grant.session_id)
    assert session.services == grant.services and session.student_number == 1 and session.active


def test_a_workshop_without_a_lab_gets_nothing(lab_key, learners) -> None:
    assert lab_grant(user=learners[0], workshop_slug="python-101", spec={}) is None
    assert lab_grant(user=learners[0], workshop_slug="python-101", spec={"services": [], "generate": {}}) is None
    assert not LabSession.objects.exists()


def test_a_relaunch_ends_the_previous_session_and_gets_fresh_ports_and_lease(lab_key, learners) -> None:
    pool_load(accounts=1)
    first = lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    second = lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    old = LabSession.objects.get(pk=first.session_id)
    assert old.ended_at is not None and old.end_reason == "relaunched" and old.status == "ended"
    assert second.env["ILO_PASSWORD"] == pool_password(1)  # the only account, freed by the relaunch
    assert second.env["STDID"] == "1"
    assert LabSession.objects.filter(ended_at__isnull=True).count() == 1
    assert Lease.objects.count() == 2 and Lease.objects.filter(released_at__isnull=True).count() == 1
    assert LabPort.objects.filter(released_at__isnull=True, session_id=first.session_id).count() == 0


def test_student_numbers_are_the_lowest_free_per_workshop(lab_key, learners) -> None:
    spec = {"generate": {"STDID": "student-number"}}
    numbers = [lab_grant(user=u, workshop_slug="w", spec=spec).env["STDID"] for u in learners[:3]]
    assert numbers == ["1", "2", "3"]
    lab_release(user=learners[1], reason="stopped")
    assert lab_grant(user=learners[3], workshop_slug="w", spec=spec).env["STDID"] == "2"
    assert lab_grant(user=learners[1], workshop_slug="other", spec=spec).env["STDID"] == "1"


def test_an_exhausted_or_unknown_pool_refuses_and_changes_nothing(lab_key, learners) -> None:
    pool_load(accounts=1)
    lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    with pytest.raises(PoolExhausted) as raised:
        lab_grant(user=learners[1], workshop_slug="redfish-101", spec=SPEC)
    assert raised.value.pool == "ilo-gen10"
    with pytest.raises(PoolUnknown):
        lab_grant(user=learners[1], workshop_slug="x", spec={"credentials": {"pool": "nowhere"}})
    assert LabSession.objects.filter(user=learners[1]).count() == 0  # rolled back: no session, no port
    assert LabPort.objects.count() == 2
    PoolAccount.objects.update(enabled=False)  # a disabled account is never leased, even when free
    lab_release(user=learners[0], reason="stopped")
    with pytest.raises(PoolExhausted):
        lab_grant(user=learners[1], workshop_slug="redfish-101", spec=SPEC)


def test_release_is_idempotent_keeps_history_and_queues_the_reset(
    lab_key, learners, queued, django_capture_on_commit_callbacks
) -> None:
    pool_load(accounts=1, reset_command=["/bin/true"])
    grant = lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    with django_capture_on_commit_callbacks(execute=True):
        assert lab_release(user=learners[0], reason="server stopped") == 1
    assert lab_release(user=learners[0], reason="server stopped") == 0
    lease = Lease.objects.get()
    assert lease.released_at is not None and lease.reset_state == "pending"
    assert queued == [("lab_lease_reset_task", {"lease_id": lease.pk})]
    # Until the reset has run, the account is not leased again.
    with pytest.raises(PoolExhausted):
        lab_grant(user=learners[1], workshop_slug="redfish-101", spec=SPEC)
    assert lease_reset(lease_id=lease.pk, now=timezone.now()) == "ok"
    assert lease_reset(lease_id=lease.pk, now=timezone.now()) == ""  # done: not run twice
    assert lab_grant(user=learners[1], workshop_slug="redfish-101", spec=SPEC).env["ILO_PASSWORD"] == pool_password(1)
    session = LabSession.objects.get(pk=grant.session_id)
    assert session.end_reason == "server stopped" and session.leases.count() == 1


RESET_SCRIPT = (
    "import os, sys; print('resetting', os.environ['LAB_ENDPOINT'], os.environ['LAB_USERNAME'], "
    "os.environ['LAB_PASSWORD'], os.environ['LAB_EXTRA']); "
    "print('portal secret seen:', 'SECRET_KEY' in os.environ or 'DATABASE_URL' in os.environ); "
    "sys.exit(int(os.environ['LAB_LABEL'] == 'ilo-2') * 3)"
)


def test_the_reset_command_gets_the_account_in_its_env_and_its_output_is_masked(lab_key, learners, caplog) -> None:
    pool_load(accounts=2, reset_command=[sys.executable, "-c", RESET_SCRIPT])
    for user in learners[:2]:
        lab_grant(user=user, workshop_slug="redfish-101", spec=SPEC)
        lab_release(user=user, reason="stopped")
    caplog.set_level("DEBUG")
    ok, failed = Lease.objects.order_by("account__label")
    assert lease_reset(lease_id=ok.pk, now=timezone.now()) == "ok"
    assert lease_reset(lease_id=failed.pk, now=timezone.now()) == "failed"
    ok.refresh_from_db()
    failed.refresh_from_db()
    assert ok.reset_outcome.startswith("exit status 0\n")
    assert f"resetting https://10.0.0.1 student1 {MASK} " in ok.reset_outcome
    assert pool_password(1) not in ok.reset_outcome and "H1" not in ok.reset_outcome  # extra values masked too
    assert "portal secret seen: False" in ok.reset_outcome
    assert failed.reset_outcome.startswith("exit status 3") and not failed.account.enabled  # disabled
    assert PoolAccount.objects.get(label="ilo-1").enabled
    assert pool_password(1) not in caplog.text and pool_password(2) not in caplog.text
    assert "ilo-2: reset failed (exit status 3); the account is disabled" in caplog.text


def test_a_reset_that_hangs_is_killed_at_its_timeout(lab_key, learners, settings) -> None:
    settings.LAB_RESET_OUTPUT_BYTES = 50
    pool_load(
        accounts=1, reset_command=[sys.executable, "-c", "print('x' * 1000, flush=True); import time; time.sleep(60)"]
    )
    pool = PoolAccount.objects.get().pool
    pool.reset_timeout_s = 1
    pool.save()
    lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    lab_release(user=learners[0], reason="stopped")
    lease = Lease.objects.get()
    assert lease_reset(lease_id=lease.pk, now=timezone.now()) == "failed"
    lease.refresh_from_db()
    assert lease.reset_outcome.startswith("timed out after 1 s (killed)\n…")
    assert len(lease.reset_outcome) < 100  # the output's end only


def test_reconcile_ends_the_labs_of_learners_without_a_server(lab_key, learners, queued) -> None:
    pool_load(accounts=3, reset_command=["/bin/true"])
    now = timezone.now()
    long_ago = now - timedelta(hours=1)
    for user in learners[:3]:
        lab_grant(user=user, workshop_slug="redfish-101", spec=SPEC, now=long_ago)
    lab_grant(user=learners[3], workshop_slug="w", spec={"generate": {"STDID": "student-number"}}, now=now)
    # ada runs a server; dee's lab is new (her server is still starting); bob and cy have none.
    assert labs_reconcile(running={"ada"}, now=now) == 2
    active = set(LabSession.objects.filter(ended_at__isnull=True).values_list("user__username", flat=True))
    assert active == {"ada", "dee"}
    assert LabSession.objects.get(user=learners[1]).end_reason == "no server"
    assert labs_reconcile(running={"ada"}, now=now) == 0
    # Resets left pending (the broker lost them) are queued again once the grace is over.
    later = now + timedelta(hours=1)
    labs_reconcile(running={"ada", "dee"}, now=later)
    assert sorted(name for name, _ in queued.tasks()) == ["lab_lease_reset_task"] * 2


def test_no_key_with_stored_accounts_is_a_system_check_error_and_local_setup_makes_one(
    lab_key, settings, tmp_path
) -> None:
    from django.core.checks import run_checks

    from portal.checks import check_lab_accounts_decryptable, check_lab_keys

    assert check_lab_keys(None) == [] and check_lab_accounts_decryptable(None, databases=["default"]) == []
    pool_load(accounts=1)
    settings.LAB_ENCRYPTION_KEYS = []
    assert check_lab_keys(None) == []  # no database needed for that one
    [error] = [m for m in run_checks(databases=["default"]) if m.id == "portal.E004"]
    assert error.id == "portal.E004" and "LAB_ENCRYPTION_KEYS" in error.msg
    settings.LAB_ENCRYPTION_KEYS = ["not-a-key"]
    [error] = check_lab_keys(None)
    assert error.id == "portal.E005" and "not-a-key" not in error.msg
    settings.LAB_ENCRYPTION_KEYS = []
    call_command("local_setup", stdout=io.StringIO(), stderr=io.StringIO())
    key_file = settings.VAR_DIR / "lab-encryption-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    Fernet(key_file.read_text().encode())  # a real key
    before = key_file.read_text()
    call_command("local_setup", stdout=io.StringIO(), stderr=io.StringIO())
    assert key_file.read_text() == before  # never replaced: it would orphan what it encrypted
    assert check_lab_keys(None) == []  # a key exists now (it cannot open the old accounts: a new deployment)


def test_keys_rotate_with_the_old_key_kept_second(lab_key, learners, settings) -> None:
    pool_load(accounts=1)
    lab_grant(user=learners[0], workshop_slug="redfish-101", spec=SPEC)
    new = Fernet.generate_key().decode()
    settings.LAB_ENCRYPTION_KEYS = [new, lab_key]
    out = io.StringIO()
    call_command("lab_keys_rotate", stdout=out)
    assert "2 record(s) re-encrypted" in out.getvalue()
    settings.LAB_ENCRYPTION_KEYS = [new]  # the old key dropped: everything still opens
    from portal.lab import lab_credentials_read

    assert lab_credentials_read(user=learners[0])["ILO_PASSWORD"] == pool_password(1)


def _csv(tmp_path, text: str):
    path = tmp_path / "pool.csv"
    path.write_text(text)
    return path


def test_pool_load_creates_updates_by_label_and_never_prints_passwords(lab_key, tmp_path) -> None:
    path = _csv(
        tmp_path,
        "label,endpoint,username,password,host_id\n"
        "ilo-1,https://10.0.0.1,student1,Pw-one-SECRET,H1\n"
        "ilo-2,https://10.0.0.2,student2,Pw-two-SECRET,\n",
    )
    out = io.StringIO()
    call_command("lab_pool_load", "ilo-gen10", str(path), stdout=out)
    assert out.getvalue().strip() == "pool ilo-gen10 (created): 2 added, 0 updated, 0 unchanged"
    path.write_text(
        "\ufefflabel,endpoint,username,password,host_id\n"
        "ilo-1,https://10.0.0.1,student1,Pw-one-SECRET,H1\n"
        "ilo-2,https://10.0.0.2,student2,Pw-two-CHANGED,H2\n"
    )
    out = io.StringIO()
    call_command("lab_pool_load", "ilo-gen10", str(path), stdout=out)
    assert out.getvalue().strip() == "pool ilo-gen10: 0 added, 1 updated, 1 unchanged"
    assert "SECRET" not in out.getvalue() and "CHANGED" not in out.getvalue()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("label,endpoint,username\nx,y,z\n", "lacks the column(s) password"),
        (
            "label,endpoint,username,password\na,https://h,u,Pw-SECRET-1\na,https://h,u,Pw-SECRET-2\n",
            "line 3: label 'a' is repeated (first on line 2)",
        ),
        ("label,endpoint,username,password\nb,https://h,,Pw-SECRET-3\n", "line 2 (b): empty username"),
        ("label,endpoint,username,password\nc,https://h,u,Pw-SECRET-4,extra\n", "line 2: 4 columns expected"),
    ],
)
def test_a_bad_pool_file_loads_nothing_and_says_which_line(lab_key, tmp_path, text, expected) -> None:
    # A good row after the bad one: it is not loaded either (all or nothing).
    path = _csv(tmp_path, text + ("ok,https://h,u,Pw-SECRET-0\n" if "password" in text else ""))
    with pytest.raises(CommandError) as raised:
        call_command("lab_pool_load", "ilo-gen10", str(path), stdout=io.StringIO())
    assert "nothing loaded" in str(raised.value) and expected in str(raised.value)
    assert "SECRET" not in str(raised.value)
    assert not PoolAccount.objects.exists()

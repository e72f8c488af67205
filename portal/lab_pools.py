"""Operators' pool work: load accounts from CSV (all or nothing), re-encrypt secrets under a new key."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from portal.lab_crypto import secret_decrypt, secret_decrypt_json, secret_encrypt, secret_encrypt_json, secret_rotate
from portal.models import CredentialPool, LabSession, PoolAccount

REQUIRED = ("label", "endpoint", "username", "password")
MAX_ROWS = 10_000
MAX_LENGTHS = {"label": 100, "endpoint": 500, "username": 200}
POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}\Z")
EXTRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")


class PoolFileError(ValueError):
    """The file cannot be loaded; problems lists every bad row (no secret in any of them)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PoolLoadReport:
    """What a load did (counts only)."""

    pool: str
    pool_created: bool
    added: int
    updated: int
    unchanged: int
    not_in_file: int  # accounts of the pool the file does not name: left as they are


@sensitive_variables("rows", "row", "text")
def pool_csv_parse(text: str) -> list[dict]:
    """Return the rows of a pool CSV as {label, endpoint, username, password, extra}; PoolFileError
    naming every bad line (by number and label, never by password)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise PoolFileError([f"the header lacks the column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})"])
    extras = [name for name in header if name not in REQUIRED]
    bad_names = [name for name in extras if not EXTRA_NAME.match(name)]
    if bad_names or len(set(header)) != len(header):
        raise PoolFileError([f"bad or repeated column names: {', '.join(bad_names) or 'repeated'}"])
    reader.fieldnames = header
    rows, problems, seen = [], [], {}
    for row in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise PoolFileError([f"more than {MAX_ROWS} accounts in one file"])
        if None in row or any(value is None for value in row.values()):
            problems.append(f"line {line}: {len(header)} columns expected")
            continue
        values = {name: value.strip() for name, value in row.items()}
        label = values["label"]
        empty = [name for name in REQUIRED if not values[name]]
        if empty:
            problems.append(f"line {line}{f' ({label})' if label else ''}: empty {', '.join(empty)}")
            continue
        long = [name for name, most in MAX_LENGTHS.items() if len(values[name]) > most]
        if long:
            problems.append(f"line {line} ({label[:100]}): too long: {', '.join(long)}")
            continue
        if label in seen:
            problems.append(f"line {line}: label {label!r} is repeated (first on line {seen[label]})")
            continue
        seen[label] = line
        rows.append(
            {
                "label": label,
                "endpoint": values["endpoint"],
                "username": values["username"],
                "password": row["password"],  # as written: spaces may belong to a password
                "extra": {name: values[name] for name in extras if values[name]},
            }
        )
    if problems:
        raise PoolFileError(problems)
    return rows


@sensitive_variables("rows", "row")
def lab_pool_load(*, pool: str, rows: list[dict]) -> PoolLoadReport:
    """Create or update the pool's accounts by label, in one transaction (all rows or none)."""
    if not POOL_NAME.match(pool):
        raise PoolFileError([f"pool name {pool!r}: lowercase letters, digits and dashes, at most 50"])
    added = updated = unchanged = 0
    with transaction.atomic():
        target, created = CredentialPool.objects.get_or_create(name=pool)
        existing = {account.label: account for account in target.accounts.select_for_update()}
        for row in rows:
            account = existing.get(row["label"])
            if account is None:
                PoolAccount.objects.create(
                    pool=target,
                    label=row["label"],
                    endpoint=row["endpoint"],
                    username=row["username"],
                    password_encrypted=secret_encrypt(row["password"]),
                    extra_encrypted=secret_encrypt_json(row["extra"]),
                )
                added += 1
                continue
            same = (
                account.endpoint == row["endpoint"]
                and account.username == row["username"]
                and secret_decrypt(account.password_encrypted) == row["password"]
                and secret_decrypt_json(account.extra_encrypted) == row["extra"]
            )
            if same:
                unchanged += 1
                continue
            account.endpoint, account.username = row["endpoint"], row["username"]
            account.password_encrypted = secret_encrypt(row["password"])
            account.extra_encrypted = secret_encrypt_json(row["extra"])
            account.save()
            updated += 1
        named = {row["label"] for row in rows}
    return PoolLoadReport(
        pool=pool,
        pool_created=created,
        added=added,
        updated=updated,
        unchanged=unchanged,
        not_in_file=len(set(existing) - named),
    )


def lab_secrets_rotate() -> int:
    """Re-encrypt every stored lab secret with the first key of LAB_ENCRYPTION_KEYS; return how many."""
    count = 0
    with transaction.atomic():
        for account in PoolAccount.objects.select_for_update():
            account.password_encrypted = secret_rotate(account.password_encrypted)
            account.extra_encrypted = secret_rotate(account.extra_encrypted)
            account.save(update_fields=["password_encrypted", "extra_encrypted"])
            count += 1
        for session in LabSession.objects.select_for_update().exclude(values_encrypted=""):
            session.values_encrypted = secret_rotate(session.values_encrypted)
            session.save(update_fields=["values_encrypted"])
            count += 1
    return count

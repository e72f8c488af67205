"""What a lab grant computes from a LabSpec, pure: port ranges, generated values, filled services, env.

No Django, no I/O: portal.lab reads the database and calls these. A LabSpec is the catalog's
public, validated `lab:` mapping (see the shared design); these functions still tolerate a
missing key, since a spec stored by an older catalog version may lack one.
"""

from __future__ import annotations

import secrets
import shlex
import string
from collections.abc import Iterable, Mapping

DEFAULT_CREDENTIALS_ENV = {"LAB_ENDPOINT": "endpoint", "LAB_USERNAME": "username", "LAB_PASSWORD": "password"}
DEFAULT_URL = "http://127.0.0.1:{port}"
PASSWORD, STUDENT_NUMBER, TOKEN = "password", "student-number", "token"
PASSWORD_LENGTH = 16
# Letters and digits only: a generated password is typed into forms, shells and JSON by learners.
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def port_range_parse(text: str) -> range:
    """Return the ports of "low-high" (both included, 1024 < low <= high < 65536); ValueError otherwise."""
    low_text, sep, high_text = text.strip().partition("-")
    try:
        low, high = int(low_text), int(high_text if sep else low_text)
    except ValueError:
        raise ValueError(f"LAB_PORTS must be low-high, e.g. 20000-29999, not {text!r}") from None
    if not 1024 < low <= high < 65536:
        raise ValueError(f"LAB_PORTS must lie within 1025-65535 with low <= high, not {text!r}")
    return range(low, high + 1)


def password_make() -> str:
    """Return a 16-character password of letters and digits from the OS's generator."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def token_make() -> str:
    """Return 32 random hex characters."""
    return secrets.token_hex(16)


def lowest_free(used: Iterable[int]) -> int:
    """Return the smallest positive integer not in used."""
    taken = set(used)
    number = 1
    while number in taken:
        number += 1
    return number


def spec_services(spec: Mapping) -> list[dict]:
    """Return the spec's services (a list of dicts, possibly empty)."""
    return [dict(service) for service in spec.get("services") or []]


def spec_pool(spec: Mapping) -> str:
    """Return the pool the spec borrows an account from, "" for none."""
    return str((spec.get("credentials") or {}).get("pool") or "")


def spec_credentials_env(spec: Mapping) -> dict[str, str]:
    """Return env var -> account field for the spec's pool account (the default names when unset)."""
    return dict((spec.get("credentials") or {}).get("env") or DEFAULT_CREDENTIALS_ENV)


def spec_generate(spec: Mapping) -> dict[str, str]:
    """Return generated name -> kind (password | student-number | token)."""
    return dict(spec.get("generate") or {})


def spec_empty(spec: Mapping) -> bool:
    """Tell whether the spec asks for nothing: no service, no pool, no generated value."""
    return not (spec_services(spec) or spec_pool(spec) or spec_generate(spec))


def services_fill(services: list[dict], ports: list[int]) -> list[dict]:
    """Return the services with "port" added and "{port}" filled in command and url (one port each)."""
    filled = []
    for service, port in zip(services, ports, strict=True):
        command = service.get("command") or []
        if isinstance(command, str):  # the catalog splits strings; an old spec may not have
            command = shlex.split(command)
        filled.append(
            {
                **service,
                "port": port,
                "command": [str(part).replace("{port}", str(port)) for part in command],
                "url": str(service.get("url") or DEFAULT_URL).replace("{port}", str(port)),
                "web": bool(service.get("web", False)),
            }
        )
    return filled


def generated_values(generate: Mapping[str, str], *, student_number: int | None) -> dict[str, str]:
    """Return name -> value for the spec's generated values; ValueError for an unknown kind."""
    values = {}
    for name, kind in generate.items():
        if kind == PASSWORD:
            values[name] = password_make()
        elif kind == TOKEN:
            values[name] = token_make()
        elif kind == STUDENT_NUMBER:
            if student_number is None:
                raise ValueError("a student number was asked for but none was given")
            values[name] = str(student_number)
        else:
            raise ValueError(f"unknown kind of generated value {kind!r} for {name}")
    return values


def account_env(mapping: Mapping[str, str], account: Mapping[str, str]) -> dict[str, str]:
    """Return env var -> value of the account's field (endpoint, username, password or an extra key).

    A field the account lacks gives "" (the workshop's notebook shows an empty value, the
    learner's server still starts); the caller logs its name, never a value.
    """
    return {name: str(account.get(field, "")) for name, field in mapping.items()}


def lab_env(*, services: list[dict], credentials: Mapping[str, str], generated: Mapping[str, str]) -> dict[str, str]:
    """Return the learner's environment: each service's url under its env name, credentials, generated."""
    env = {service["env"]: service["url"] for service in services if service.get("env")}
    return {**env, **credentials, **generated}

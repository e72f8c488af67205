"""Read a workshop's per-learner lab (the `lab:` section of its metadata) into a LabSpec (pure).

A workshop may declare what each learner gets for themselves when they launch it (issue 13,
/work/briefs/lab-design.md section 1): services started in their server on ports of their own,
an account leased from an operator's credential pool, and generated values. The catalog only
*reads* the declaration; the portal grants it (portal.lab) and the learner's server runs it
(hubconfig/labext.py). The stored shape, a LabSpec, is public catalog data::

    {"services": [{"name": "redfish",              # [a-z][a-z0-9-]{0,30}, unique
                   "title": "a Redfish emulator",   # how the workshop page names it (default: "a redfish service")
                   "command": ["sushy-emulator", "-p", "{port}"],  # argv (a string is split with shlex);
                                                   # 1..50 items; "{port}" the only placeholder
                   "env": "REDFISH_URL",            # ^[A-Z_][A-Z0-9_]{0,63}$, receives the url
                   "url": "http://127.0.0.1:{port}",  # http(s) on the learner's loopback, {port} as its port
                   "web": false,                    # also reachable through the server at proxy/{port}/
                   "ready": "/redfish/v1/"}],       # HTTP path polled until it answers, or null
     "credentials": {"pool": "ilo-gen10",           # [a-z0-9][a-z0-9-]{0,49}, or "" for none
                     "env": {"ILO_PASSWORD": "password"}},  # env var -> account field ({} without a pool)
     "generate": {"STDID": "student-number"}}       # name -> password | student-number | token

A workshop without a lab stores `{}`. Every key is always present in a non-empty LabSpec.

Rules, and where they come from:
- a problem in the section (a bad name, an unknown placeholder, a duplicate variable, too many
  items, a literal credential) drops the whole section, never the workshop: each problem is a
  notice on its line, and one more says what learners will lack (the design: "failing the lab
  section, not the whole workshop");
- nothing secret is ever in a LabSpec: a `password:` (or `secret:`, `token:`...) key with a value is
  refused and its value never repeated; secrets live in the operator's pools (portal.lab);
- variables that would change how the learner's server itself runs (PATH, HOME, JUPYTER*,
  PORTAL_*...) are refused: a workshop must not be able to steer the server it runs in;
- Workshops-on-Demand wod.yml: every workshop gets `STDID: student-number` (its backend numbers
  every student), `varpass: true` adds `PASSSTU: password`; the `lab:` section adds to (and wins
  over) these; `reset: true` is the pool's reset command in this portal (portal.lab), so it is
  only a hint here.

Bounds: the metadata file itself is bounded (catalog.metadata: 64 KiB, 10,000 values once
aliases are expanded, 32 levels); here at most MAX_SERVICES services, MAX_GENERATED generated
values, MAX_COMMAND_ITEMS arguments of MAX_ARGUMENT_CHARS each, and MAX_NOTICES notices.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from catalog.notices import LAB, Notice
from hubconfig.labnames import env_name_reserved

MAX_SERVICES = 5
MAX_GENERATED = 20
MAX_CREDENTIAL_VARIABLES = 20
MAX_COMMAND_ITEMS = 50
MAX_ARGUMENT_CHARS = 1000
MAX_COMMAND_CHARS = 8000  # a command written as one string, before it is split
MAX_NOTICES = 20
DEFAULT_URL = "http://127.0.0.1:{port}"
DEFAULT_CREDENTIAL_ENV = {"LAB_ENDPOINT": "endpoint", "LAB_USERNAME": "username", "LAB_PASSWORD": "password"}
GENERATED_KINDS = ("password", "student-number", "token")
# What the Workshops-on-Demand backend gives every student, and what `varpass: true` adds.
WOD_STUDENT = {"STDID": "student-number"}
WOD_VARPASS = {"PASSSTU": "password"}

_ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,63}$"
_SERVICE_NAME = r"^[a-z][a-z0-9-]{0,30}$"
_POOL_NAME = r"^(?:[a-z0-9][a-z0-9-]{0,49})?$"
_ACCOUNT_FIELD = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|[{}]")
_URL = re.compile(r"^https?://(?:127\.0\.0\.1|localhost|\[::1\]):\{port\}(?:/[^\s{}]*)?$")
# Keys that hold a credential when they are given a value (the spec must stay public).
_SECRET_KEY = re.compile(
    r"^(?:pass(?:word|wd|phrase)?|secret|client[_-]?secret|token|api[_-]?key|apikey|private[_-]?key)s?$",
    re.IGNORECASE,
)
_PATTERN_WORDS = {
    _SERVICE_NAME: "a name of lowercase letters, digits and dashes, starting with a letter (at most 31)",
    _ENV_NAME: "a variable name of capital letters, digits and _, not starting with a digit (at most 64)",
    _POOL_NAME: "a pool name of lowercase letters, digits and dashes (at most 50)",
    _ACCOUNT_FIELD: "an account field: endpoint, username, password or a key of the account's extra",
    r"^/[^\s]{0,199}$": "an HTTP path starting with / (at most 200 characters, no spaces)",
}
_KIND_WORDS = {"password": "your own password", "student-number": "your own student number", "token": "your own token"}


def _command_argv(value: Any) -> Any:
    """Split a command line written as one string (shlex, as a POSIX shell would); keep a list as it is."""
    if isinstance(value, str):
        if len(value) > MAX_COMMAND_CHARS:
            raise ValueError(f"a command line of at most {MAX_COMMAND_CHARS} characters")
        try:
            return shlex.split(value)
        except ValueError as exc:  # an unclosed quote
            raise ValueError(f"a command line shlex can split ({exc})") from None
    if isinstance(value, list):
        # A number written as an argument (`-p, 8800`) is the text it was written as.
        return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
    raise ValueError("a list of arguments or a command line string")


EnvName = Annotated[str, Field(pattern=_ENV_NAME)]
Argument = Annotated[str, Field(min_length=1, max_length=MAX_ARGUMENT_CHARS)]


class LabService(BaseModel):
    """One service started in each learner's server, on a port of its own."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=_SERVICE_NAME)
    title: str = Field(default="", max_length=80)
    command: Annotated[
        list[Argument], Field(min_length=1, max_length=MAX_COMMAND_ITEMS), BeforeValidator(_command_argv)
    ]
    env: EnvName
    url: str = Field(default=DEFAULT_URL, max_length=300)
    web: bool = False
    ready: str | None = Field(default=None, pattern=r"^/[^\s]{0,199}$")

    @field_validator("command")
    @classmethod
    def _only_port_placeholder(cls, argv: list[str]) -> list[str]:
        unknown = sorted({m for arg in argv for m in _PLACEHOLDER.findall(arg) if m != "{port}"})
        if unknown:
            raise ValueError(f"unknown placeholder {', '.join(unknown)[:80]} (only {{port}} is filled in)")
        if any("\0" in arg for arg in argv):
            raise ValueError("no NUL characters in arguments")
        return argv

    @field_validator("url")
    @classmethod
    def _loopback_url(cls, url: str) -> str:
        if not _URL.match(url):
            raise ValueError("an http(s) URL on the learner's own server, 'http://127.0.0.1:{port}' plus a path")
        return url


class LabCredentials(BaseModel):
    """An account leased to each learner from an operator's pool, reaching them as variables."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    pool: str = Field(default="", pattern=_POOL_NAME)
    env: Annotated[dict[EnvName, Annotated[str, Field(pattern=_ACCOUNT_FIELD)]], Field(max_length=20)] | None = None


class LabYml(BaseModel):
    """The `lab:` section of workshop.yml or wod.yml."""

    model_config = ConfigDict(extra="forbid")

    services: Annotated[list[LabService], Field(max_length=MAX_SERVICES)] = []
    credentials: LabCredentials | None = None
    generate: Annotated[
        dict[EnvName, Literal["password", "student-number", "token"]], Field(max_length=MAX_GENERATED)
    ] = {}


@dataclass(frozen=True)
class LabRead:
    """The LabSpec read from a metadata file ({} for none or an unusable section) and its notices."""

    spec: dict[str, Any]
    notices: list[Notice]


def _node_at(node: Node | None, path: Sequence[Any]) -> Node | None:
    """Return the deepest node of path (mapping keys, sequence indexes) found under node."""
    for step in path:
        if isinstance(node, MappingNode):
            key_node = next((k for k, _ in node.value if isinstance(k, ScalarNode) and k.value == str(step)), None)
            if key_node is None:
                return node
            value = next(v for k, v in node.value if k is key_node)
            node = key_node if not isinstance(value, MappingNode | SequenceNode) and step == path[-1] else value
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return node
    return node


def _line(node: Node | None, path: Sequence[Any]) -> int | None:
    found = _node_at(node, path)
    return found.start_mark.line + 1 if found is not None and found.start_mark is not None else None


def _where(loc: Sequence[Any]) -> str:
    """Name a place in the section: lab.services[0].command[2]."""
    text = "lab"
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


def _shown(value: Any) -> str:
    """Show a value in a notice, briefly (it is never a secret: those are refused before)."""
    if isinstance(value, dict | list):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _said(error: Mapping[str, Any]) -> str:
    """Say what a pydantic error expected, in words (not a regular expression)."""
    if error["type"] == "string_pattern_mismatch":
        return "expected " + _PATTERN_WORDS.get(error.get("ctx", {}).get("pattern", ""), "another form")
    said = str(error["msg"]).removeprefix("Value error, ")
    return said[0].lower() + said[1:]


def _secret_problems(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Find keys holding a literal credential (their values are never repeated)."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(data, dict):
        names_only = path in (("generate",), ("credentials", "env"))  # keys there are variable names
        for key, value in data.items():
            secret = not names_only and isinstance(key, str) and _SECRET_KEY.match(key)
            if secret and value not in (None, "", [], {}):
                found.append(
                    (
                        (*path, key),
                        f"{_where((*path, key))}: a literal credential in a public file; its value is not used. "
                        "Keep secrets in an operator's credential pool and name it with lab.credentials.pool",
                    )
                )
            elif len(path) < 4:
                found += _secret_problems(value, (*path, key))
    elif isinstance(data, list) and len(path) < 4:
        for index, item in enumerate(data[: MAX_COMMAND_ITEMS + 1]):
            found += _secret_problems(item, (*path, index))
    return found


def _without(data: Any, path: tuple[Any, ...]) -> Any:
    """Return data without the key at path (a copy along the path)."""
    if not path or not isinstance(data, dict | list):
        return data
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {k: (_without(v, rest) if k == head else v) for k, v in data.items()}
    return [(_without(v, rest) if i == head else v) for i, v in enumerate(data)]


def _spec(lab: LabYml) -> dict[str, Any]:
    """Return the LabSpec of a valid section (every key present)."""
    credentials = lab.credentials or LabCredentials()
    env = {} if not credentials.pool else dict(credentials.env or DEFAULT_CREDENTIAL_ENV)
    return {
        "services": [
            {
                "name": s.name,
                "title": s.title or f"a {s.name} service",
                "command": list(s.command),
                "env": s.env,
                "url": s.url,
                "web": s.web,
                "ready": s.ready,
            }
            for s in lab.services
        ],
        "credentials": {"pool": credentials.pool, "env": env},
        "generate": dict(lab.generate),
    }


def _consistency(lab: LabYml) -> list[tuple[tuple[Any, ...], str]]:
    """Find what each part allows but the whole does not: duplicates, reserved names, env without pool."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    seen_names: dict[str, int] = {}
    for index, service in enumerate(lab.services):
        if service.name in seen_names:
            where = ("services", index, "name")
            problems.append(
                (where, f"{_where(where)}: '{service.name}' names services[{seen_names[service.name]}] too")
            )
        seen_names.setdefault(service.name, index)
    credentials = lab.credentials or LabCredentials()
    if credentials.env and not credentials.pool:
        where = ("credentials", "env")
        problems.append((where, f"{_where(where)}: variables without a pool; name the pool with lab.credentials.pool"))
    places: list[tuple[tuple[Any, ...], str]] = [(("services", i, "env"), s.env) for i, s in enumerate(lab.services)]
    places += [(("credentials", "env", name), name) for name in (credentials.env or {}) if credentials.pool]
    places += [(("generate", name), name) for name in lab.generate]
    first: dict[str, tuple[Any, ...]] = {}
    for where, name in places:
        if env_name_reserved(name):
            problems.append((where, f"{_where(where)}: '{name}' is a variable the learner's server runs by"))
        elif name in first:
            problems.append((where, f"{_where(where)}: variable '{name}' is set by {_where(first[name])} too"))
        first.setdefault(name, where)
    return problems


def _lacking(data: Any) -> str:
    """Say what learners will not get, from whatever can be made out of a refused section."""
    parts: list[str] = []
    if isinstance(data, dict):
        services = data.get("services")
        for service in services[:MAX_SERVICES] if isinstance(services, list) else []:
            if isinstance(service, dict):
                name, env = service.get("name"), service.get("env")
                label = f"the {str(name)[:31]} service" if isinstance(name, str) else "a service"
                parts.append(f"{label} ({str(env)[:64]})" if isinstance(env, str) else label)
        credentials = data.get("credentials")
        if isinstance(credentials, dict) and isinstance(credentials.get("pool"), str) and credentials["pool"]:
            parts.append(f"an account from the '{credentials['pool'][:50]}' pool")
        generate = data.get("generate")
        if isinstance(generate, dict) and generate:
            names = [str(n)[:64] for n in list(generate)[:5]]
            parts.append("generated " + ", ".join(names) + (", ..." if len(generate) > 5 else ""))
    lacking = "; ".join(parts) if parts else "nothing the section declares"
    return f"lab: not used, so learners get no lab of their own: {lacking}"


def lab_read(
    *,
    filename: str,
    data: Any,
    node: Node | None = None,
    line: int | None = None,
    base: Mapping[str, str] | None = None,
) -> LabRead:
    """Read a `lab:` section (data as loaded, node the YAML node of its value) into a LabSpec.

    base: generated values the metadata format gives anyway (Workshops-on-Demand's STDID and
    PASSSTU); the section adds to them and wins. A section with problems gives the base alone,
    a notice per problem on its line, and one saying what learners will lack (on line, the
    `lab:` key's).
    """
    line = line or _line(node, ())
    base = dict(base or {})
    if data is None:
        return LabRead(_spec(LabYml(generate=base)) if base else {}, [])
    if isinstance(data, dict) and not data:
        return LabRead(_spec(LabYml(generate=base)) if base else {}, [])
    problems: list[tuple[tuple[Any, ...], str]] = []
    if not isinstance(data, dict):
        problems.append(((), f"lab: expected a mapping (services, credentials, generate), got {_shown(data)}"))
    else:
        secrets = _secret_problems(data)
        problems += secrets
        cleaned: Any = data
        for where, _ in secrets:
            cleaned = _without(cleaned, where)
        declared = cleaned.get("generate")
        if base and declared is None:
            cleaned = {**cleaned, "generate": base}
        elif base and isinstance(declared, dict):
            cleaned = {**cleaned, "generate": {**base, **declared}}
        try:
            lab = LabYml.model_validate(cleaned)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = tuple(error["loc"])
                if loc and loc[-1] == "[key]":
                    loc = loc[:-1]
                    message = f"{_where(loc)}: a bad name, {_said(error)}"
                elif error["type"] == "extra_forbidden":
                    message = f"{_where(loc)}: unknown field"
                    known = {1: "services, credentials, generate", 3: "name, title, command, env, url, web, ready"}
                    if len(loc) in known and (len(loc) == 1 or loc[0] == "services"):
                        message += f" (known: {known[len(loc)]})"
                    elif loc[:1] == ("credentials",):
                        message += " (known: pool, env)"
                else:
                    message = f"{_where(loc)}: {_said(error)}, got {_shown(error['input'])}"
                problems.append((loc, message))
        else:
            problems += _consistency(lab)
            if not problems:
                return LabRead(_spec(lab), [])
    notices = [Notice(filename, message, _line(node, where), LAB) for where, message in problems[:MAX_NOTICES]]
    if len(problems) > MAX_NOTICES:
        notices.append(Notice(filename, f"lab: {len(problems) - MAX_NOTICES} more problems not shown", line, LAB))
    lacking = _lacking(data)
    if base:
        lacking += f" (they still get {', '.join(base)} from {filename})"
    notices.append(Notice(filename, lacking, line, LAB))
    return LabRead(_spec(LabYml(generate=base)) if base else {}, notices)


def wod_lab_base(fields: Mapping[str, Any]) -> dict[str, str]:
    """Return the generated values a wod.yml gives every learner: STDID, and PASSSTU with `varpass`."""
    varpass = fields.get("varpass")
    on = varpass is True or (isinstance(varpass, str) and varpass.strip().lower() in ("true", "yes", "on", "1"))
    return {**WOD_STUDENT, **(WOD_VARPASS if on else {})}


def wod_reset_hint(
    *, filename: str, fields: Mapping[str, Any], spec: Mapping[str, Any], line: int | None
) -> list[Notice]:
    """Say what `reset: true` of a wod.yml becomes here: the pool's reset command, when there is a pool.

    The Workshops-on-Demand backend resets a student's appliance after the workshop; here an
    operator's credential pool does it (its reset command runs when a lease ends), so without
    a pool nothing is reset.
    """
    reset = fields.get("reset")
    on = reset is True or (isinstance(reset, str) and reset.strip().lower() in ("true", "yes", "on", "1"))
    if not on or (spec.get("credentials") or {}).get("pool"):
        return []
    message = (
        "reset: here an operator's credential pool resets what a learner used when their lab ends; "
        "name it with lab.credentials.pool (without a pool nothing is reset)"
    )
    return [Notice(filename, message, line, LAB)]


def lab_summary(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Say what a learner gets from a LabSpec, part by part: [{"text": "a Redfish emulator", "env": [...]}].

    Only public facts (names, pool names, variable names); for the workshop page. Variables are
    in name order: PostgreSQL's jsonb keeps no key order, so the page reads the same on any database.
    """
    parts: list[dict[str, Any]] = []
    for service in spec.get("services") or []:
        text = service.get("title") or f"a {service.get('name')} service"
        parts.append({"text": text, "env": [service.get("env")], "web": bool(service.get("web"))})
    credentials = spec.get("credentials") or {}
    if credentials.get("pool"):
        parts.append(
            {
                "text": f"credentials from the {credentials['pool']} pool",
                "env": sorted(credentials.get("env") or {}),
                "web": False,
            }
        )
    for name, kind in sorted((spec.get("generate") or {}).items()):
        parts.append({"text": _KIND_WORDS.get(kind, kind), "env": [name], "web": False})
    return parts

"""Lint a workshop folder before it is merged (pure: files in, findings out).

Whatever stops the sync publishing a folder comes from the sync's own reading of it
(catalog.builder.workshop_plan), reported here as errors: a workshop that passes here is one
the sync publishes. Outputs, kernels, links, secrets and sizes are the linter's own checks.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from catalog.builder import WorkshopPlan, workshop_plan
from catalog.notebooks import ParsedNotebook, markdown_parser, markdown_sources
from catalog.notices import Notice

ERROR, WARNING = "error", "warning"
# Opt-out marker for a line that only looks like a secret (detect-secrets' convention).
ALLOWLIST_MARKER = "pragma: allowlist secret"
TEXT_SUFFIXES = (
    ".ipynb",
    ".py",
    ".md",
    ".txt",
    ".yml",
    ".yaml",
    ".json",
    ".ps1",
    ".psm1",
    ".sh",
    ".cfg",
    ".ini",
    ".toml",
    ".env",
    ".conf",
    ".js",
    ".ts",
    ".xml",
    ".csv",
    ".rst",
    ".html",
)


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, which check, where (path from the repository root) and what."""

    severity: str
    check: str
    file: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class Limits:
    """The knobs of the checks, taken from settings by the service."""

    max_notebook_bytes: int
    max_file_bytes: int
    hub_kernels: tuple[str, ...] = ("python3",)
    documented_kernels: tuple[str, ...] = ()
    outputs_severity: str = WARNING
    template_values: tuple[tuple[str, Any], ...] = ()  # the site's, as the sync renders with them
    external_images: bool = True
    categories: tuple[str, ...] | None = None


def _line_of(text: str, needle: str) -> int | None:
    """Return the 1-based line of the first occurrence of needle in text."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


# --- metadata ---------------------------------------------------------------------------


def _yaml_line(text: str, problem: str) -> int | None:
    """Guess the line a metadata problem is about (the field's line, or the YAML error's)."""
    if match := re.search(r"at line (\d+)", problem):
        return int(match.group(1))
    if match := re.search(r"field '([^'.]+)", problem):
        field_match = re.search(rf"^\s*\"?{re.escape(match.group(1))}\"?\s*:", text, re.MULTILINE)
        if field_match:
            return text.count("\n", 0, field_match.start()) + 1
    return None


def metadata_check(*, plan: WorkshopPlan) -> list[Finding]:
    """Report each problem the sync found in the metadata file, on the line it is about."""
    name, error = plan.metadata_name, plan.metadata_error
    if name is None or error is None:
        return []
    text = plan.files.get(name, b"").decode("utf-8", errors="replace")  # absent when too large to read
    return [
        Finding(ERROR, "metadata", f"{plan.folder}/{name}", f"{name}: {p}", line or _yaml_line(text, p))
        for p, line in zip(error.problems, error.lines, strict=True)
    ]


def warnings_check(*, plan: WorkshopPlan) -> list[Finding]:
    """Report what the sync publishes with a default (the same warnings its report gives)."""
    return [_warning(plan.folder, notice) for notice in plan.warnings if notice.kind not in ("size", "paths")]


def _warning(folder: str, notice: Notice) -> Finding:
    return Finding(WARNING, notice.kind, f"{folder}/{notice.file}", str(notice), notice.line)


def metadata_kernels_check(*, plan: WorkshopPlan, limits: Limits) -> list[Finding]:
    """Check the kernels a valid metadata file lists against those the hub offers."""
    name = plan.metadata_name
    if name is None or plan.metadata_error is not None:
        return []
    text = plan.files[name].decode("utf-8", errors="replace")  # UTF-16 metadata is read too
    findings = []
    for kernel in plan.info.kernels:
        findings += kernel_check(
            folder=plan.folder, path=name, kernel=kernel, limits=limits, line=_line_of(text, kernel)
        )
    return findings


def layout_check(*, plan: WorkshopPlan) -> list[Finding]:
    """Report what else stops the sync publishing: no notebooks, a bad 'order', a missing image."""
    findings = []
    for problem in plan.layout_problems:
        name = problem.split(":", 1)[0]
        where = f"{plan.folder}/{name}" if name in plan.files else plan.folder
        findings.append(Finding(ERROR, "metadata", where, problem))
    return findings


# --- notebooks --------------------------------------------------------------------------


def notebook_check(*, folder: str, path: str, problem: str) -> Finding:
    """Report why the sync could not read a notebook (not nbformat 4, or over the size limit)."""
    check = "size" if "limit" in problem and "MB" in problem else "nbformat"
    line = int(m.group(1)) if (m := re.search(r"\(line (\d+),", problem)) else None
    return Finding(ERROR, check, f"{folder}/{path}", problem, line)


def outputs_check(*, folder: str, path: str, parsed: ParsedNotebook, raw_text: str, severity: str) -> list[Finding]:
    """Report code cells committed with outputs or execution counts."""
    with_outputs = [
        i
        for i, cell in enumerate(parsed.node.get("cells", []), start=1)
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    if not with_outputs:
        return []
    shown = ", ".join(str(i) for i in with_outputs[:8]) + (", …" if len(with_outputs) > 8 else "")
    line = _line_of(raw_text, '"output_type"') or _line_of(raw_text, '"execution_count": ')
    return [
        Finding(
            severity,
            "outputs",
            f"{folder}/{path}",
            f"{path}: outputs not stripped in {len(with_outputs)} code cell(s) ({shown}); "
            "clear them (e.g. nbstripout) so learners start from a clean notebook",
            line,
        )
    ]


def kernel_check(*, folder: str, path: str, kernel: str, limits: Limits, line: int | None = None) -> list[Finding]:
    """Check that the hub offers the kernel a notebook (or the metadata) asks for."""
    where = f"{folder}/{path}"
    if not kernel:
        return [
            Finding(
                WARNING,
                "kernel",
                where,
                f"{path}: no kernelspec; the hub will open it with its default kernel",
                line,
            )
        ]
    if kernel in limits.hub_kernels:
        return []
    if kernel in limits.documented_kernels:
        return [
            Finding(
                WARNING,
                "kernel",
                where,
                f"{path}: kernel '{kernel}' is not offered by the hub (documented for running locally)",
                line,
            )
        ]
    offered = ", ".join(limits.hub_kernels) or "none"
    return [
        Finding(
            ERROR,
            "kernel",
            where,
            f"{path}: kernel '{kernel}' is not offered by the hub (offered: {offered})",
            line,
        )
    ]


# --- secrets ----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"""^(?:
        <[^>]*> | \{[^}]*\} | \$\{?[A-Za-z_][\w]*\}? | %\(?\w*\)?s | \*+ | x+ | \.+ | -+ |
        (?:your|my|enter|insert|put|replace|example|sample|dummy|fake|test|placeholder)[\w\-\s]* |
        [\w\-\s]*(?:here|placeholder) |
        changeme|change_me|change-me|password|passw0rd|passwd|secret|token|redacted|none|null|
        undefined|todo|tbd|admin|default|xxx+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

_SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b")),
    ("GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{50,}\b")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"(?i)aws_?secret_?(?:access_?)?key\W{0,3}\s*[:=]\s*\W?[\"']?(?P<value>[A-Za-z0-9/+=]{40})\b"),
    ),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("Slack token", re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}")),
    (
        "Slack webhook",
        re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    ),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("bearer token", re.compile(r"\b[Bb]earer\s+(?P<value>[A-Za-z0-9\-._~+/]{20,}=*)")),
]
# password = "...", "password": "...", api_key: '...' (quoted literal values only: a name or
# a call on the right, like os.environ["PASSWORD"] or getpass(), is not a literal).
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>[\w.\-]*(?:password|passwd|pwd|passphrase|secret|api_?key|access_?key|auth_?token|
        access_?token|client_?secret|private_?key)[\w\-]*)
    ["']?\s*(?::\s*str\s*)?(?:=|:|=>)\s*
    (?P<quote>["'])(?P<value>[^"'\s]{4,})(?P=quote)
    """
)


# Names that hold facts about a secret, not the secret: secret_name, password_file, token_url.
_NOT_A_VALUE = re.compile(
    r"(?i)[_\-.](?:name|names|id|file|path|url|uri|type|env|var|field|label|prompt|hint|length|"
    r"policy|arn|ref|header|param|key_id)$"
)


def _assignment_is_secret(name: str, value: str) -> bool:
    """Tell whether a quoted literal assigned to a password-like name looks like a real value."""
    if _PLACEHOLDER.match(value) or _NOT_A_VALUE.search(name):
        return False
    return not value.lower().startswith(("os.environ", "env:", "vault:", "http://", "https://"))


def secrets_scan(*, text: str) -> list[tuple[int, str]]:
    """Return (line, kind) for each line of text that looks like it holds a secret."""
    found: list[tuple[int, str]] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        if ALLOWLIST_MARKER in raw_line:
            continue
        line = raw_line.replace('\\"', '"')  # notebook JSON escapes the quotes of cell sources
        for kind, pattern in _SECRET_PATTERNS:
            match = pattern.search(line)
            if match and not ("value" in pattern.groupindex and _PLACEHOLDER.match(match["value"])):
                found.append((number, kind))
                break
        else:
            for match in _ASSIGNMENT.finditer(line):
                if _assignment_is_secret(match["name"], match["value"]):
                    found.append((number, f"literal value for '{match['name']}'"))
                    break
    return found


def secrets_check(*, folder: str, files: dict[str, bytes]) -> list[Finding]:
    """Report tokens, passwords, private keys and cloud keys in the folder's text files."""
    findings = []
    for path, content in sorted(files.items()):
        if not path.lower().endswith(TEXT_SUFFIXES) and "." in posixpath.basename(path):
            continue
        text = content.decode("utf-8", errors="replace")
        for line, kind in secrets_scan(text=text):
            findings.append(
                Finding(
                    ERROR,
                    "secrets",
                    f"{folder}/{path}",
                    f"{path}: possible secret committed ({kind}); read it from the environment or a prompt instead",
                    line,
                )
            )
    return findings


# --- links ------------------------------------------------------------------------------


_HTML_SRC = re.compile(r"""<(?:img|a|source)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def markdown_targets(text: str) -> list[str]:
    """List the link and image targets of Markdown text (including inline HTML)."""
    targets: list[str] = []

    def walk(tokens: Iterable[Any]) -> None:
        for token in tokens:
            if token.type == "link_open" and token.attrGet("href"):
                targets.append(str(token.attrGet("href")))
            elif token.type == "image" and token.attrGet("src"):
                targets.append(str(token.attrGet("src")))
            elif token.type in ("html_inline", "html_block"):
                targets.extend(_HTML_SRC.findall(token.content))
            if token.children:
                walk(token.children)

    walk(markdown_parser().parse(text))
    return targets


def _is_relative(url: str) -> bool:
    """Tell whether url points at a file of the repository (no scheme, host or anchor only)."""
    parts = urlsplit(url)
    return not (parts.scheme or parts.netloc or url.startswith(("#", "/", "{", "$")))


def links_check(
    *, folder: str, path: str, markdown: list[str], raw_text: str, repo_paths: frozenset[str]
) -> list[Finding]:
    """Check that the relative links and images of Markdown resolve to files in the repository."""
    base = posixpath.dirname(f"{folder}/{path}")
    findings, seen = [], set()
    for text in markdown:
        for url in markdown_targets(text):
            if url in seen or not _is_relative(url):
                continue
            seen.add(url)
            target = posixpath.normpath(posixpath.join(base, unquote(urlsplit(url).path)))
            line = _line_of(raw_text, url)
            exists = target in repo_paths or any(p.startswith(target + "/") for p in repo_paths)
            if target.startswith("../") or not exists:
                findings.append(
                    Finding(
                        ERROR,
                        "links",
                        f"{folder}/{path}",
                        f"{path}: link '{url}' points at no file in the repository",
                        line,
                    )
                )
            elif not target.startswith(folder + "/"):
                findings.append(
                    Finding(
                        WARNING,
                        "links",
                        f"{folder}/{path}",
                        f"{path}: link '{url}' leaves the workshop folder; the catalog preview cannot show it",
                        line,
                    )
                )
    return findings


# --- a whole workshop -------------------------------------------------------------------


def workshop_lint(*, plan: WorkshopPlan, repo_paths: frozenset[str], limits: Limits) -> list[Finding]:
    """Run every check on the plan of one workshop folder."""
    folder, files = plan.folder, plan.files
    findings = metadata_check(plan=plan)
    findings += warnings_check(plan=plan)
    findings += metadata_kernels_check(plan=plan, limits=limits)
    for path in sorted(plan.notebook_paths):
        if path in plan.notebook_errors:
            findings.append(notebook_check(folder=folder, path=path, problem=plan.notebook_errors[path]))
            continue
        parsed = plan.notebooks[path]
        raw_text = files[path].decode("utf-8", errors="replace")
        findings += outputs_check(
            folder=folder,
            path=path,
            parsed=parsed,
            raw_text=raw_text,
            severity=limits.outputs_severity,
        )
        findings += kernel_check(
            folder=folder,
            path=path,
            kernel=parsed.kernel,
            limits=limits,
            line=_line_of(raw_text, '"kernelspec"'),
        )
        findings += links_check(
            folder=folder,
            path=path,
            markdown=markdown_sources(parsed.node),
            raw_text=raw_text,
            repo_paths=repo_paths,
        )
    for path, content in sorted(files.items()):
        if path.lower().endswith(".md"):
            text = content.decode("utf-8", errors="replace")
            findings += links_check(folder=folder, path=path, markdown=[text], raw_text=text, repo_paths=repo_paths)
        elif not path.endswith(".ipynb") and len(content) > limits.max_file_bytes:
            findings.append(
                Finding(
                    WARNING,
                    "size",
                    f"{folder}/{path}",
                    f"{path}: {len(content) / 1e6:.1f} MB is "
                    f"over the {limits.max_file_bytes / 1e6:.1f} MB file limit; not published",
                )
            )
    for path, size in sorted(plan.oversized.items()):  # never read: the size is the tree's
        if path != plan.metadata_name and path not in plan.notebook_paths:
            findings.append(
                Finding(
                    WARNING,
                    "size",
                    f"{folder}/{path}",
                    f"{path}: {size / 1e6:.1f} MB is over the {limits.max_file_bytes / 1e6:.1f} MB file limit; "
                    "not published",
                )
            )
    findings += [Finding(WARNING, "paths", folder, warning) for warning in plan.skipped]
    findings += secrets_check(folder=folder, files=files)
    findings += layout_check(plan=plan)
    return findings


def lint_plan(
    *,
    folder: str,
    files: dict[str, bytes],
    limits: Limits,
    oversized: Mapping[str, int] | None = None,
    skipped: Sequence[str] = (),
) -> WorkshopPlan | None:
    """Read a folder as the sync does, with the same limits; None when it holds no workshop."""
    return workshop_plan(
        folder=folder,
        files=files,
        max_notebook_bytes=limits.max_notebook_bytes,
        max_file_bytes=limits.max_file_bytes,
        oversized=oversized,
        skipped=skipped,
        template_values=dict(limits.template_values),
        external_images=limits.external_images,
        categories=limits.categories,
    )


def workshop_check(
    *, folder: str, files: dict[str, bytes], repo_paths: frozenset[str], limits: Limits
) -> list[Finding] | None:
    """Run every check on one workshop folder; None when the folder holds no workshop."""
    plan = lint_plan(folder=folder, files=files, limits=limits)
    return None if plan is None else workshop_lint(plan=plan, repo_paths=repo_paths, limits=limits)

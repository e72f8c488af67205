"""The content checks: secrets corpus, outputs, kernels, links, metadata, sizes."""

from __future__ import annotations

import json

import nbformat
import pytest

from catalog.lint import (
    ERROR,
    WARNING,
    Limits,
    markdown_targets,
    secrets_scan,
    workshop_check,
)
from tests.contentrepo import notebook_bytes, workshop_yml

LIMITS = Limits(max_notebook_bytes=1_000_000, max_file_bytes=100_000, hub_kernels=("python3",),
                documented_kernels=("powershell",), outputs_severity=WARNING)  # fmt: skip

# Built at run time so this file does not itself look like it holds secrets.
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
TRUE_POSITIVES = [
    f'token = "{GH}"',
    f"export GITHUB_TOKEN={GH}",
    "gho_" + "x" * 36,
    "github_pat_" + "11ABCDEFG0" + "a" * 72,
    "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE",
    "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----",
    'password = "S3cr3t!Pass"',
    "ilo_password = 'HPinvent123'",
    '    "password": "hunter22",',
    'session.auth = ("admin", "x"); api_key = "8f14e45fceea167a5a36dedd4bea2543"',
    "client_secret: 'q8Zt0pLm9'",
    '"source": ["pwd = \\"Tr0ub4dor&3\\"\\n"]',  # inside a notebook's JSON
    "slack = 'xoxb-" + "123456789012-abcdefghijkl'",
    "https://hooks.slack.com/services/" + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "key = 'AIza" + "SyA1234567890abcdefghijklmnopqrstuv'",
    "Authorization: Bearer " + "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
    "headers = {'Authorization': 'Bearer " + "abcdef0123456789abcdef0123'}",
]
FALSE_POSITIVES = [
    'password = os.environ["PASSWORD"]',
    "password = getpass()",
    'password = getpass.getpass("iLO password: ")',
    'password = "<your-password>"',
    'password = "changeme"',
    "password = 'CHANGE_ME'",
    'password = ""',
    'password = "********"',
    'password = "{password}"',
    'password = "${ILO_PASSWORD}"',
    'api_key = "your-api-key-here"',
    'token = "YOUR_TOKEN"',
    'password = input("Password: ")',
    "The password is stored in a vault.",
    "headers = {'Authorization': f'Bearer {token}'}",
    "Authorization: Bearer <token>",
    'print("Enter your password")',
    "ghp_ is the prefix of GitHub personal access tokens",
    "AKIA followed by 16 characters is an AWS access key id",
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    'password = "hunter22"  # pragma: allowlist secret',
    "password: str = None",
    "pwd = os.getcwd()",
    "secret_name = 'db-credentials'",
]


@pytest.mark.parametrize("line", TRUE_POSITIVES)
def test_secrets_true_positives_are_flagged(line):
    assert secrets_scan(text=line), line


@pytest.mark.parametrize("line", FALSE_POSITIVES)
def test_secrets_false_positives_are_not_flagged(line):
    assert secrets_scan(text=line) == [], line


def test_secret_line_numbers_point_at_the_line():
    text = "a = 1\nb = 2\npassword = 'S3cr3t!Pass'\n"
    assert secrets_scan(text=text) == [(3, "literal value for 'password'")]


def _nb(*cells, kernel="python3") -> bytes:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return nbformat.writes(nb).encode()


def _check(files, repo_paths=None, limits=LIMITS):
    paths = repo_paths if repo_paths is not None else frozenset(f"w/{p}" for p in files)
    return workshop_check(folder="w", files=files, repo_paths=paths, limits=limits)


def _by_check(findings):
    return {(f.check, f.severity) for f in findings}


def test_clean_workshop_has_no_findings():
    files = {
        "0-Intro.ipynb": notebook_bytes("Intro", "Setup"),
        "workshop.yml": workshop_yml(title="T"),
    }
    assert _check(files) == []


def test_folder_without_workshop_is_none():
    assert _check({"logo.png": b"\x89PNG"}) is None


def test_metadata_errors_name_file_field_and_line():
    files = {"0-Intro.ipynb": notebook_bytes("Intro"), "workshop.yml": b"title: T\nactive: maybe\n"}
    [finding] = _check(files)
    assert finding.file == "w/workshop.yml" and finding.severity == ERROR and finding.line == 2
    assert "active" in finding.message and "boolean" in finding.message


def test_cosmetic_metadata_faults_are_warnings_on_their_line():
    """A value the sync replaces by a default is a warning, on the line it is about: never an error."""
    files = {"0-Intro.ipynb": notebook_bytes("Intro"), "workshop.yml": b"title: T\nlevel: expert\nimage: tbd\n"}
    findings = _check(files)
    assert {(f.severity, f.line) for f in findings} == {(WARNING, 2), (WARNING, 3)}
    assert all(f.file == "w/workshop.yml" for f in findings)
    assert any("'beginner', 'intermediate' or 'advanced'" in f.message for f in findings)


def test_unknown_metadata_field_suggests_the_right_one():
    files = {"0-Intro.ipynb": notebook_bytes("Intro"), "workshop.yml": b"titel: T\n"}
    [finding] = _check(files)
    assert "did you mean 'title'" in finding.message and finding.severity == WARNING


def test_builder_problems_are_reported_too():
    files = {
        "0-Intro.ipynb": notebook_bytes("Intro"),
        "workshop.yml": workshop_yml(order=["9-Missing.ipynb"]),
    }
    [finding] = _check(files)
    assert finding.check == "metadata" and "9-Missing.ipynb" in finding.message


def test_builder_problems_are_reported_beside_other_errors():
    files = {
        "0-Intro.ipynb": notebook_bytes("Intro"),
        "1-Broken.ipynb": b"{not json",
        "workshop.yml": workshop_yml(order=["9-Missing.ipynb"]),
    }
    assert _by_check(_check(files)) == {("metadata", ERROR), ("nbformat", ERROR)}


@pytest.mark.parametrize(
    "raw,expected",
    [(b"{not json", "not valid JSON"),
     (json.dumps({"nbformat": 3, "cells": []}).encode(), "nbformat 3"),
     (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                  "cells": [{"cell_type": "bogus"}]}).encode(), "not a valid nbformat 4")],
)  # fmt: skip
def test_broken_notebooks_are_errors_naming_the_notebook(raw, expected):
    [finding] = _check({"1-Broken.ipynb": raw})
    assert finding.severity == ERROR and finding.file == "w/1-Broken.ipynb"
    assert "1-Broken.ipynb" in finding.message and expected in finding.message


def test_oversized_notebook_is_a_size_error():
    limits = Limits(max_notebook_bytes=100, max_file_bytes=100)
    [finding] = _check({"0-Big.ipynb": notebook_bytes("Big")}, limits=limits)
    assert finding.check == "size" and finding.severity == ERROR


def test_big_other_file_is_a_warning():
    files = {"0-Intro.ipynb": notebook_bytes("Intro"), "data.bin": b"x" * 200_000}
    assert _by_check(_check(files)) == {("size", WARNING)}


def test_outputs_warning_or_error_by_setting():
    output = nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)
    cell = nbformat.v4.new_code_cell("1+1", execution_count=1, outputs=[output])
    files = {"0-Run.ipynb": _nb(nbformat.v4.new_markdown_cell("# Run"), cell)}
    [warning] = _check(files)
    assert (warning.check, warning.severity) == ("outputs", WARNING) and warning.line
    strict = Limits(max_notebook_bytes=10**6, max_file_bytes=10**6, outputs_severity=ERROR)
    assert _by_check(_check(files, limits=strict)) == {("outputs", ERROR)}


def test_kernels_offered_documented_and_unknown():
    assert _check({"0-A.ipynb": _nb(kernel="python3")}) == []
    assert _by_check(_check({"0-A.ipynb": _nb(kernel="powershell")})) == {("kernel", WARNING)}
    [finding] = _check({"0-A.ipynb": _nb(kernel="julia-1.9")})
    assert finding.severity == ERROR and "julia-1.9" in finding.message and "python3" in finding.message


def test_metadata_kernels_are_checked():
    files = {"0-A.ipynb": _nb(), "workshop.yml": workshop_yml(kernels=["ir"])}
    assert _by_check(_check(files)) == {("kernel", ERROR)}


def test_relative_links_and_images_must_resolve():
    md = nbformat.v4.new_markdown_cell(
        "# T\n![diagram](img/flow.png) ![gone](img/missing.png) [next](1-Next.ipynb) "
        '[web](https://example.org/x.png) [anchor](#top) <img src="img/also-missing.svg">\n'
        "[shared](../common/setup.md) [escape](../../etc/passwd)"
    )
    files = {"0-A.ipynb": _nb(md), "1-Next.ipynb": _nb(), "img/flow.png": b"png"}
    paths = frozenset({"w/0-A.ipynb", "w/1-Next.ipynb", "w/img/flow.png", "common/setup.md"})
    findings = _check(files, repo_paths=paths)
    messages = {f.message.split("'")[1]: f.severity for f in findings}
    assert messages == {"img/missing.png": ERROR, "img/also-missing.svg": ERROR,
                        "../common/setup.md": WARNING, "../../etc/passwd": ERROR}  # fmt: skip
    assert all(f.file == "w/0-A.ipynb" and f.line for f in findings)


def test_markdown_files_links_checked():
    files = {"0-A.ipynb": _nb(), "README.md": b"See [the guide](docs/guide.md)."}
    [finding] = _check(files)
    assert finding.file == "w/README.md" and finding.check == "links"


def test_markdown_targets_reads_links_images_and_html():
    assert markdown_targets('[a](x.md) ![b](y.png) <img src="z.gif">') == ["x.md", "y.png", "z.gif"]


def test_secrets_in_notebook_report_file_and_line():
    code = nbformat.v4.new_code_cell('import redfish\nclient = redfish.login(password="HPinvent123")')
    files = {"0-A.ipynb": _nb(nbformat.v4.new_markdown_cell("# A"), code)}
    [finding] = _check(files)
    assert finding.check == "secrets" and finding.file == "w/0-A.ipynb" and finding.line
    raw = files["0-A.ipynb"].decode().splitlines()[finding.line - 1]
    assert "HPinvent123" in raw


def test_utf16_metadata_is_checked_without_crashing():
    """Metadata saved as UTF-16 (read by the sync) is linted like any other: no finding, no crash."""
    files = {"0-A.ipynb": _nb(), "workshop.yml": "title: T\nkernels: [python3]\n".encode("utf-16")}
    assert _check(files) == []

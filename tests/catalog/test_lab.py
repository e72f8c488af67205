"""The per-learner lab a workshop declares (`lab:`): parsed, bounded, stored, validated, shown."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.lab import MAX_NOTICES, WOD_STUDENT, lab_read, lab_summary
from catalog.metadata import MetadataError, metadata_load, metadata_parse
from catalog.models import Workshop
from catalog.sync import catalog_sync
from catalog.validation import report_findings, source_validate
from tests.contentrepo import ContentRepo

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "workshops"

LAB_YML = """\
title: Redfish 101
lab:
  services:
    - name: redfish
      title: a Redfish emulator
      command: sushy-emulator -i 127.0.0.1 -p {port} --config 'sushy emulator.conf'
      env: REDFISH_URL
      ready: /redfish/v1/
    - name: console
      command: [python3, console.py, --port, "{port}", --retries, 3]
      env: CONSOLE_URL
      url: http://127.0.0.1:{port}/ui/
      web: yes
  credentials:
    pool: ilo-gen10
    env: {ILO_URL: endpoint, ILO_USERNAME: username, ILO_PASSWORD: password, ILO_SERIAL: serial}
  generate:
    PASSSTU: password
    STDID: student-number
    API_TOKEN: token
"""

SPEC = {
    "services": [
        {
            "name": "redfish",
            "title": "a Redfish emulator",
            "command": ["sushy-emulator", "-i", "127.0.0.1", "-p", "{port}", "--config", "sushy emulator.conf"],
            "env": "REDFISH_URL",
            "url": "http://127.0.0.1:{port}",
            "web": False,
            "ready": "/redfish/v1/",
        },
        {
            "name": "console",
            "title": "a console service",
            "command": ["python3", "console.py", "--port", "{port}", "--retries", "3"],
            "env": "CONSOLE_URL",
            "url": "http://127.0.0.1:{port}/ui/",
            "web": True,
            "ready": None,
        },
    ],
    "credentials": {
        "pool": "ilo-gen10",
        "env": {"ILO_URL": "endpoint", "ILO_USERNAME": "username", "ILO_PASSWORD": "password", "ILO_SERIAL": "serial"},
    },
    "generate": {"PASSSTU": "password", "STDID": "student-number", "API_TOKEN": "token"},
}


def _lab_notices(info) -> list[str]:
    return [str(n) for n in info.warnings if n.kind == "lab"]


# --- parsing ------------------------------------------------------------------------------


def test_a_lab_section_becomes_the_labspec_of_the_design() -> None:
    info = metadata_parse(filename="workshop.yml", text=LAB_YML)
    assert info.lab == SPEC
    assert info.warnings == []
    assert json.loads(json.dumps(info.lab)) == SPEC  # JSON as it is stored


def test_defaults_a_pool_without_variables_and_no_lab() -> None:
    pooled = metadata_parse(filename="workshop.yml", text="title: T\nlab:\n  credentials: {pool: oneview-lab}\n")
    assert pooled.lab == {
        "services": [],
        "credentials": {
            "pool": "oneview-lab",
            "env": {"LAB_ENDPOINT": "endpoint", "LAB_USERNAME": "username", "LAB_PASSWORD": "password"},
        },
        "generate": {},
    }
    for text in ("title: T\n", "title: T\nlab:\n", "title: T\nlab: {}\n"):
        info = metadata_parse(filename="workshop.yml", text=text)
        assert info.lab == {} and info.warnings == []


BAD = [
    # (the lab section, a fragment of the notice, its line in the file: the section starts on line 2)
    ("  services:\n    - {name: Redfish, command: x, env: A}\n", "services[0].name: expected a name of lowercase", 4),
    ("  services:\n    - name: r\n      command: [run, '{host}']\n      env: A\n", "unknown placeholder {host}", 5),
    ("  services:\n    - name: r\n      command: run --port {port} {PORT}\n      env: A\n", "{PORT}", 5),
    (
        "  services:\n    - name: r\n      command: x\n      env: redfish_url\n",
        "services[0].env: expected a variable",
        6,
    ),
    ("  services:\n    - name: r\n      command: {run: x}\n      env: A\n", "a list of arguments or a command line", 5),
    ("  services:\n    - name: r\n      command: 42\n      env: A\n", "a list of arguments or a command line", 5),
    ('  services:\n    - name: r\n      command: "run \'x"\n      env: A\n', "a command line shlex can split", 5),
    ("  services:\n    - name: r\n      command: []\n      env: A\n", "at least 1 item", 5),
    (
        "  services:\n    - name: r\n      command: x\n      env: A\n      url: http://example.com:{port}\n",
        "an http(s) URL on the learner's own server",
        7,
    ),
    ("  services:\n    - name: r\n      command: x\n      env: A\n      ready: redfish\n", "an HTTP path", 7),
    (
        "  services:\n    - name: r\n      command: x\n      env: A\n      colour: red\n",
        "services[0].colour: unknown field (known: name, title",
        7,
    ),
    (
        "  services:\n    - {name: r, command: x, env: A}\n    - {name: r, command: y, env: B}\n",
        "services[1].name: 'r' names services[0] too",
        5,
    ),
    (
        "  services:\n    - {name: r, command: x, env: STDID}\n  generate: {STDID: student-number}\n",
        "lab.generate.STDID: variable 'STDID' is set by lab.services[0].env too",
        5,
    ),
    ("  credentials:\n    pool: p\n    env: {A: endpoint}\n  generate: {A: token}\n", "variable 'A' is set by", 6),
    ("  services:\n    - {name: r, command: x, env: PATH}\n", "'PATH' is a variable the learner's server runs by", 4),
    ("  generate: {JUPYTERHUB_API_TOKEN: token}\n", "a variable the learner's server runs by", 3),
    ("  generate: {STDID: uuid}\n", "input should be 'password', 'student-number' or 'token'", 3),
    ("  generate: {stdid: password}\n", "lab.generate.stdid: a bad name", 3),
    ("  credentials: {env: {A: endpoint}}\n", "variables without a pool", 3),
    ("  credentials: {pool: Bad_Pool}\n", "expected a pool name", 3),
    ("  credentials: {pool: p, env: {A: 'not a field'}}\n", "expected an account field", 3),
    ("  sevices: []\n", "lab.sevices: unknown field (known: services, credentials, generate)", 3),
    ("  - redfish\n", "lab: expected a mapping", 3),
]


@pytest.mark.parametrize(("section", "fragment", "line"), BAD)
def test_a_bad_lab_section_is_dropped_with_a_notice_on_its_line(section: str, fragment: str, line: int) -> None:
    info = metadata_parse(filename="workshop.yml", text=f"title: Still published\nlab:\n{section}")
    assert info.title == "Still published"  # the workshop is not failed
    assert info.lab == {}
    problems = [n for n in info.warnings if n.kind == "lab"]
    matching = [n for n in problems if fragment in n.message]
    assert matching, _lab_notices(info)
    assert matching[0].line == line
    assert problems[-1].message.startswith("lab: not used, so learners get no lab of their own")
    assert problems[-1].line == 2  # the lab: key


def test_the_last_notice_says_what_learners_will_lack() -> None:
    text = LAB_YML.replace("name: redfish", "name: Redfish")
    lacking = _lab_notices(metadata_parse(filename="workshop.yml", text=text))[-1]
    assert "the Redfish service (REDFISH_URL)" in lacking
    assert "the console service (CONSOLE_URL)" in lacking
    assert "an account from the 'ilo-gen10' pool" in lacking
    assert "generated PASSSTU, STDID, API_TOKEN" in lacking
    assert lacking.startswith("workshop.yml, line 2: ")


@pytest.mark.parametrize(
    "section",
    [
        "  credentials:\n    pool: p\n    password: Hunter2-Secret\n",
        "  credentials:\n    pool: p\n    username: admin\n    password: Hunter2-Secret\n",
        "  services:\n    - {name: r, command: x, env: A, token: Hunter2-Secret}\n",
        "  services:\n    - {name: r, command: x, env: A, api_key: Hunter2-Secret}\n",
        "  secret: Hunter2-Secret\n",
    ],
)
def test_literal_credentials_are_refused_and_never_repeated(section: str) -> None:
    info = metadata_parse(filename="workshop.yml", text=f"title: T\nlab:\n{section}")
    assert info.lab == {}
    notices = _lab_notices(info)
    assert any("a literal credential in a public file" in n for n in notices), notices
    assert not any("Hunter2" in n for n in notices)
    assert "Hunter2" not in json.dumps(info.lab)


def test_variable_names_may_say_password() -> None:
    text = "title: T\nlab:\n  credentials: {pool: p, env: {PASSWORD: password}}\n  generate: {TOKEN: token}\n"
    info = metadata_parse(filename="workshop.yml", text=text)
    assert info.warnings == []
    assert info.lab["credentials"]["env"] == {"PASSWORD": "password"}
    assert info.lab["generate"] == {"TOKEN": "token"}


def test_too_many_items_are_refused() -> None:
    services = "".join(f"    - {{name: s{i}, command: x, env: S{i}}}\n" for i in range(6))
    generate = "".join(f"    G{i}: token\n" for i in range(21))
    arguments = ", ".join(["a"] * 51)
    for section, fragment in [
        (f"  services:\n{services}", "lab.services: list should have at most 5 items"),
        (f"  generate:\n{generate}", "lab.generate: dictionary should have at most 20 items"),
        (f"  services:\n    - {{name: r, command: [{arguments}], env: A}}\n", "at most 50 items"),
    ]:
        info = metadata_parse(filename="workshop.yml", text=f"title: T\nlab:\n{section}")
        assert info.lab == {}
        assert any(fragment in n for n in _lab_notices(info)), _lab_notices(info)


def test_hostile_sizes_are_cut_short_and_never_echoed() -> None:
    long_command = "x" * 60_000
    many_services = "[" + "{}, " * 9_000 + "{}]"
    for section in (
        f"  services:\n    - {{name: r, command: '{long_command}', env: A}}\n",
        f"  services: {many_services}\n",
        f"  generate: {{{', '.join(f'G{i}: {long_command[:5]}' for i in range(3_000))}}}\n",
    ):
        text = f"title: T\nlab:\n{section}"
        assert len(text.encode()) < 64 * 1024
        started = time.perf_counter()
        info = metadata_parse(filename="workshop.yml", text=text)
        assert time.perf_counter() - started < 2
        notices = _lab_notices(info)
        assert info.lab == {} and notices
        assert len(notices) <= MAX_NOTICES + 2
        assert all(len(n) < 600 for n in notices)


def test_notices_are_bounded_however_many_problems() -> None:
    bad = "{name: X, command: {a: 1}, env: x, url: ftp://x, ready: x, web: maybe, extra: 1}"
    text = "title: T\nlab:\n  services: [" + ", ".join([bad] * 5) + "]\n"
    notices = _lab_notices(metadata_parse(filename="workshop.yml", text=text))
    assert len(notices) == MAX_NOTICES + 2
    assert "more problems not shown" in notices[-2]


def test_alias_bombs_fail_the_file_and_deep_nesting_only_the_lab() -> None:
    bomb = "title: T\nlab:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefg":
        previous = chr(ord(level) - 1)
        bomb += f"  {level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    with pytest.raises(MetadataError, match="YAML bomb"):
        metadata_parse(filename="workshop.yml", text=bomb)  # the file's own rule: refused before the lab is read

    nested = "[" * 20 + "x" + "]" * 20  # deep, within the file's 32 levels
    text = f"title: T\nlab:\n  services:\n    - {{name: r, command: {nested}, env: A}}\n"
    info = metadata_parse(filename="workshop.yml", text=text)
    assert info.lab == {} and any("command[0]" in n for n in _lab_notices(info))

    shared = "title: T\nlab:\n  services:\n    - &s {name: a, command: &c [run, '{port}'], env: A}\n"
    shared += "    - {name: b, command: *c, env: B}\n"
    info = metadata_parse(filename="workshop.yml", text=shared)
    assert [s["command"] for s in info.lab["services"]] == [["run", "{port}"], ["run", "{port}"]]


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
_KEYS = st.sampled_from(
    ["services", "credentials", "generate", "name", "command", "env", "url", "web", "ready", "pool", "title",
     "password", "STDID", "PASSSTU", "A"]
) | st.text(max_size=10) | st.integers()  # fmt: skip
_DATA = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(_KEYS, inner, max_size=6))


@settings(max_examples=300, deadline=None)
@given(data=_DATA, wod=st.booleans())
def test_any_lab_section_gives_a_labspec_or_notices_never_an_exception(data, wod: bool) -> None:
    read = lab_read(filename="wod.yml" if wod else "workshop.yml", data=data, base=WOD_STUDENT if wod else None)
    assert isinstance(read.spec, dict) and len(read.notices) <= MAX_NOTICES + 2
    json.dumps(read.spec)  # storable
    if read.notices:
        wod_only = {"services": [], "credentials": {"pool": "", "env": {}}, "generate": WOD_STUDENT}
        assert read.spec == (wod_only if wod else {})  # the section is dropped whole
    if read.spec:
        assert set(read.spec) == {"services", "credentials", "generate"}
        assert not any(str(v) in json.dumps(read.spec) for k, v in _secret_values(data) if len(str(v)) > 3)


def _secret_values(data, depth: int = 0):
    """Yield (key, value) of password-like keys holding a value anywhere in data."""
    if isinstance(data, dict) and depth < 8:
        for key, value in data.items():
            if key == "password" and value not in (None, "", [], {}):
                yield key, value
            yield from _secret_values(value, depth + 1)
    elif isinstance(data, list) and depth < 8:
        for item in data:
            yield from _secret_values(item, depth + 1)


# --- Workshops-on-Demand ------------------------------------------------------------------

WOD = "name: W\nvarpass: {varpass}\nreset: {reset}\n"


def test_wod_gives_every_learner_a_student_number_and_varpass_a_password() -> None:
    plain = metadata_parse(filename="wod.yml", text=WOD.format(varpass="false", reset="false"))
    assert plain.lab == {
        "services": [],
        "credentials": {"pool": "", "env": {}},
        "generate": {"STDID": "student-number"},
    }
    assert plain.warnings == []
    varpass = metadata_parse(filename="wod.yml", text=WOD.format(varpass="true", reset="false"))
    assert varpass.lab["generate"] == {"STDID": "student-number", "PASSSTU": "password"}
    assert varpass.extra["varpass"] is True  # still shown as the Workshops-on-Demand field


def test_wod_lab_section_adds_to_the_mapping_and_never_lands_in_extra() -> None:
    text = WOD.format(varpass="true", reset="true") + (
        "lab:\n  credentials: {pool: oneview-lab}\n  generate: {PASSSTU: token, EXTRA: token}\n"
    )
    info = metadata_parse(filename="wod.yml", text=text)
    assert info.lab["generate"] == {"STDID": "student-number", "PASSSTU": "token", "EXTRA": "token"}
    assert info.lab["credentials"]["pool"] == "oneview-lab"
    assert "lab" not in info.extra
    assert info.warnings == []  # reset with a pool: the pool's reset command does it


def test_wod_reset_without_a_pool_is_a_hint() -> None:
    info = metadata_parse(filename="wod.yml", text=WOD.format(varpass="false", reset="true"))
    (hint,) = _lab_notices(info)
    assert hint.startswith("wod.yml, line 3: reset: here an operator's credential pool resets")
    assert info.lab["generate"] == {"STDID": "student-number"}


def test_a_bad_wod_lab_keeps_what_wod_gives_anyway() -> None:
    text = WOD.format(varpass="yes", reset="false") + "lab:\n  services: [{name: R, command: x, env: A}]\n"
    info = metadata_parse(filename="wod.yml", text=text)
    assert info.lab["generate"] == {"STDID": "student-number", "PASSSTU": "password"}
    assert info.lab["services"] == []
    assert "(they still get STDID, PASSSTU from wod.yml)" in _lab_notices(info)[-1]


def test_summary_says_what_the_learner_gets_without_secrets() -> None:
    assert lab_summary(SPEC) == [
        {"text": "a Redfish emulator", "env": ["REDFISH_URL"], "web": False},
        {"text": "a console service", "env": ["CONSOLE_URL"], "web": True},
        {
            "text": "credentials from the ilo-gen10 pool",
            "env": ["ILO_PASSWORD", "ILO_SERIAL", "ILO_URL", "ILO_USERNAME"],
            "web": False,
        },
        {"text": "your own token", "env": ["API_TOKEN"], "web": False},
        {"text": "your own password", "env": ["PASSSTU"], "web": False},
        {"text": "your own student number", "env": ["STDID"], "web": False},
    ]
    assert lab_summary({}) == []


# --- stored, validated, shown -------------------------------------------------------------


@pytest.fixture
def lab_repo(content_repo: ContentRepo, db) -> ContentRepo:
    """A content repository with a workshop declaring a lab, synced."""
    content_repo.add_workshop("redfish-101")
    content_repo.write("redfish-101/workshop.yml", LAB_YML.replace("a Redfish emulator", "a <b>Redfish</b> emulator"))
    content_repo.add_workshop("plain", meta={"title": "No lab"})
    content_repo.commit("lab")
    catalog_sync()
    return content_repo


def test_sync_stores_the_labspec_and_a_bad_section_keeps_the_workshop(lab_repo: ContentRepo) -> None:
    workshop = Workshop.objects.get(slug="redfish-101")
    assert workshop.lab["services"][0]["title"] == "a <b>Redfish</b> emulator"
    assert workshop.lab["services"] == [
        {**SPEC["services"][0], "title": "a <b>Redfish</b> emulator"},
        SPEC["services"][1],
    ]
    assert workshop.lab["credentials"] == SPEC["credentials"] and workshop.lab["generate"] == SPEC["generate"]
    assert Workshop.objects.get(slug="plain").lab == {}

    lab_repo.write("redfish-101/workshop.yml", LAB_YML.replace("env: REDFISH_URL", "env: redfish_url"))
    lab_repo.commit("a typo")
    run = catalog_sync()
    assert run.report["updated"] == ["redfish-101"]
    workshop.refresh_from_db()
    assert workshop.published and workshop.error == ""
    assert workshop.lab == {}
    assert any("lab.services[0].env" in w and "line 7" in w for w in workshop.warnings), workshop.warnings


def test_a_catalog_synced_before_labs_is_parsed_again(lab_repo: ContentRepo) -> None:
    Workshop.objects.update(lab={}, parser_version=3)
    catalog_sync()
    assert Workshop.objects.get(slug="redfish-101").lab["generate"] == SPEC["generate"]


def test_pull_request_validation_reports_lab_notices(content_repo: ContentRepo, db) -> None:
    content_repo.add_workshop("redfish-101")
    content_repo.write("redfish-101/workshop.yml", LAB_YML.replace("{port} --config", "{prot} --config"))
    content_repo.commit("typo in the placeholder")
    report = source_validate(source=content_repo.url, ref="main")
    findings = [f for f in report_findings(report) if f["check"] == "lab"]
    assert findings[0]["severity"] == "warning"
    assert findings[0]["file"] == "redfish-101/workshop.yml" and findings[0]["line"] == 6
    assert "unknown placeholder {prot}" in findings[0]["message"]
    assert report["summary"]["errors"] == 0  # the workshop itself is fine


def test_the_workshop_page_says_what_the_learner_gets(lab_repo: ContentRepo) -> None:
    body = Client().get("/workshops/redfish-101/").content.decode()
    section = body[body.index('id="lab"') : body.index("</section>", body.index('id="lab"'))]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section))
    assert (
        "Your own lab: a &lt;b&gt;Redfish&lt;/b&gt; emulator (REDFISH_URL), a console service (CONSOLE_URL), "
        "with a web page, credentials from the ilo-gen10 pool (ILO_PASSWORD, ILO_SERIAL, ILO_URL, ILO_USERNAME), "
        "your own token (API_TOKEN), your own password (PASSSTU), your own student number (STDID)."
    ) in text
    assert "<b>Redfish</b>" not in body
    assert "Your own lab" not in Client().get("/workshops/plain/").content.decode()
    api = Client().get("/api/workshops/redfish-101").json()
    assert api["lab"]["generate"] == SPEC["generate"]
    archive = zipfile.ZipFile(
        io.BytesIO(b"".join(Client().get("/workshops/redfish-101/download.zip").streaming_content))
    )
    readme = archive.read("redfish-101/README.md").decode()
    assert "## Your lab on this machine" in readme
    assert "`sushy-emulator -i 127.0.0.1 -p 8800 --config 'sushy emulator.conf'`" in readme
    assert "`export REDFISH_URL=http://127.0.0.1:8800`" in readme


# --- the samples --------------------------------------------------------------------------


def _sample_info(folder: str):
    for name in ("workshop.yml", "wod.yml"):
        if (SAMPLES / folder / name).is_file():
            return metadata_load(filename=name, raw=(SAMPLES / folder / name).read_bytes())
    return None


def test_samples_parse_with_their_labs_and_without_notices() -> None:
    for folder in sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()):
        info = _sample_info(folder)
        if info is not None:
            assert info.warnings == [], (folder, [str(w) for w in info.warnings])
    redfish = _sample_info("redfish-101").lab["services"]
    assert [(s["name"], s["env"], s["command"][0], s["ready"]) for s in redfish] == [
        ("redfish", "REDFISH_URL", "sushy-emulator", "/redfish/v1/")
    ]
    greenlake = _sample_info("greenlake-api-101").lab["services"]
    assert [(s["env"], s["command"][:2]) for s in greenlake] == [
        ("GLP_PRACTICE_URL", ["python3", "glp_practice_server.py"])
    ]
    oneview = _sample_info("oneview-rest-101").lab["services"]
    assert [(s["env"], s["command"][:2]) for s in oneview] == [("ONEVIEW_PRACTICE_URL", ["python3", "practice_api.py"])]
    ilorest = _sample_info("ilo-rest-python-ilorest").lab["services"]
    assert [(s["env"], s["url"], s["ready"]) for s in ilorest] == [("ILO_URL", "https://127.0.0.1:{port}", None)]
    assert _sample_info("powershell-101").lab["generate"] == {"STDID": "student-number"}


def test_redfish_101_notebooks_read_redfish_url_with_the_local_default() -> None:
    for path in sorted((SAMPLES / "redfish-101").glob("*.ipynb")):
        text = path.read_text()
        assert "REDFISH_BASE_URL" not in text, path.name
        if 'os.environ.get(\\"REDFISH_URL' in text:
            assert 'os.environ.get(\\"REDFISH_URL\\", \\"http://127.0.0.1:8800\\")' in text, path.name
    assert "REDFISH_URL" in (SAMPLES / "redfish-101" / "0-ReadMeFirst.ipynb").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("folder", ["redfish-101", "greenlake-api-101", "oneview-rest-101", "ilo-rest-python-ilorest"])
def test_sample_lab_services_start_as_declared_and_answer(folder: str, tmp_path: Path) -> None:
    """Run each declared command as the learner's server would: in the folder, {port} filled in."""
    bin_dir = str(Path(sys.executable).parent)
    for service in _sample_info(folder).lab["services"]:
        port = _free_port()
        argv = [arg.replace("{port}", str(port)) for arg in service["command"]]
        if argv[0] == "python3":
            argv[0] = sys.executable
        argv[0] = shutil.which(argv[0], path=f"{bin_dir}{os.pathsep}{os.environ['PATH']}") or argv[0]
        env = {**os.environ, "TMPDIR": str(tmp_path)}  # the emulator's private state folder lands here
        log = (tmp_path / f"{service['name']}.log").open("wb")
        workdir = tmp_path / folder  # a learner's copy: what the service writes (a certificate) stays there
        shutil.copytree(SAMPLES / folder, workdir)
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = service["url"].replace("{port}", str(port)) + (service["ready"] or "/redfish/v1/")
            context = ssl._create_unverified_context()  # the emulator's certificate is self-signed  # noqa: S323
            deadline, status = time.monotonic() + 30, None
            while time.monotonic() < deadline and status is None:
                try:
                    with urllib.request.urlopen(url, timeout=2, context=context) as answer:
                        status = answer.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    assert proc.poll() is None, (tmp_path / f"{service['name']}.log").read_text()
                    time.sleep(0.2)
            assert status is not None and status < 500, (tmp_path / f"{service['name']}.log").read_text()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            log.close()


def test_the_oneview_practice_api_answers_what_the_labs_call(tmp_path: Path) -> None:
    """Log in, page and filter server hardware, create a profile and follow its task (its own state)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "practice_api.py", "--port", str(port)], cwd=SAMPLES / "oneview-rest-101",
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def call(method: str, path: str, body: dict | None = None, auth: str = "") -> tuple[int, dict, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{base}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Auth", auth)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else {}, dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)

    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert call("GET", "/rest/version")[1]["currentVersion"] == 6000
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert call("GET", "/rest/server-hardware")[1]["errorCode"] == "AUTHORIZATION"
        session = call("POST", "/rest/login-sessions", {"userName": "u", "password": "p"})[1]["sessionID"]
        page = call("GET", "/rest/server-hardware?start=0&count=5", auth=session)[1]
        assert (page["total"], page["count"], page["nextPageUri"]) == (12, 5, "/rest/server-hardware?start=5&count=5")
        off = call("GET", "/rest/server-hardware?filter=%22powerState%3D%27Off%27%22", auth=session)[1]
        assert off["total"] == 4 and all(m["powerState"] == "Off" for m in off["members"])
        target = next(m for m in off["members"] if m["state"] == "NoProfileApplied")
        status, _, headers = call(
            "POST", "/rest/server-profiles", {"name": "mine", "serverHardwareUri": target["uri"]}, auth=session
        )
        assert status == 202
        task = call("GET", headers["Location"], auth=session)[1]
        assert task["taskState"] == "Running" and task["associatedResource"]["resourceName"] == "mine"
        assert call("DELETE", "/rest/login-sessions", auth=session)[0] == 204
        assert call("GET", "/rest/server-profiles", auth=session)[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)

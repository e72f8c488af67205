"""Hostile content from the repository: huge blobs, names git refuses, names that need quoting.

The repositories are real, with trees crafted as an attacker's push would deliver them
(tests.contentrepo.HostileRepo); what is asserted is what a visitor, a maintainer or an
operator sees: the sync report, the pages, the downloads, the validation report.
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from catalog.gitrepo import path_refusal
from catalog.models import SyncRun, Workshop, WorkshopFile
from catalog.serializers import image_url
from catalog.sync import catalog_sync
from catalog.validation import report_findings, source_validate
from tests.contentrepo import HostileRepo, notebook_bytes, workshop_yml

pytestmark = pytest.mark.django_db

BIG = 64 * 1024 * 1024  # a 64 MiB blob of zeros: about 64 kB once git has compressed it
LIMIT = 200_000
PNG = b"\x89PNG\r\n\x1a\nfake"


@pytest.fixture
def repo(tmp_path: Path, settings) -> HostileRepo:
    """Return a real content repository the catalog syncs from, with small size limits."""
    repo = HostileRepo(tmp_path / "content")
    settings.CATALOG_SOURCE, settings.CATALOG_BRANCH = repo.url, repo.branch
    settings.CATALOG_MAX_FILE_BYTES = settings.CATALOG_MAX_NOTEBOOK_BYTES = LIMIT
    return repo


def _peak_python_memory(fn):
    """Run fn; return (its result, the peak of Python memory allocated meanwhile, in bytes)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _disposition_filename(header: str) -> str:
    """Parse a Content-Disposition as a mail client or browser would (RFC 6266 / RFC 2231)."""
    message = Message()
    message["Content-Disposition"] = header
    return message.get_filename()


# --- sizes are read from the tree before any content --------------------------------------


def test_oversized_files_are_never_read(repo: HostileRepo) -> None:
    """64 MiB blobs: a notebook or metadata file fails its workshop, another file is left out; memory stays low."""
    repo.add_workshop("big-notebook", meta={"title": "Big notebook"})
    repo.commit("good versions first")
    assert catalog_sync().status == SyncRun.Status.OK
    zeros = ("100644", repo.zeros_blob(BIG))
    meta = workshop_yml(title="With a dump", image="images/card.png")
    repo.commit_crafted(
        {
            b"big-notebook": {b"0-Part0.ipynb": zeros, b"workshop.yml": workshop_yml(title="Big notebook")},
            b"big-metadata": {b"0-Intro.ipynb": notebook_bytes("Intro"), b"workshop.yml": zeros},
            b"with-dump": {
                b"0-Intro.ipynb": notebook_bytes("Intro"),
                b"workshop.yml": meta,
                b"images": {b"card.png": PNG, b"dump.bin": zeros},
            },
        }
    )

    run, peak = _peak_python_memory(catalog_sync)

    assert peak < 16 * 1024 * 1024, f"{peak / 1e6:.1f} MB allocated while syncing"
    assert run.status == SyncRun.Status.PARTIAL
    assert run.report["failed"] == {
        "big-notebook": "0-Part0.ipynb: 67.1 MB is over the 0.2 MB limit (clear large outputs before committing)",
        "big-metadata": "workshop.yml: 67.1 MB is over the 0.2 MB limit",
    }
    assert run.report["warnings"]["with-dump"] == ["images/dump.bin: 67.1 MB, over the file limit; not published"]
    # The broken workshop keeps its last good version; the other one is published without the dump.
    big = Workshop.objects.get(slug="big-notebook")
    assert big.published and big.notebooks.get(path="0-Part0.ipynb").size < LIMIT and "67.1 MB" in big.error
    assert sorted(WorkshopFile.objects.filter(workshop__slug="with-dump").values_list("path", flat=True)) == [
        "0-Intro.ipynb",
        "images/card.png",
        "workshop.yml",
    ]
    client = Client()
    assert client.get("/workshops/with-dump/files/images/dump.bin").status_code == 404
    assert client.get("/workshops/with-dump/files/images/card.png").status_code == 200


def test_validation_reports_oversized_files_without_reading_them(repo: HostileRepo) -> None:
    """A pull request adding huge files gets size findings naming each file; memory stays low."""
    repo.add_workshop("good")
    repo.commit()
    zeros = ("100644", repo.zeros_blob(BIG))
    repo.commit_crafted(
        {
            b"big-notebook": {b"0-Part0.ipynb": zeros},
            b"with-dump": {b"0-Intro.ipynb": notebook_bytes("Intro"), b"dump.bin": zeros},
        }
    )

    report, peak = _peak_python_memory(lambda: source_validate(source=repo.url, ref="main"))

    assert peak < 16 * 1024 * 1024, f"{peak / 1e6:.1f} MB allocated while validating"
    sizes = {(f["severity"], f["file"], f["message"]) for f in report_findings(report) if f["check"] == "size"}
    assert sizes == {
        (
            "error",
            "big-notebook/0-Part0.ipynb",
            "0-Part0.ipynb: 67.1 MB is over the 0.2 MB limit (clear large outputs before committing)",
        ),
        ("warning", "with-dump/dump.bin", "dump.bin: 67.1 MB is over the 0.2 MB file limit; not published"),
    }


def test_working_tree_validation_stats_before_reading(tmp_path: Path, settings) -> None:
    """Validating a checkout: a huge file is sized, not read; a symbolic link is its target, never followed."""
    settings.CATALOG_MAX_FILE_BYTES = settings.CATALOG_MAX_NOTEBOOK_BYTES = LIMIT
    folder = tmp_path / "checkout" / "lab"
    folder.mkdir(parents=True)
    (folder / "0-Intro.ipynb").write_bytes(notebook_bytes("Intro"))
    with (folder / "disk.img").open("wb") as sparse:  # 64 MiB that take no disk space
        sparse.truncate(BIG)
    (folder / "zeros").symlink_to("/dev/zero")  # reading it would never end

    report, peak = _peak_python_memory(lambda: source_validate(source=str(tmp_path / "checkout")))

    assert peak < 16 * 1024 * 1024, f"{peak / 1e6:.1f} MB allocated while validating"
    assert report["summary"]["errors"] == 0
    assert {(f["file"], f["message"]) for f in report_findings(report) if f["check"] == "size"} == {
        ("lab/disk.img", "disk.img: 67.1 MB is over the 0.2 MB file limit; not published")
    }


# --- names git refuses, and names that need quoting ---------------------------------------


QUOTED = '1-Say "hi" & <b>.ipynb'


def _hostile_folder() -> dict:
    """Return a workshop folder mixing accepted names (quotes, non-ASCII) and refused ones."""
    return {
        b"0-Intro.ipynb": notebook_bytes("Intro", "Setup"),
        QUOTED.encode(): notebook_bytes("Quotes", "Escaping"),
        b"2-evil\n.ipynb": notebook_bytes("Evil newline"),
        b"..": {b"escape.ipynb": notebook_bytes("Evil dotdot")},
        b".git": {b"config": b"[core]\n\tfsmonitor = touch /tmp/owned\n"},
        b".GIT": {b"hooks": {b"post-checkout": b"#!/bin/sh\ntouch /tmp/owned\n"}},
        b"..\\..\\evil.ps1": b"Remove-Item -Recurse ~",
        b"/abs.txt": b"absolute",
        b"a/b.txt": b"slash in one name",
        b"data": {b'it\'s "quoted".csv': b"a,b\n", "données.csv".encode(): b"c,d\n"},
        b"images": {b"card.png": PNG},
        b"workshop.yml": workshop_yml(title="Hostile names", image="images/card.png"),
    }


REFUSED_WARNINGS = [
    "2-evil\\x0a.ipynb: skipped: a control character (NUL, newline, tab…) in the name",
    "../escape.ipynb: skipped: a '..' component",
    ".GIT/hooks/post-checkout: skipped: a '.git' component",
    ".git/config: skipped: a '.git' component",
    "/abs.txt: skipped: an absolute path",
    "..\\..\\evil.ps1: skipped: a backslash in the name",
    "a/b.txt: skipped: a '/' in a name",
]


@pytest.fixture
def hostile(repo: HostileRepo) -> SyncRun:
    """Sync a catalog holding a workshop with hostile names, and hostile top-level folders."""
    repo.add_workshop("plain")
    repo.commit()
    repo.commit_crafted(
        {
            b"hostile": _hostile_folder(),
            b"evil\nfolder": {b"0-Intro.ipynb": notebook_bytes("Evil folder")},
            b"back\\slash": {b"0-Intro.ipynb": notebook_bytes("Evil folder")},
        }
    )
    return catalog_sync()


def test_refused_entries_are_skipped_with_a_warning(hostile: SyncRun) -> None:
    """The sync publishes the workshop without the refused entries and says which, and why."""
    assert hostile.status == SyncRun.Status.OK
    assert sorted(hostile.report["warnings"]["hostile"]) == sorted(REFUSED_WARNINGS)
    assert sorted(Workshop.objects.values_list("slug", flat=True)) == ["hostile", "plain"]
    workshop = Workshop.objects.get(slug="hostile")
    assert list(workshop.notebooks.values_list("path", flat=True)) == ["0-Intro.ipynb", QUOTED]
    assert sorted(workshop.files.values_list("path", flat=True)) == sorted(
        ["0-Intro.ipynb", QUOTED, "data/données.csv", 'data/it\'s "quoted".csv', "images/card.png", "workshop.yml"]
    )


def test_validation_warns_about_refused_entries(hostile: SyncRun, settings) -> None:
    """A pull request adding such entries gets one warning per entry, on the workshop, not an error."""
    report = source_validate(source=settings.CATALOG_SOURCE, ref="main")

    found = [f for f in report_findings(report) if f["check"] == "paths"]
    assert sorted(f["message"] for f in found) == sorted(REFUSED_WARNINGS)
    assert {(f["severity"], f["file"]) for f in found} == {("warning", "hostile")}
    assert report["summary"]["errors"] == 0


def test_refused_entries_reach_no_page_url_or_zip(client: Client, hostile: SyncRun) -> None:
    """Pages, file URLs, the API and the zip know nothing of the refused entries."""
    for url in ("/workshops/", "/workshops/hostile/", reverse("catalog:notebook", args=["hostile", QUOTED])):
        page = client.get(url)
        assert page.status_code == 200, url
        assert b"Evil" not in page.content and b"escape" not in page.content and b"evil.ps1" not in page.content
    for path in (".git/config", ".GIT/hooks/post-checkout", "..%5C..%5Cevil.ps1", "2-evil%0A.ipynb", "..%2Fx"):
        assert client.get(f"/workshops/hostile/files/{path}").status_code == 404, path
        assert client.get(f"/workshops/hostile/download/{path}").status_code == 404, path
    api = client.get("/api/workshops/hostile").json()
    assert [nb["path"] for nb in api["notebooks"]] == ["0-Intro.ipynb", QUOTED]
    archive = zipfile.ZipFile(io.BytesIO(client.get("/workshops/hostile/download.zip").getvalue()))
    names = archive.namelist()
    assert 'hostile/1-Say "hi" & <b>.ipynb' in names and "hostile/data/données.csv" in names
    assert all(n.startswith("hostile/") and not path_refusal(n) for n in names), names


def test_names_with_quotes_download_with_correct_headers(client: Client, hostile: SyncRun) -> None:
    """Quotes and non-ASCII in a file name give one valid Content-Disposition with the exact name."""
    api = client.get("/api/workshops/hostile").json()
    notebook = next(nb for nb in api["notebooks"] if nb["path"] == QUOTED)
    download = client.get(notebook["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="1-Say \\"hi\\" & <b>.ipynb"'
    assert _disposition_filename(download["Content-Disposition"]) == QUOTED
    assert "".join(json.loads(download.content)["cells"][0]["source"]).startswith("# Quotes")

    preview = client.get(notebook["preview_url"])
    assert preview.status_code == 200 and b"Say &quot;hi&quot; &amp; &lt;b&gt;" in preview.content

    for name, expected in (
        ("données.csv", "attachment; filename*=utf-8''donn%C3%A9es.csv"),
        ('it\'s "quoted".csv', 'attachment; filename="it\'s \\"quoted\\".csv"'),
    ):
        response = client.get(reverse("catalog:file", args=["hostile", f"data/{name}"]))
        assert response.status_code == 200, name
        assert response["Content-Disposition"] == expected
        assert _disposition_filename(response["Content-Disposition"]) == name


def test_refused_paths_stored_by_older_versions_are_never_served(client: Client, hostile: SyncRun) -> None:
    """Rows an older sync stored under refused paths stay out of file URLs and the zip."""
    workshop = Workshop.objects.get(slug="hostile")
    for path in ("../../etc/cron.d/evil", "a\\..\\evil.ps1", ".git/hooks/pre-commit"):
        WorkshopFile.objects.create(workshop=workshop, path=path, content=b"evil", size=4)

    archive = zipfile.ZipFile(io.BytesIO(client.get("/workshops/hostile/download.zip").getvalue()))

    assert not any("evil" in name or ".git" in name for name in archive.namelist()), archive.namelist()
    assert client.get("/workshops/hostile/files/..%2F..%2Fetc/cron.d/evil").status_code == 404
    assert client.get("/workshops/hostile/files/.git/hooks/pre-commit").status_code == 404


@pytest.mark.parametrize(
    ("image", "url"),
    [
        ("images/card.png", "/workshops/w/files/images/card.png"),
        ("./images/../images/card.png", "/workshops/w/files/images/card.png"),
        ('images/say "hi".png', "/workshops/w/files/images/say%20%22hi%22.png"),
        ("images/new\nline.png", ""),
        ("../outside.png", ""),
        ("https://example.org/card.png", "https://example.org/card.png"),
    ],
)
def test_card_image_urls_only_for_accepted_paths(image: str, url: str) -> None:
    """A card image path the portal refuses gives no image (the card's placeholder), never a broken URL."""
    assert image_url(Workshop(slug="w", image=image)) == url


def test_zip_download_streams_a_large_workshop(client: Client, repo: HostileRepo, settings) -> None:
    """A workshop of many files downloads as a zip streamed from a spooled file, entries intact."""
    settings.CATALOG_MAX_FILE_BYTES = 3_000_000
    for i in range(4):
        repo.write(f"bulk/data/part{i}.bin", os.urandom(2_500_000))
    repo.add_workshop("bulk")
    repo.commit()
    assert catalog_sync().status == SyncRun.Status.OK

    response = client.get("/workshops/bulk/download.zip")

    assert response.streaming and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="bulk.zip"'
    body = response.getvalue()
    assert int(response["Content-Length"]) == len(body) > 10_000_000
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert archive.read("bulk/data/part3.bin") == (repo.work / "bulk/data/part3.bin").read_bytes()

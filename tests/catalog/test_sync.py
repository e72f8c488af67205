"""Sync: the catalog follows the content repository, incrementally, and survives bad input."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Notebook, SyncRun, Workshop
from catalog.sync import catalog_sync
from catalog.validation import report_findings, source_validate
from tests.catalog.test_metadata import ALIAS_BOMB
from tests.contentrepo import ContentRepo, notebook_bytes, workshop_yml

pytestmark = pytest.mark.django_db

META = {"title": "Redfish 101", "summary": "Servers over REST.", "level": "beginner", "products": ["iLO"]}


def _three(repo: ContentRepo) -> None:
    repo.add_workshop("redfish-101", meta=META)
    repo.add_workshop("oneview-101", meta={"title": "OneView 101", "level": "intermediate"})
    repo.add_workshop("python-101", notebooks=3)
    repo.commit("three workshops")


def test_first_sync_adds_every_workshop(content_repo: ContentRepo) -> None:
    """A first sync publishes each folder, with its notebooks in order."""
    _three(content_repo)
    run = catalog_sync()
    assert run.status == SyncRun.Status.OK
    assert sorted(run.report["added"]) == ["oneview-101", "python-101", "redfish-101"]
    workshop = Workshop.objects.get(slug="python-101")
    assert workshop.title == "python-101 part 0"  # no metadata: title from the first heading
    assert list(workshop.notebooks.values_list("path", flat=True)) == [
        "0-Part0.ipynb",
        "1-Part1.ipynb",
        "2-Part2.ipynb",
    ]
    assert workshop.commit_sha == content_repo.head()


def test_second_sync_changes_nothing(content_repo: ContentRepo) -> None:
    """Running the sync twice leaves the catalog as it was."""
    _three(content_repo)
    catalog_sync()
    before = {(w.slug, w.updated_at) for w in Workshop.objects.all()}
    notebooks_before = set(Notebook.objects.values_list("pk", flat=True))
    run = catalog_sync()
    assert (run.added, run.updated, run.removed, run.failed, run.unchanged) == (0, 0, 0, 0, 3)
    assert {(w.slug, w.updated_at) for w in Workshop.objects.all()} == before
    assert set(Notebook.objects.values_list("pk", flat=True)) == notebooks_before


def test_only_changed_workshops_are_reparsed(content_repo: ContentRepo) -> None:
    """A commit touching one workshop re-renders that one only; removed folders leave."""
    _three(content_repo)
    catalog_sync()
    untouched = set(Notebook.objects.filter(workshop__slug="oneview-101").values_list("pk", flat=True))
    content_repo.write("redfish-101/1-Part1.ipynb", notebook_bytes("Sessions, revised", "Tokens"))
    content_repo.remove("python-101")
    content_repo.commit("revise redfish, drop python")
    run = catalog_sync()
    assert run.report["updated"] == ["redfish-101"]
    assert run.report["removed"] == ["python-101"]
    assert run.report["unchanged"] == ["oneview-101"]
    assert set(Notebook.objects.filter(workshop__slug="oneview-101").values_list("pk", flat=True)) == untouched
    titles = list(Notebook.objects.filter(workshop__slug="redfish-101").values_list("title", flat=True))
    assert titles == ["redfish-101 part 0", "Sessions, revised"]
    assert not Workshop.objects.filter(slug="python-101").exists()


def test_force_push_is_followed(content_repo: ContentRepo) -> None:
    """A rewritten history still leads to the right catalog."""
    _three(content_repo)
    catalog_sync()
    content_repo.write("oneview-101/workshop.yml", workshop_yml(title="OneView, rewritten"))
    sha = content_repo.amend_and_force_push()
    run = catalog_sync()
    assert run.commit_sha == sha
    assert run.report["updated"] == ["oneview-101"]
    assert Workshop.objects.get(slug="oneview-101").title == "OneView, rewritten"


def test_branch_change(content_repo: ContentRepo, settings) -> None:
    """Syncing another branch compares against what is published, whatever branch it came from."""
    _three(content_repo)
    catalog_sync()
    content_repo._git("checkout", "--quiet", "-b", "next")
    content_repo.branch = "next"
    content_repo.add_workshop("greenlake-101", meta={"title": "GreenLake 101"})
    content_repo.commit("new workshop on next")
    run = catalog_sync(branch="next")
    assert run.report["added"] == ["greenlake-101"]
    assert len(run.report["unchanged"]) == 3


def test_broken_workshop_keeps_last_good_version(content_repo: ContentRepo) -> None:
    """A broken change is reported; the published version stays; others are untouched."""
    _three(content_repo)
    catalog_sync()
    content_repo.write("redfish-101/workshop.yml", "title: [broken\n")
    content_repo.write("oneview-101/1-Part1.ipynb", b"{ not json")
    content_repo.write("python-101/workshop.yml", workshop_yml(title="Python 101 for API users"))
    content_repo.commit("break two, fix one")
    run = catalog_sync()
    assert run.status == SyncRun.Status.PARTIAL
    assert set(run.report["failed"]) == {"redfish-101", "oneview-101"}
    assert "workshop.yml: invalid YAML at line 2, column 1" in run.report["failed"]["redfish-101"]
    assert "1-Part1.ipynb: not valid JSON" in run.report["failed"]["oneview-101"]
    redfish = Workshop.objects.get(slug="redfish-101")
    assert redfish.published and redfish.title == "Redfish 101"  # last good version still shown
    assert "invalid YAML" in redfish.error
    assert Workshop.objects.get(slug="python-101").title == "Python 101 for API users"
    # Fixing it clears the error.
    content_repo.write("redfish-101/workshop.yml", workshop_yml(**{**META, "title": "Redfish 101, fixed"}))
    content_repo.commit("fix")
    catalog_sync()
    redfish.refresh_from_db()
    assert redfish.error == "" and redfish.title == "Redfish 101, fixed"


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"workshop.yml": "title: T\nactive: maybe\n"}, "field 'active'"),
        ({"workshop.yml": "title: T\nlevel: a\nlevel: b\n"}, "duplicate key 'level' on lines 2 and 3"),
        ({"workshop.yml": "title: T\norder: [9-Missing.ipynb]\n"}, "'9-Missing.ipynb', which is not in the folder"),
        ({"2-Old.ipynb": '{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}'}, "nbformat 3 is not supported"),
    ],
)
def test_new_broken_workshop_is_recorded_not_published(content_repo: ContentRepo, files: dict, reason: str) -> None:
    """A workshop broken from the start is failed with its reason and never shown."""
    content_repo.add_workshop("good", meta={"title": "Good"})
    content_repo.add_workshop("bad")
    for path, text in files.items():
        content_repo.write(f"bad/{path}", text)
    content_repo.commit("one bad")
    run = catalog_sync()
    assert reason in run.report["failed"]["bad"]
    assert run.report["added"] == ["good"]
    assert not Workshop.objects.get(slug="bad").published


def test_unreadable_source_is_an_error(tmp_path, settings) -> None:
    """A source that cannot be read fails the run with a one-line reason and changes nothing."""
    run = catalog_sync(source=str(tmp_path / "nowhere.git"))
    assert run.status == SyncRun.Status.ERROR
    assert "cannot read" in run.error and "\n" not in run.error


def test_missing_branch_is_named(content_repo: ContentRepo) -> None:
    """Asking for a branch that does not exist says so."""
    _three(content_repo)
    run = catalog_sync(branch="nope")
    assert run.error == f"branch 'nope' not found in {content_repo.url}"


def test_specific_commit_is_synced(content_repo: ContentRepo) -> None:
    """A sync can read the tree of a given commit (what a push webhook asks for)."""
    _three(content_repo)
    first = content_repo.head()
    content_repo.add_workshop("later", meta={"title": "Later"})
    content_repo.commit("later")
    run = catalog_sync(commit=first)
    assert run.commit_sha == first
    assert not Workshop.objects.filter(slug="later").exists()


def test_an_older_push_gives_way_to_the_branch_head(content_repo: ContentRepo) -> None:
    """Pushes handled out of order never roll the catalog back; a push ahead of the branch wins."""
    _three(content_repo)
    first = content_repo.head()
    content_repo.add_workshop("later", meta={"title": "Later"})
    second = content_repo.commit("later")
    assert catalog_sync(commit=first, trigger="push").commit_sha == second
    content_repo.add_workshop("ahead", meta={"title": "Ahead"})
    ahead = content_repo.commit("not on the branch yet", push=False)
    content_repo._git("push", "--quiet", "origin", "HEAD:refs/heads/mirror-lag")
    run = catalog_sync(commit=ahead, trigger="push")
    assert run.commit_sha == ahead and run.report["added"] == ["ahead"]


def test_inactive_and_wod_workshops(content_repo: ContentRepo) -> None:
    """wod.yml is read; an inactive workshop is synced but hidden from the public."""
    content_repo.add_workshop("ps-101")
    content_repo.write(
        "ps-101/wod.yml", "name: PowerShell 101\ndescription: Shell.\nduration: 2\nactive: true\ncapacity: 20\n"
    )
    content_repo.add_workshop("retired", meta={"title": "Retired", "active": False})
    content_repo.commit("wod")
    catalog_sync()
    ps = Workshop.objects.get(slug="ps-101")
    assert (ps.title, ps.duration_minutes, ps.metadata_format) == ("PowerShell 101", 120, "wod.yml")
    from catalog.selectors import workshop_get

    assert workshop_get(slug="retired") is None
    assert workshop_get(slug="ps-101") is not None


def test_command_prints_report_and_exit_codes(content_repo: ContentRepo, capsys, tmp_path) -> None:
    """sync_catalog prints each change with reasons; an unreadable source exits non-zero."""
    _three(content_repo)
    content_repo.write("broken/0-x.ipynb", "nope")
    content_repo.commit("broken")
    call_command("sync_catalog")
    out = capsys.readouterr().out
    assert "added     redfish-101" in out
    assert "failed    broken: 0-x.ipynb: not valid JSON" in out
    assert "added=3 updated=0 removed=0 unchanged=0 failed=1" in out
    with pytest.raises(CommandError, match="sync failed: cannot read"):
        call_command("sync_catalog", "--source", str(tmp_path / "missing"))


# Each folder: files written over a small valid workshop (two notebooks); None drops the notebooks.
VERDICT_FOLDERS: dict[str, dict | None] = {
    "good": {"workshop.yml": workshop_yml(title="Good", summary="Fine.")},
    "good-without-metadata": {},
    "broken-yaml": {"workshop.yml": "title: [broken\n"},
    "unknown-field-and-level": {"workshop.yml": "title: T\ncolour: blue\nlevel: guru\n"},  # warnings only
    "wrong-active": {"workshop.yml": "title: T\nactive: maybe\n"},
    "duplicate-keys": {"workshop.yml": "title: T\ntitle: U\n"},
    "alias-bomb": {"wod.yml": ALIAS_BOMB},
    "not-utf8-metadata": {"workshop.yml": b"title: \xff\xfe\n"},
    "broken-notebook": {"1-Part1.ipynb": b"{ not json"},
    "old-notebook": {"1-Part1.ipynb": '{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}'},
    "broken-yaml-and-notebook": {"workshop.yml": "title: [x\n", "0-Part0.ipynb": b"nope"},
    "order-names-a-missing-notebook": {"workshop.yml": workshop_yml(title="T", order=["9-Gone.ipynb"])},
    "missing-image": {"workshop.yml": workshop_yml(title="T", image="img/gone.png")},  # a warning: default card
    "no-notebooks": None,
}


def test_validation_verdict_is_the_sync_outcome(content_repo: ContentRepo) -> None:
    """A folder passes validation exactly when the sync publishes it, for the same reasons."""
    for folder, files in VERDICT_FOLDERS.items():
        if files is None:
            content_repo.write(f"{folder}/workshop.yml", workshop_yml(title="Only metadata"))
            continue
        content_repo.add_workshop(folder)
        for path, content in files.items():
            content_repo.write(f"{folder}/{path}", content)
    content_repo.commit("good and broken workshops")

    report = source_validate(source=content_repo.url)
    run = catalog_sync()

    errors = {
        w["folder"]: [f["message"] for f in report_findings({"workshops": [w]}) if f["severity"] == "error"]
        for w in report["workshops"]
    }
    assert set(errors) == set(VERDICT_FOLDERS)
    published = {w.folder for w in Workshop.objects.filter(published=True)}
    assert published == {"good", "good-without-metadata", "unknown-field-and-level", "missing-image"}
    assert {folder for folder, found in errors.items() if not found} == published
    for folder in set(errors) - published:
        # Every reason the sync gives is one the validation gave (it may give more: with broken
        # metadata the sync stops there, validation goes on to the notebooks).
        unexplained = run.report["failed"][folder]
        for message in errors[folder]:
            unexplained = unexplained.replace(message, "")
        assert unexplained.strip("\n; ") == "", (folder, errors[folder], run.report["failed"][folder])


def test_validation_is_stricter_than_the_sync_never_looser(content_repo: ContentRepo) -> None:
    """A committed secret fails validation although the sync could publish the workshop."""
    content_repo.add_workshop("leaky")
    content_repo.write("leaky/setup.py", 'ilo_password = "HPinvent123"\n')  # pragma: allowlist secret
    content_repo.commit("a secret")
    report = source_validate(source=content_repo.url)
    assert {f["check"] for f in report_findings(report) if f["severity"] == "error"} == {"secrets"}
    assert catalog_sync().report["added"] == ["leaky"]

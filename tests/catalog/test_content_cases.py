"""Real-world content cases (tests/data/cases/content): synced, validated and shown as their README says."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from catalog.models import SyncRun, Workshop
from catalog.sync import catalog_sync
from tests.catalog.test_metadata import ALIAS_BOMB
from tests.contentrepo import ContentRepo, notebook_bytes

pytestmark = pytest.mark.django_db

CASES = Path(__file__).resolve().parents[1] / "data" / "cases" / "content"
RAW = re.compile(r"\{\{|\{%")


def _copy_case(repo: ContentRepo, case: str) -> list[str]:
    """Write every workshop folder of a case into the content repository; return the folders."""
    folders = []
    for folder in sorted(p for p in (CASES / case).iterdir() if p.is_dir()):
        for file in folder.rglob("*"):
            if file.is_file():
                repo.write(f"{folder.name}/{file.relative_to(folder).as_posix()}", file.read_bytes())
        folders.append(folder.name)
    return folders


@pytest.fixture
def cases_repo(content_repo: ContentRepo) -> ContentRepo:
    """A content repository holding the metadata and notebook cases side by side."""
    for case in ("yaml-tab-before-value", "placeholder-card-image", "markdown-cell-with-outputs", "yaml-oddities"):
        _copy_case(content_repo, case)
    content_repo.commit("real-world cases")
    return content_repo


def test_cases_publish_with_warnings_and_only_duplicate_keys_fail(cases_repo: ContentRepo, capsys) -> None:
    """Tabs, placeholders, stray outputs and YAML oddities publish (with warnings); duplicate keys fail."""
    call_command("sync_catalog")
    out = capsys.readouterr().out
    run = SyncRun.objects.latest()
    assert run.status == SyncRun.Status.PARTIAL
    assert list(run.report["failed"]) == ["a-duplicate-keys"]
    assert "duplicate key 'level' on lines 2 and 5" in run.report["failed"]["a-duplicate-keys"]
    published = set(Workshop.objects.filter(published=True).values_list("folder", flat=True))
    assert published == {
        "WKSHP-Tabs101", "WKSHP-Soon101", "vscode-edited",
        "b-bom", "c-anchors", "d-numeric-title", "e-yaml12-directive", "f-norway",
    }  # fmt: skip

    tabs = Workshop.objects.get(folder="WKSHP-Tabs101")
    assert tabs.extra["replayLink"] == "https://example.org/replay"
    assert tabs.warnings == ["wod.yml, line 10: a tab is used as spacing; read as a space (YAML allows only spaces)"]
    assert run.report["warnings"][tabs.slug] == tabs.warnings
    assert f"warning   {tabs.slug}: wod.yml, line 10: a tab is used as spacing" in out

    soon = Workshop.objects.get(folder="WKSHP-Soon101")
    assert soon.image == "" and "replayLink" not in soon.extra
    assert any("'tbd' is a placeholder" in w for w in soon.warnings)
    edited = Workshop.objects.get(folder="vscode-edited")
    assert any("outputs on Markdown cells" in w for w in edited.warnings)

    # The values as their authors meant them.
    assert Workshop.objects.get(folder="d-numeric-title").title == "1.10"
    assert Workshop.objects.get(folder="f-norway").tags == ["NO", "SE", "DK"]
    assert Workshop.objects.get(folder="c-anchors").products == ["redfish", "rest"]
    assert Workshop.objects.get(folder="b-bom").title == "Saved by Notepad with a BOM"

    # The placeholder image never reaches a page; the card gets the default one.
    page = Client().get(f"/workshops/{soon.slug}/").content.decode()
    assert "tbd" not in page and "???" not in page
    card_page = Client().get("/workshops/?q=Soon").content.decode()
    assert "Soon 101" in card_page and "/files/tbd" not in card_page


def test_validation_reports_the_same_warnings_in_every_format(cases_repo: ContentRepo, capsys) -> None:
    """validate_workshops (text, json, GitHub annotations) shows each warning on its line; errors fail it."""
    with pytest.raises(CommandError):
        call_command("validate_workshops", cases_repo.url, "--format", "github")
    out = capsys.readouterr().out
    assert "::warning file=WKSHP-Tabs101/wod.yml,line=10,title=workshops/metadata::" in out
    assert "::warning file=WKSHP-Soon101/wod.yml,line=8,title=workshops/image::" in out
    assert "::warning file=vscode-edited/1-Basics.ipynb,title=workshops/nbformat::" in out
    assert "::error file=a-duplicate-keys/workshop.yml,line=5,title=workshops/metadata::" in out

    with pytest.raises(CommandError):
        call_command("validate_workshops", cases_repo.url, "--format", "json")
    report = json.loads(capsys.readouterr().out)
    by_folder = {w["folder"]: w for w in report["workshops"]}
    assert by_folder["WKSHP-Tabs101"]["errors"] == 0 and by_folder["WKSHP-Tabs101"]["warnings"] == 1
    assert by_folder["a-duplicate-keys"]["errors"] == 2

    with pytest.raises(CommandError):
        call_command("validate_workshops", cases_repo.url, "--folder", "WKSHP-Tabs101", "--folder", "a-duplicate-keys")
    text = capsys.readouterr().out
    assert "WKSHP-Tabs101: ok (0 error(s), 1 warning(s))" in text
    assert "warning WKSHP-Tabs101/wod.yml:10: wod.yml, line 10: a tab is used as spacing" in text


def test_staff_see_the_warnings_in_the_admin(cases_repo: ContentRepo, admin_client) -> None:
    """The admin lists how many warnings each workshop has and shows them on its page."""
    catalog_sync()
    soon = Workshop.objects.get(folder="WKSHP-Soon101")
    listing = admin_client.get("/admin/catalog/workshop/").content.decode()
    assert 'class="field-warning_count">2<' in listing
    page = admin_client.get(f"/admin/catalog/workshop/{soon.pk}/change/").content.decode()
    assert "field &#x27;workshopImg&#x27;: &#x27;tbd&#x27; is a placeholder" in page


def test_an_alias_bomb_fails_its_workshop_only(content_repo: ContentRepo) -> None:
    """Four hundred bytes of nested aliases: that workshop fails with a reason, the sync finishes, others publish."""
    content_repo.add_workshop("good", meta={"title": "Good"})
    content_repo.add_workshop("bomb")
    content_repo.write("bomb/workshop.yml", ALIAS_BOMB)
    content_repo.write("wod-bomb/0-Intro.ipynb", notebook_bytes("Intro"))
    content_repo.write("wod-bomb/wod.yml", ALIAS_BOMB)
    content_repo.commit("a bomb")
    started = time.monotonic()
    run = catalog_sync()
    assert time.monotonic() - started < 30
    assert run.status == SyncRun.Status.PARTIAL and run.report["added"] == ["good"]
    assert "aliases expand to more than 10000 values" in run.report["failed"]["bomb"]
    assert "aliases expand to more than 10000 values" in run.report["failed"]["wod-bomb"]
    assert len(json.dumps(run.report)) < 5_000


def test_wod_template_workshop_never_shows_template_syntax(content_repo: ContentRepo, settings) -> None:
    """Site values filled, per-learner values as placeholders: in titles, outlines, cards, previews, search, zip."""
    settings.CATALOG_TEMPLATE_VALUES = {"BRANDINGWOD": "HPE Developer", "SURVEYURL": "https://example.org/survey"}
    _copy_case(content_repo, "wod-templates")
    content_repo.write(
        "WKSHP-Branded101/1-Lab.ipynb",
        notebook_bytes("Lab for student{{ STDID }}", "Log in to {{ BRANDINGWOD }}", code="user = 'student{{ STDID }}'"),
    )
    content_repo.commit("templates")
    run = catalog_sync()
    assert run.status == SyncRun.Status.OK
    workshop = Workshop.objects.get(folder="WKSHP-Branded101")
    assert workshop.template_placeholders == ["BRANDINGLOGO", "STDID"]
    assert any("‹BRANDINGLOGO›, ‹STDID›" in w for w in workshop.warnings)
    notebooks = list(workshop.notebooks.all())
    assert [nb.title for nb in notebooks] == ["Welcome to the HPE Developer", "Lab for student‹STDID›"]
    assert not RAW.search(json.dumps([nb.headings for nb in notebooks]) + workshop.search_text)

    client = Client()
    pages = {
        "card": client.get("/workshops/"),
        "search": client.get("/workshops/?q=Developer"),
        "detail": client.get(f"/workshops/{workshop.slug}/"),
        "api": client.get(f"/api/workshops/{workshop.slug}"),
        **{nb.path: client.get(f"/workshops/{workshop.slug}/notebooks/{nb.path}") for nb in notebooks},
    }
    for name, response in pages.items():
        body = response.content.decode()
        assert response.status_code == 200 and not RAW.search(body), name
    assert "Branded 101" in pages["search"].content.decode()  # found by its rendered outline
    assert "student‹STDID›" in pages["1-Lab.ipynb"].content.decode()

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/workshops/{workshop.slug}/download.zip").getvalue()))
    for name in archive.namelist():
        if name.endswith((".ipynb", ".md")):
            assert not RAW.search(archive.read(name).decode()), name
    readme = archive.read(f"{workshop.slug}/README.md").decode()
    assert "## Fill in before you start" in readme and "`‹STDID›`" in readme
    lab = json.loads(archive.read(f"{workshop.slug}/1-Lab.ipynb"))
    assert "".join(lab["cells"][-1]["source"]) == "user = 'student‹STDID›'"


def test_external_card_images_follow_the_setting(content_repo: ContentRepo, settings) -> None:
    """Off (the default): a card image on another site is replaced by the default card, with a warning."""
    content_repo.add_workshop("remote", meta={"title": "Remote", "image": "https://images.example.org/card.png"})
    content_repo.commit("remote image")
    settings.CATALOG_EXTERNAL_IMAGES = False
    catalog_sync()
    workshop = Workshop.objects.get(folder="remote")
    assert workshop.image == "" and "CATALOG_EXTERNAL_IMAGES is off" in workshop.warnings[0]
    assert "images.example.org" not in Client().get("/workshops/").content.decode()
    settings.CATALOG_EXTERNAL_IMAGES = True
    catalog_sync(force=True)
    workshop.refresh_from_db()
    assert workshop.image == "https://images.example.org/card.png" and workshop.warnings == []


@pytest.mark.parametrize(("value", "allows_https"), [("", False), ("false", False), ("true", True)])
def test_content_security_policy_follows_the_external_images_setting(value: str, allows_https: bool) -> None:
    """The img-src of the CSP allows other sites exactly when CATALOG_EXTERNAL_IMAGES is on."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PORTAL_IGNORE_DOTENV": "1", "CATALOG_EXTERNAL_IMAGES": value}
    if not value:
        env.pop("CATALOG_EXTERNAL_IMAGES")
    code = "from portal import settings; print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'])"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    assert ("'https:'" in done.stdout) is allows_https


def test_site_template_values_must_be_a_json_object() -> None:
    """A CATALOG_TEMPLATE_VALUES that is not a JSON object stops the start with a message saying what is expected."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PORTAL_IGNORE_DOTENV": "1", "CATALOG_TEMPLATE_VALUES": '["BRANDINGWOD"]'}
    done = subprocess.run(
        [sys.executable, "-c", "import portal.settings"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0 and "CATALOG_TEMPLATE_VALUES must be a JSON object" in done.stderr

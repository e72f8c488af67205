"""PR validation against the fake GitHub: statuses, report page, rate limits, commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.github_client import github_client
from catalog.github_hooks import github_webhook_install
from catalog.github_pulls import pull_request_validate
from catalog.models import ValidationRun
from catalog.validation import report_state
from tests.contentrepo import ContentRepo, notebook_bytes
from tests.github.conftest import REPOSITORY

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "workshops/validate"


def _open_pull(repo: ContentRepo, fake, number: int, changed: list[str]) -> str:
    """Commit the working clone's changes as a pull request head (refs/pull/N/head, like GitHub)."""
    sha = repo.commit(f"PR {number}", push=False)
    repo._git("push", "--quiet", "--force", "origin", f"HEAD:refs/pull/{number}/head")
    fake.pull_add(REPOSITORY, number, head_sha=sha, files=changed)
    return sha


def _run(number: int, sha: str) -> ValidationRun:
    return ValidationRun.objects.create(repository=REPOSITORY, source="", pull_number=number, head_sha=sha)


@pytest.fixture
def repo(content_repo, fake_github, webhook_settings) -> ContentRepo:
    content_repo.add_workshop("redfish-basics", notebooks=2, meta={"title": "Redfish basics"})
    content_repo.add_workshop("oneview-101", notebooks=2)
    content_repo.write("oneview-101/2-Broken.ipynb", b"{broken")  # already broken on main
    content_repo.commit("initial")
    return content_repo


def test_broken_notebook_gets_failure_status_naming_notebook_and_problem(repo, fake_github):
    repo.write("redfish-basics/1-Part1.ipynb", b'{"cells": [}')
    sha = _open_pull(repo, fake_github, 5, ["redfish-basics/1-Part1.ipynb"])
    run = _run(5, sha)
    assert pull_request_validate(run_id=run.pk) == "failure"

    statuses = fake_github.statuses(REPOSITORY, sha)
    assert [s["state"] for s in statuses] == ["pending", "failure"]
    assert {s["context"] for s in statuses} == {CONTEXT}
    assert all(s["target_url"] == f"http://portal.test/validation/{run.pk}" for s in statuses)
    final = statuses[-1]["description"]
    assert "1-Part1.ipynb" in final and "not valid JSON" in final and len(final) <= 140
    run.refresh_from_db()
    # Only the workshop the PR touches: oneview-101 is broken on main but not validated here.
    assert run.folders == ["redfish-basics"]
    assert [w["folder"] for w in run.report["workshops"]] == ["redfish-basics"]


def test_valid_change_gets_success(repo, fake_github):
    repo.write("redfish-basics/1-Part1.ipynb", notebook_bytes("Better part 1", "Setup"))
    repo.write("README.md", "root readme")
    sha = _open_pull(repo, fake_github, 6, ["redfish-basics/1-Part1.ipynb", "README.md"])
    assert pull_request_validate(run_id=_run(6, sha).pk) == "success"
    assert [s["state"] for s in fake_github.statuses(REPOSITORY, sha)] == ["pending", "success"]


def test_pr_touching_no_workshop_succeeds(repo, fake_github):
    repo.write("README.md", "only docs")
    sha = _open_pull(repo, fake_github, 7, ["README.md"])
    assert pull_request_validate(run_id=_run(7, sha).pk) == "success"
    assert fake_github.statuses(REPOSITORY, sha)[-1]["description"] == "No workshop changed"


def test_redelivered_task_does_not_post_again(repo, fake_github):
    repo.write("redfish-basics/1-Part1.ipynb", notebook_bytes("Again"))
    sha = _open_pull(repo, fake_github, 8, ["redfish-basics/1-Part1.ipynb"])
    run = _run(8, sha)
    pull_request_validate(run_id=run.pk)
    pull_request_validate(run_id=run.pk)
    assert len(fake_github.statuses(REPOSITORY, sha)) == 2


def test_report_page_shows_workshop_and_notebook(repo, fake_github, client):
    repo.write("redfish-basics/1-Part1.ipynb", b'{"cells": [}')
    sha = _open_pull(repo, fake_github, 9, ["redfish-basics/1-Part1.ipynb"])
    run = _run(9, sha)
    pull_request_validate(run_id=run.pk)
    page = client.get(f"/validation/{run.pk}")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Redfish basics" in html and "1-Part1.ipynb" in html and "not valid JSON" in html
    assert "0-Part0.ipynb" in html  # the good notebook is listed too
    data = client.get(f"/validation/{run.pk}?format=json").json()
    assert data["state"] == "failure" and data["report"]["summary"]["errors"] == 1


def test_pull_request_with_warnings_succeeds_and_shows_them(repo, fake_github, client):
    """A cosmetic fault (tab as spacing, placeholder card image) passes the PR, warnings counted and listed."""
    repo.write("redfish-basics/workshop.yml", "title: Redfish basics\nimage:\t'tbd'\n")
    sha = _open_pull(repo, fake_github, 12, ["redfish-basics/workshop.yml"])
    run = _run(12, sha)
    assert pull_request_validate(run_id=run.pk) == "success"
    assert fake_github.statuses(REPOSITORY, sha)[-1]["description"] == "1 workshop(s) valid, 2 warning(s)"
    html = client.get(f"/validation/{run.pk}").content.decode()
    assert "2 warning(s)" in html
    assert "redfish-basics/workshop.yml:2</code> workshop.yml, line 2: a tab is used as spacing" in html
    assert "&#x27;tbd&#x27; is a placeholder, not an image" in html


def test_missing_commit_gives_error_status(repo, fake_github):
    sha = "b" * 40
    fake_github.pull_add(REPOSITORY, 10, head_sha=sha, files=["redfish-basics/x.ipynb"])
    assert pull_request_validate(run_id=_run(10, sha).pk) == "error"
    assert [s["state"] for s in fake_github.statuses(REPOSITORY, sha)] == ["pending", "error"]


def test_secondary_rate_limit_403_is_retried_not_lost(repo, fake_github):
    repo.write("redfish-basics/1-Part1.ipynb", notebook_bytes("Retry"))
    sha = _open_pull(repo, fake_github, 11, ["redfish-basics/1-Part1.ipynb"])
    fake_github.rate_limit_next(2)
    assert pull_request_validate(run_id=_run(11, sha).pk) == "success"
    assert [s["state"] for s in fake_github.statuses(REPOSITORY, sha)] == ["pending", "success"]
    posts = fake_github.calls("POST", rf"/repos/{REPOSITORY}/statuses/{sha}")
    assert len(posts) == 4  # two refused with 403 + Retry-After, then retried


def test_client_sends_token_and_backs_off(fake_github):
    fake_github.rate_limit_next(1)
    repo = github_client().get_repo(REPOSITORY)
    assert repo.default_branch == "main"
    first, second = fake_github.requests[-2:]
    assert first.path == second.path == f"/repos/{REPOSITORY}"
    assert second.headers["Authorization"] == "token test-token"


def test_report_state_description_is_capped():
    finding = {"severity": "error", "check": "x", "file": "f", "message": "m" * 300, "line": None}
    report = {"summary": {"workshops": 1, "failed": 1, "errors": 1, "warnings": 0},
              "workshops": [{"findings": [finding], "notebooks": []}]}  # fmt: skip
    state, text = report_state(report)
    assert state == "failure" and len(text) == 140


# --- webhook install --------------------------------------------------------------------


def test_webhook_install_is_idempotent(fake_github, webhook_settings, capsys):
    call_command("github_webhook", "install")
    call_command("github_webhook", "install")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("webhook created") and out[1].startswith("webhook unchanged")
    [hook] = fake_github.repos[REPOSITORY.lower()].hooks.values()
    assert hook["config"]["url"] == "http://portal.test/github/webhook"
    assert hook["config"]["content_type"] == "json" and hook["config"]["secret"]
    assert sorted(hook["events"]) == ["pull_request", "push"]
    assert len(fake_github.calls("POST", rf"/repos/{REPOSITORY}/hooks")) == 1
    assert fake_github.calls("PATCH", rf"/repos/{REPOSITORY}/hooks/\d+") == []


def test_webhook_install_updates_a_drifted_hook(fake_github, webhook_settings):
    created = github_webhook_install()
    fake_github.repos[REPOSITORY.lower()].hooks[created.hook_id]["events"] = ["push"]
    assert github_webhook_install().action == "updated"
    assert sorted(fake_github.repos[REPOSITORY.lower()].hooks[created.hook_id]["events"]) == [
        "pull_request",
        "push",
    ]


def test_webhook_install_refuses_without_secret(fake_github, webhook_settings):
    webhook_settings.GITHUB_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="GITHUB_WEBHOOK_SECRET"):
        call_command("github_webhook", "install")


# --- the command and CI -----------------------------------------------------------------


def test_validate_command_formats_and_exit_code(repo, capsys):
    with pytest.raises(CommandError):
        call_command("validate_workshops", repo.url, "--format", "github")
    out = capsys.readouterr().out
    assert "::error file=oneview-101/2-Broken.ipynb,line=1,title=workshops/nbformat::" in out
    call_command("validate_workshops", repo.url, "--folder", "redfish-basics", "--format", "json")
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"workshops": 1, "failed": 0, "errors": 0, "warnings": 0}


def test_validate_command_reads_a_working_tree_and_a_ref(repo, capsys):
    call_command("validate_workshops", str(repo.work), "--folder", "redfish-basics")
    assert "redfish-basics: ok" in capsys.readouterr().out
    repo.write("redfish-basics/0-Part0.ipynb", b"nope")
    repo.commit("break it on a branch", push=False)
    repo._git("push", "--quiet", "origin", "HEAD:refs/heads/broken")
    with pytest.raises(CommandError):
        call_command("validate_workshops", repo.url, "--ref", "broken", "--folder", "redfish-basics")
    assert "0-Part0.ipynb" in capsys.readouterr().out


def test_validate_command_exit_status_in_a_subprocess(repo, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_IGNORE_DOTENV": "1",
        "CATALOG_CACHE_DIR": str(tmp_path / "cache2"),
    }
    command = [sys.executable, "manage.py", "validate_workshops", repo.url, "--format", "github"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "::error file=oneview-101/2-Broken.ipynb" in done.stdout


def test_workflow_template_is_a_valid_github_workflow():
    template = ROOT / "catalog" / "templates_content" / "validate-workshops.yml"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema",
         "vendor.github-workflows", str(template)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validate_workshops . --format github" in template.read_text()

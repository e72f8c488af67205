"""End to end on a real hub: sign in with (fake) GitHub, launch, pull, edit, update, stop."""

from __future__ import annotations

import json

import pytest

from tests.contentrepo import notebook_bytes
from tests.hub.conftest import WORKSHOP, wait_ready

pytestmark = [pytest.mark.hub, pytest.mark.django_db(transaction=True)]


def test_octocat_signs_in_launches_and_lands_in_the_first_notebook(hub, workshop, person):
    page = person.sign_in(next_path=f"/workshops/{workshop.slug}/")
    assert page.status_code == 200
    assert str(page.url) == f"{hub.portal_url}/workshops/{workshop.slug}/"
    assert ">octocat<" in page.text and "Launch in JupyterLab" in page.text

    launch_url = person.launch(workshop.slug)
    assert launch_url.startswith(f"{hub.url}/hub/user-redirect/git-pull?")
    lab_url = person.pull(launch_url, "octocat")
    # A clean workspace: exactly this notebook, nothing restored from an earlier workshop.
    assert lab_url == f"{hub.url}/user/octocat/lab/tree/workshops/{WORKSHOP}/0-Welcome.ipynb?reset"

    lab = person.http.get(lab_url)
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    # Signed in on the hub as the same GitHub login, in octocat's own server.
    assert '"hubUser": "octocat"' in lab.text.replace("'", '"') or "/user/octocat/" in str(lab.url)
    home = hub.home("octocat") / "workshops" / WORKSHOP
    assert sorted(p.name for p in home.glob("*.ipynb")) == ["0-Welcome.ipynb", "1-Calls.ipynb"]
    hub.stop_server("octocat")


def test_relaunch_brings_upstream_fixes_and_keeps_the_learners_edits(hub, workshop, person, hub_content):
    person.sign_in()
    person.pull(person.launch(workshop.slug), "octocat")
    # The learner writes a note in the first notebook, through Jupyter's contents API as octocat.
    with hub.api() as api:
        token = api.post("/users/octocat/tokens", json={"note": "test edit", "expires_in": 600}).json()["token"]
    contents = f"{hub.url}/user/octocat/api/contents/workshops/{WORKSHOP}/0-Welcome.ipynb"
    headers = {"Authorization": f"token {token}"}
    model = person.http.get(contents, headers=headers).json()
    model["content"]["cells"][0]["source"] = "# Welcome to the API\n\nMY OWN NOTE: the token goes in a header."
    saved = person.http.put(contents, headers=headers, json={"type": "notebook", "content": model["content"]})
    assert saved.status_code == 200, saved.text

    # A maintainer fixes another notebook and the last cell of the same notebook upstream.
    upstream = json.loads(notebook_bytes("Welcome to the API", "Setup", "First call"))
    learner_ids = [c["id"] for c in model["content"]["cells"]]
    for cell, cell_id in zip(upstream["cells"], learner_ids, strict=True):
        cell["id"] = cell_id  # same cells, as in a real repository history
    upstream["cells"][-1]["source"] = "print('fixed by the maintainers')"
    hub_content.write(f"{WORKSHOP}/0-Welcome.ipynb", json.dumps(upstream, indent=1, sort_keys=True) + "\n")
    hub_content.write(f"{WORKSHOP}/1-Calls.ipynb", notebook_bytes("Calling the API, v2", "GET", "POST"))
    hub_content.commit("Fix the workshop")
    from catalog.sync import catalog_sync

    catalog_sync()  # what the push's webhook does: the catalog, and the copy learners pull from, follow

    person.pull(person.launch(workshop.slug), "octocat")
    folder = hub.home("octocat") / "workshops" / WORKSHOP
    first = json.loads((folder / "0-Welcome.ipynb").read_text())
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in first["cells"]]
    assert "MY OWN NOTE" in sources[0]  # the learner's edit is kept
    assert "fixed by the maintainers" in sources[-1]  # the upstream fix to the same notebook arrived
    assert "Calling the API, v2" in (folder / "1-Calls.ipynb").read_text()  # and to the other one
    hub.stop_server("octocat")


def test_my_server_shows_the_server_and_stop_stops_it(hub, workshop, person):
    person.sign_in()
    person.pull(person.launch(workshop.slug), "octocat")
    page = person.http.get(f"{hub.portal_url}/me/server")
    assert 'id="server-state">Running<' in page.text
    assert "Intro to the API" in page.text and "Open JupyterLab" in page.text
    stopped = person.post("/me/server/stop")
    assert stopped.status_code == 302
    hub.wait_stopped("octocat")
    page = person.http.get(f"{hub.portal_url}/me/server")
    assert 'id="server-state">Not running<' in page.text
    assert "Intro to the API" in page.text  # the workshops pulled are still listed


def test_user_outside_the_organisation_is_refused_with_a_clear_page(hub, workshop, person, fake_github):
    fake_github.approve_as = "mallory"
    page = person.sign_in(next_path=f"/workshops/{workshop.slug}/")
    assert page.status_code == 403
    assert "not allowed on this hub" in page.text and "hpe-workshops" in page.text
    assert "Back to the workshops" in page.text and "Traceback" not in page.text
    me = person.http.get(f"{hub.portal_url}/me/server", follow_redirects=False)
    assert me.status_code == 302 and "/accounts/login" in me.headers["location"]


def test_sign_out_clears_the_portal_and_the_hub_sessions(hub, workshop, person):
    person.sign_in()
    assert person.http.get(f"{hub.url}/hub/api/user").status_code in (200, 403)
    assert person.http.get(f"{hub.url}/hub/home", follow_redirects=False).status_code == 200
    done = person.http.post(f"{hub.portal_url}/accounts/logout", data={"csrfmiddlewaretoken": person.csrf()})
    assert str(done.url).startswith(hub.portal_url)
    assert ">octocat<" not in done.text and "Sign in with GitHub" in done.text
    hub_home = person.http.get(f"{hub.url}/hub/home", follow_redirects=False)
    assert hub_home.status_code == 302 and "/hub/login" in hub_home.headers["location"]


def test_portal_token_cannot_create_users_or_read_notebooks(hub, workshop, person):
    person.sign_in()
    person.pull(person.launch(workshop.slug), "octocat")
    wait_ready(hub, "octocat")
    with hub.api(hub.portal_token) as api:
        assert api.get("/users").status_code == 200  # granted: list:users
        assert api.post("/users", json={"usernames": ["intruder"]}).status_code == 403
        assert api.post("/users/octocat/tokens", json={}).status_code == 403
    files = person.http.get(
        f"{hub.url}/user/octocat/api/contents/workshops/{WORKSHOP}",
        headers={"Authorization": f"token {hub.portal_token}"},
        follow_redirects=False,
    )
    assert files.status_code == 403
    hub.stop_server("octocat")

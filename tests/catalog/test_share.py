"""Sharing: launch badges, deep links, copy buttons and source links on the workshop page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from catalog.models import Notebook, Workshop
from catalog.share import share_snippets
from catalog.source_links import source_links


def test_snippets_point_at_launch_anchor_and_badge():
    share = share_snippets(
        portal_url="https://labs.example.org/",
        slug="redfish",
        title="Redfish [101]",
        notebooks=[("0-Intro.ipynb", "Intro"), ("2 Deep/Dive.ipynb", "Dive")],
    )
    assert share.launch_url == "https://labs.example.org/workshops/redfish/#launch"
    assert share.markdown == (
        "[![Launch the Redfish \\[101\\] workshop](https://labs.example.org/badge.svg)]"
        "(https://labs.example.org/workshops/redfish/#launch)"
    )
    assert share.html == (
        '<a href="https://labs.example.org/workshops/redfish/#launch">'
        '<img src="https://labs.example.org/badge.svg" alt="Launch the Redfish [101] workshop"></a>'
    )
    assert ":target: https://labs.example.org/workshops/redfish/#launch" in share.rst
    dive = share.notebooks[1]
    assert dive.preview == "https://labs.example.org/workshops/redfish/notebooks/2%20Deep/Dive.ipynb"
    parts = urlsplit(dive.launch)
    assert parse_qs(parts.query) == {"notebook": ["2 Deep/Dive.ipynb"]} and parts.fragment == "launch"


def test_html_snippet_escapes_title():
    share = share_snippets(portal_url="https://x", slug="s", title='"><script>', notebooks=[])
    assert "<script>" not in share.html


def test_report_a_problem_is_a_prefilled_new_issue_link():
    links = source_links(
        web_url="https://github.com/hpe-dev/workshops",
        branch="main",
        commit="abc123",
        folder="redfish-basics",
        title="Redfish basics",
        first_file="0-Intro.ipynb",
    )
    parts = urlsplit(links.issue)
    assert parts.path == "/hpe-dev/workshops/issues/new"
    query = parse_qs(parts.query)
    assert query["title"] == ["[redfish-basics] "] and query["labels"] == ["workshop"]
    assert "Workshop: Redfish basics" in query["body"][0] and "Commit: abc123" in query["body"][0]
    assert links.edit == "https://github.com/hpe-dev/workshops/edit/main/redfish-basics/0-Intro.ipynb"
    assert links.tree == "https://github.com/hpe-dev/workshops/tree/abc123/redfish-basics"


@pytest.fixture
def workshop(db) -> Workshop:
    ws = Workshop.objects.create(
        slug="redfish-basics",
        folder="redfish-basics",
        title="Redfish basics",
        published=True,
        commit_sha="abc123",
        content_updated_at=timezone.now(),
    )
    Notebook.objects.create(workshop=ws, path="0-Intro.ipynb", position=0, title="Intro")
    Notebook.objects.create(workshop=ws, path="1-Calls.ipynb", position=1, title="Calls")
    return ws


def test_workshop_page_offers_badges_deep_links_and_source_links(client, workshop, settings):
    settings.PORTAL_URL = "https://labs.example.org"
    settings.CATALOG_REPO_WEB_URL = "https://github.com/hpe-dev/workshops"
    html = client.get("/workshops/redfish-basics/").content.decode()
    assert 'id="share"' in html
    assert "[![Launch the Redfish basics workshop](https://labs.example.org/badge.svg)]" in html
    assert 'data-copy="share-md"' in html and 'id="share-md"' in html and 'data-copy="share-html"' in html
    assert "https://labs.example.org/workshops/redfish-basics/notebooks/1-Calls.ipynb" in html
    assert "https://labs.example.org/workshops/redfish-basics/?notebook=1-Calls.ipynb#launch" in html
    assert "https://github.com/hpe-dev/workshops/issues/new?title=%5Bredfish-basics%5D" in html
    assert ">Report a problem<" in html and ">Suggest an edit<" in html and ">View on GitHub<" in html


def test_notebook_deep_link_resolves(client, workshop):
    assert client.get("/workshops/redfish-basics/notebooks/1-Calls.ipynb").status_code == 200


def test_badge_is_a_cacheable_svg(client, db):
    response = client.get("/badge.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert "max-age" in response["Cache-Control"]
    body = response.content.decode()
    assert body.startswith("<svg") and "launch" in body and "workshop" in body and "<script" not in body

"""A new visitor browses, searches, filters, previews and downloads, in a real browser."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nbformat
import pytest

from catalog.sync import catalog_sync
from tests.chromium import screenshot
from tests.contentrepo import ContentRepo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_finds_previews_and_downloads_a_workshop(page, live_server, sample_catalog) -> None:
    """Search, filter, open a workshop, read a notebook preview, download the zip."""
    page.goto(f"{live_server.url}/")
    assert page.title().startswith("Workshops")
    cards = page.locator("article.card")
    total = cards.count()
    assert total >= 5
    # Card pictures load lazily: every one on screen is shown before the picture is taken.
    page.wait_for_function(
        "[...document.images].filter(i => i.getBoundingClientRect().top < innerHeight)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "catalog")

    page.fill(".filters input[name=q]", "redfish")
    page.press(".filters input[name=q]", "Enter")
    page.wait_for_url("**/workshops/?q=redfish**")
    assert 0 < cards.count() < total
    assert "redfish" in page.locator("#result-count").inner_text().lower()

    page.select_option("select[name=level]", "beginner")  # applies at once (site.js)
    page.wait_for_url("**level=beginner**")
    titles = cards.locator(".card-title").all_inner_texts()
    assert titles and all(t for t in titles)

    cards.first.locator("a.card-link").click()
    page.wait_for_selector("h2#notebooks")
    workshop_title = page.locator("h1").inner_text()
    first_notebook = page.locator("a.notebook-title").first
    notebook_title = first_notebook.inner_text()
    screenshot(page, "workshop")

    first_notebook.click()
    page.wait_for_selector("#preview")
    assert page.locator("#preview h1").first.inner_text().startswith(notebook_title)
    assert page.locator("#preview .input_area").count() > 0  # code cells are shown
    screenshot(page, "preview")

    page.go_back()
    with page.expect_download() as download_info:
        page.click("#download-zip")
    download = download_info.value
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    names = archive.namelist()
    slug = download.suggested_filename.removesuffix(".zip")
    assert f"{slug}/requirements.txt" in names
    assert f"{slug}/README.md" in names or f"{slug}/RUN-LOCALLY.md" in names
    notebooks = [n for n in names if n.endswith(".ipynb")]
    assert notebooks and workshop_title


def test_empty_search_shows_the_way_back(page, live_server, sample_catalog) -> None:
    """A search with no match says so and the link brings every workshop back."""
    page.goto(f"{live_server.url}/workshops/?q=zzzznotathing")
    assert "No workshop matches" in page.locator(".empty h2").inner_text()
    page.click("text=Show all workshops")
    assert page.locator("article.card").count() >= 5


def test_hostile_notebook_runs_nothing(page, live_server, content_repo: ContentRepo) -> None:
    """A notebook carrying script, onerror, SVG onload and javascript: links runs nothing."""
    payloads = [
        nbformat.v4.new_markdown_cell(
            "# Innocent title\n\n<img src=x onerror=\"window.pwned='md-onerror';alert(1)\">\n\n"
            "<script>window.pwned='md-script'</script>\n\n[click me](javascript:window.pwned='link')\n\n"
            '<svg><script>window.pwned="svg"</script></svg>'
        ),
        nbformat.v4.new_code_cell(
            "evil()",
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": "<script>window.pwned='output'</script>"
                        "<img src=x onerror=\"window.pwned='out-img'\">"
                    },
                ),
                nbformat.v4.new_output(
                    "display_data", data={"image/svg+xml": "<svg onload=\"window.pwned='svg-out'\"></svg>"}
                ),
                nbformat.v4.new_output("display_data", data={"application/javascript": "window.pwned='js-output'"}),
            ],
        ),
    ]
    content_repo.write("evil/0-Evil.ipynb", nbformat.writes(nbformat.v4.new_notebook(cells=payloads)))
    content_repo.commit("hostile")
    assert catalog_sync().status == "ok"

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/workshops/evil/notebooks/0-Evil.ipynb")
    page.wait_for_selector("#preview")
    page.click("text=click me")
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert dialogs == []
    assert page.locator("#preview h1").inner_text().startswith("Innocent title")

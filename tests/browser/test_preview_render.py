"""Previews of real-world notebooks look as in JupyterLab, in a real browser under the strict CSP:
typeset maths, coloured output and tracebacks, raw cells, attachments, widgets, outline links."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from catalog.sync import catalog_sync
from tests.chromium import screenshot
from tests.contentrepo import ContentRepo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CASES = Path(__file__).resolve().parent.parent / "data" / "cases"


@pytest.fixture
def cases_catalog(content_repo: ContentRepo) -> ContentRepo:
    """Sync the content cases, plus a notebook of raw cells and odd headings."""
    for case in ("math", "ansi-colours", "attachment-in-html-img", "widget-outputs"):
        for path in sorted((CASES / case).rglob("*")):
            if path.is_file():
                content_repo.write(str(path.relative_to(CASES / case)), path.read_bytes())
    cells = [
        nbformat.v4.new_markdown_cell("# Raw cells and anchors\n\n[Jump to the end](#the-end)"),
        nbformat.v4.new_raw_cell("<b>raw, not bold</b>\nline two"),
        nbformat.v4.new_raw_cell("\\section{A second raw cell}"),
        nbformat.v4.new_markdown_cell("## Café — ¿qué? [docs](https://example.org)"),
        nbformat.v4.new_markdown_cell("\n\n".join(f"Filler paragraph {i}." for i in range(60))),
        nbformat.v4.new_markdown_cell('<a id="the-end"></a>\n\n## Setup\n\nThe end.'),
    ]
    content_repo.write("raw/0-Raw.ipynb", nbformat.writes(nbformat.v4.new_notebook(cells=cells)))
    content_repo.commit("cases")
    run = catalog_sync()
    assert run.status == "ok", run.report
    return content_repo


def _open(page, url: str) -> list[str]:
    """Open a preview; return the CSP violations the browser reports meanwhile."""
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(url)
    page.wait_for_selector("#preview")
    return violations


def test_maths_is_typeset(page, live_server, cases_catalog) -> None:
    """Fractions stack and sums carry their limits: MathML laid out by the browser, no script needed."""
    violations = _open(page, f"{live_server.url}/workshops/math/notebooks/0-Math.ipynb")
    assert page.locator("#preview math").count() == 3
    fraction = page.locator("#preview mfrac").bounding_box()
    letter = page.locator("#preview mi").first.bounding_box()
    assert fraction and letter and fraction["height"] > 1.6 * letter["height"]  # numerator over denominator
    assert "$" not in page.locator("#preview").inner_text()
    assert violations == []
    screenshot(page, "preview-math")


def test_output_and_traceback_colours(page, live_server, cases_catalog) -> None:
    """ANSI colours show in JupyterLab's palette; tracebacks sit on JupyterLab's error background."""
    _open(page, f"{live_server.url}/workshops/ansi/notebooks/0-Ansi.ipynb")

    def colour(selector: str, prop: str = "color") -> str:
        return page.locator(selector).first.evaluate(f"e => getComputedStyle(e)['{prop}']")

    assert colour("#preview .output_stdout .ansi-green-fg") == "rgb(0, 162, 80)"
    assert colour("#preview .output_stdout .ansi-red-intense-fg") == "rgb(178, 43, 49)"
    assert colour("#preview .output_stdout .ansi-bold", "fontWeight") == "700"
    assert colour("#preview .output_error .ansi-red-fg") == "rgb(231, 92, 88)"
    assert colour("#preview .output_error", "backgroundColor") == "rgb(255, 221, 221)"
    assert (
        page.locator("#preview .output_stdout span[style]").first.evaluate("e => getComputedStyle(e).color")
        == "rgb(255, 135, 0)"
    )  # 256-colour orange
    screenshot(page, "preview-ansi")


def test_attachments_show(page, live_server, cases_catalog) -> None:
    """Pasted images show, whether the cell uses Markdown or an HTML <img> tag."""
    _open(page, f"{live_server.url}/workshops/attachments/notebooks/0-Attachments.ipynb")
    images = page.locator("#preview img")
    assert images.count() == 2
    for i in range(2):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth") == 4
    assert images.nth(1).evaluate("img => img.width") == 40  # the HTML tag's width
    screenshot(page, "preview-attachments")


def test_widgets_show_state_or_a_placeholder(page, live_server, cases_catalog) -> None:
    """A saved widget shows its value; one without state says where it runs."""
    _open(page, f"{live_server.url}/workshops/widgets-state/notebooks/0-Widgets.ipynb")
    widget = page.locator("#preview .output_widget")
    assert "Servers" in widget.inner_text() and "7" in widget.inner_text()
    bar = page.locator("#preview .widget-bar-fill").bounding_box()
    assert bar and bar["width"] > 0
    screenshot(page, "preview-widget-state")
    _open(page, f"{live_server.url}/workshops/widgets-nostate/notebooks/0-Widgets.ipynb")
    assert "Interactive widget: runs in JupyterLab" in page.locator("#preview .output_widget").inner_text()
    screenshot(page, "preview-widget-placeholder")


def test_raw_cells_and_outline_links(page, live_server, cases_catalog) -> None:
    """Raw cells are separate plain-text blocks; outline and in-notebook links land on their targets."""
    _open(page, f"{live_server.url}/workshops/raw/notebooks/0-Raw.ipynb")
    raw = page.locator("#preview .raw_cell")
    assert raw.count() == 2
    assert raw.nth(0).inner_text() == "<b>raw, not bold</b>\nline two"
    assert page.locator("#preview .raw_cell b").count() == 0
    screenshot(page, "preview-raw", full_page=True)
    outline = page.locator(".outline a")
    assert outline.all_inner_texts() == ["Raw cells and anchors", "Café — ¿qué? docs", "Setup"]
    for i in range(outline.count()):
        outline.nth(i).click()
        target = page.evaluate("decodeURIComponent(location.hash.slice(1))")
        assert page.locator("#preview :target").evaluate("e => e.id") == target
        assert page.locator("#preview :target").evaluate("e => e.tagName") in ("H1", "H2")
    page.locator("#preview a", has_text="Jump to the end").click()
    assert page.locator("#preview :target").evaluate("e => e.id") == "nb-the-end"
    assert page.locator("#preview h2", has_text="Setup").is_visible()  # scrolled to the notebook's own anchor

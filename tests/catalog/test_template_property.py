"""Property: whatever template syntax Workshops-on-Demand notebooks hold, sync publishes no raw template syntax."""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.builder import workshop_plan, workshop_render
from catalog.models import Workshop
from catalog.sync import catalog_sync
from tests.contentrepo import ContentRepo

RAW = re.compile(r"\{\{|\{%")
SITE = {"BRANDINGWOD": "HPE Developer", "SURVEYURL": "https://example.org/survey"}

PIECES = st.sampled_from(
    [
        "{{ BRANDINGWOD }}", "{{ STDID }}", "{{ PASSSTU|default('secret') }}", "{{ STDID|upper }}", "{{ a.b }}",
        "{% if MODEWS == 'WKSHP' %}", "{% else %}", "{% endif %}", "{% if STDID %}", "{# a comment #}",
        "{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "<b>", "</b>", "[link](#x)", "`code`", "**bold**",
        "{{ 'x' * 99999999 }}", "{% for i in items %}", "{% endfor %}", "{{ x | nofilter }}", "{% set a = 1 %}",
        "{{ 1/0 }}", "Lab", " ", "é", "‹", "›", "\\", "*", "_", "~~", "<!-- c -->", "&#123;", "&lbrace;", "&#37;",
    ]
)  # fmt: skip
TEXT = st.lists(PIECES, min_size=1, max_size=12).map("".join)


@st.composite
def notebooks(draw) -> bytes:
    """A notebook whose headings, prose, code and outputs hold template syntax, broken or not."""
    cells = [nbformat.v4.new_markdown_cell(f"# {draw(TEXT)}\n\n{draw(TEXT)}")]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["markdown", "code", "raw"]))
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(f"{'#' * draw(st.integers(1, 4))} {draw(TEXT)}\n{draw(TEXT)}"))
        elif kind == "code":
            output = nbformat.v4.new_output("stream", name="stdout", text=draw(TEXT))
            cells.append(nbformat.v4.new_code_cell(draw(TEXT), outputs=[output], execution_count=1))
        else:
            cells.append(nbformat.v4.new_raw_cell(draw(TEXT)))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb).encode()


def _published_text(draft) -> dict[str, str]:
    """What a reader can see of a draft: titles, outlines, previews, search text."""
    seen = {"title": draft.title, "search": draft.search_text, "description": draft.description_html}
    for nb in draft.notebooks:
        seen[f"{nb.path} title"] = nb.title
        seen[f"{nb.path} outline"] = " ".join(h["text"] for h in nb.headings)
        seen[f"{nb.path} preview"] = nb.preview_html
    return seen


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(notebooks(), min_size=1, max_size=2), TEXT)
def test_a_template_workshop_never_publishes_raw_template_syntax(books: list[bytes], name: str) -> None:
    """The sync's reading and rendering of a folder never fails on templates and shows none raw."""
    files = {f"{i}-Part.ipynb": raw for i, raw in enumerate(books)}
    files["wod.yml"] = f"name: {name!r}\ndescription: {name!r}\n".encode()
    plan = workshop_plan(
        folder="WKSHP-Fuzz", files=files, max_notebook_bytes=10**7, max_file_bytes=10**7, template_values=SITE
    )
    assert plan is not None and plan.problems == []
    draft = workshop_render(plan, base_url="/workshops/wkshp-fuzz/")
    for where, text in _published_text(draft).items():
        assert not RAW.search(text), (where, text)
    for path, content in draft.files.items():
        if path.endswith(".ipynb"):
            assert not RAW.search(content.decode()), path  # the zip and downloads
    for nb in draft.notebooks:  # every outline link lands on an anchor of the preview
        ids = {html.unescape(i) for i in re.findall(r'\bid="([^"]+)"', nb.preview_html)}  # as the browser reads them
        dead = [h["anchor"] for h in nb.headings if h["anchor"] not in ids]
        assert not dead, (nb.path, dead)


@pytest.mark.django_db
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(notebooks())
def test_sync_of_a_template_workshop_from_git(settings_fixture, raw: bytes) -> None:
    """The same through a real sync from a git repository: published, nothing raw in the catalog."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = ContentRepo(Path(tmp) / "content")
        repo.write("WKSHP-Fuzz/0-Part.ipynb", raw)
        repo.write("WKSHP-Fuzz/wod.yml", "name: Fuzz\n")
        repo.commit("fuzz")
        settings_fixture.CATALOG_CACHE_DIR = Path(tmp) / "cache"
        run = catalog_sync(source=repo.url, branch=repo.branch, force=True)
    assert run.report["failed"] == {}
    workshop = Workshop.objects.get(folder="WKSHP-Fuzz")
    notebook = workshop.notebooks.get()
    seen = [workshop.title, workshop.search_text, notebook.title, str(notebook.headings), notebook.preview_html]
    assert not any(RAW.search(text) for text in seen)
    ids = {html.unescape(i) for i in re.findall(r'\bid="([^"]+)"', notebook.preview_html)}
    assert all(h["anchor"] in ids for h in notebook.headings), notebook.headings  # no dead outline link


@pytest.fixture
def settings_fixture(settings):
    """pytest-django's settings, under a name hypothesis does not take for a strategy argument."""
    settings.CATALOG_TEMPLATE_VALUES = SITE
    return settings

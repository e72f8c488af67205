"""Notebook checks and previews: clear reasons for bad notebooks, nothing runnable in previews."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.notebooks import TEMPLATE_GROWTH_CHARS, NotebookError, notebook_parse
from catalog.render import notebook_render
from catalog.sanitize import relative_resolver
from tests.contentrepo import notebook_bytes

LIMIT = 1_000_000


def test_headings_and_title_are_read() -> None:
    """The first level-1 heading is the title; every heading is in the outline with its anchor."""
    parsed = notebook_parse(notebook_bytes("Sessions", "Log in", "Log out"), name="a.ipynb", max_bytes=LIMIT)
    assert parsed.title == "Sessions"
    assert [(h.level, h.text) for h in parsed.headings] == [(1, "Sessions"), (2, "Log in"), (2, "Log out")]
    assert parsed.kernel == "python3"
    rendered = notebook_render(node=parsed.node)
    assert [(h.level, h.text) for h in rendered.headings] == [(h.level, h.text) for h in parsed.headings]
    for heading in rendered.headings:
        assert f'id="{heading.anchor}"' in rendered.html  # outline links land on the heading


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b'{"hello": 1}', "JSON but not a notebook"),
        (
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}).encode(),
            "nbformat 3 is not supported",
        ),
        (
            json.dumps(
                {"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "bogus"}], "metadata": {}}
            ).encode(),
            "not a valid nbformat 4 notebook",
        ),
    ],
)
def test_bad_notebooks_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    """Each kind of broken notebook gets a reason naming the file."""
    with pytest.raises(NotebookError) as caught:
        notebook_parse(raw, name="1-Broken.ipynb", max_bytes=LIMIT)
    assert str(caught.value).startswith("1-Broken.ipynb: ")
    assert reason in str(caught.value)


def test_oversized_notebook_is_refused() -> None:
    """A notebook over the size limit is refused with the sizes in the message."""
    with pytest.raises(NotebookError, match=r"over the 0\.0 MB limit"):
        notebook_parse(notebook_bytes("Big"), name="big.ipynb", max_bytes=10)


def _notebook_with(markdown: str, html_output: str) -> bytes:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(markdown),
            nbformat.v4.new_code_cell(
                "display()",
                outputs=[
                    nbformat.v4.new_output("display_data", data={"text/html": html_output}),
                    nbformat.v4.new_output(
                        "display_data", data={"image/svg+xml": '<svg onload="alert(3)"><circle r="4"/></svg>'}
                    ),
                    nbformat.v4.new_output("display_data", data={"application/javascript": "alert(4)"}),
                ],
            ),
        ]
    )
    return nbformat.writes(nb).encode()


def test_preview_keeps_content_but_no_script() -> None:
    """Script, event handlers, javascript: links and inline SVG never reach the preview."""
    raw = _notebook_with(
        '# Title\n\n<img src="x" onerror="alert(1)"> [click](javascript:alert(2)) <a href="data:text/html,x">d</a>',
        "<b>kept</b><script>alert(5)</script><iframe src='https://evil.example'></iframe>",
    )
    html = notebook_render(node=notebook_parse(raw, name="x.ipynb", max_bytes=LIMIT).node).html
    lowered = html.lower()
    for bad in ("<script", "onerror", "onload", "<iframe", "<svg", "data:text/html", "alert(4)"):
        assert bad not in lowered, bad
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", lowered)  # at most left as text
    assert "<b>kept</b>" in html
    assert 'src="data:image/svg+xml;base64,' in html  # the figure still shows, as an image


def test_relative_images_resolve_to_portal_files() -> None:
    """A Markdown image next to the notebook points at the portal's file URL."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# T\n\n![tree](images/tree.svg)\n\n[next](1-Next.ipynb)")]
    )
    parsed = notebook_parse(nbformat.writes(nb).encode(), name="0-T.ipynb", max_bytes=LIMIT)
    resolver = relative_resolver(
        targets={
            "images/tree.svg": "/workshops/w/files/images/tree.svg",
            "1-Next.ipynb": "/workshops/w/notebooks/1-Next.ipynb",
        },
        notebook_dir="",
    )
    html = notebook_render(node=parsed.node, resolve_src=resolver).html
    assert 'src="/workshops/w/files/images/tree.svg"' in html
    assert 'href="/workshops/w/notebooks/1-Next.ipynb"' in html


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_a_notebook_or_a_notebook_error(raw: bytes) -> None:
    """No input makes the parser fail with anything but NotebookError."""
    with contextlib.suppress(NotebookError):
        notebook_parse(raw, name="fuzz.ipynb", max_bytes=LIMIT)


# --- what JupyterLab opens, the catalog publishes -------------------------------------------

CASES = Path(__file__).resolve().parents[1] / "data" / "cases" / "content"


def _nb_dict(*cells: dict, minor: int = 5) -> dict:
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": list(cells)}


def test_markdown_cell_with_outputs_is_repaired_with_a_warning() -> None:
    """A Markdown cell left with outputs/execution_count (VS Code) opens in JupyterLab: repaired, warned."""
    raw = (CASES / "markdown-cell-with-outputs" / "vscode-edited" / "1-Basics.ipynb").read_bytes()
    parsed = notebook_parse(raw, name="1-Basics.ipynb", max_bytes=LIMIT)
    assert parsed.title == "Basics" and parsed.changed
    markdown = parsed.node.cells[1]
    assert "outputs" not in markdown and "execution_count" not in markdown
    assert parsed.node.cells[2].outputs[0].text == "hello\n"  # the code cell keeps its output
    [warning] = parsed.warnings
    assert warning.file == "1-Basics.ipynb" and "execution_count, outputs on Markdown cells" in warning.message
    nbformat.validate(nbformat.reads(nbformat.writes(parsed.node), as_version=4))  # what is published is valid


def test_missing_and_duplicate_cell_ids_are_repaired_by_nbformat() -> None:
    """nbformat's normalize() gives cells with a missing or repeated id new ones; the notebook publishes."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# A"},
        {"cell_type": "markdown", "id": "x", "metadata": {}, "source": "## B"},
        {"cell_type": "markdown", "id": "x", "metadata": {}, "source": "## C"},
    ]
    parsed = notebook_parse(json.dumps(_nb_dict(*cells)).encode(), name="ids.ipynb", max_bytes=LIMIT)
    ids = [c.id for c in parsed.node.cells]
    assert len(set(ids)) == 3 and ids[1] == "x"
    assert [w.message for w in parsed.warnings] == ["repaired: 2 cell(s) had a missing or duplicate id"]


def test_invalid_metadata_and_stray_fields_are_stripped() -> None:
    """Metadata of the wrong type and fields a cell type does not have are dropped as Jupyter drops them."""
    cells = [
        {"cell_type": "code", "id": "c", "metadata": {"collapsed": "yes"}, "source": "1", "outputs": [],
         "execution_count": None, "attachments": {}},
        {"cell_type": "raw", "id": "r", "metadata": {}, "source": "raw", "outputs": []},
    ]  # fmt: skip
    data = _nb_dict(*cells)
    data["metadata"] = {"kernelspec": {"name": 3}}
    data["widgets_state_of_an_old_tool"] = {}
    parsed = notebook_parse(json.dumps(data).encode(), name="meta.ipynb", max_bytes=LIMIT)
    assert "collapsed" not in parsed.node.cells[0].metadata and "attachments" not in parsed.node.cells[0]
    messages = " / ".join(w.message for w in parsed.warnings)
    assert "invalid metadata was removed" in messages and "outputs on Raw cells" in messages
    assert "notebook field 'widgets_state_of_an_old_tool'" in messages


def test_a_valid_notebook_is_published_as_committed() -> None:
    """Nothing to repair and no template: no warning, and the committed bytes are what is published."""
    parsed = notebook_parse(notebook_bytes("Clean", "Part"), name="a.ipynb", max_bytes=LIMIT)
    assert parsed.warnings == [] and not parsed.changed


def test_template_notebook_is_rendered_before_its_outline_is_read() -> None:
    """In a template workshop, headings, code and outputs are rendered; the outline never shows `{{`."""
    raw = (CASES / "wod-templates" / "WKSHP-Branded101" / "0-ReadMeFirst.ipynb").read_bytes()
    parsed = notebook_parse(
        raw, name="0.ipynb", max_bytes=LIMIT, templates=True, template_values={"BRANDINGWOD": "HPE Developer"}
    )
    assert parsed.title == "Welcome to the HPE Developer"
    assert [h.text for h in parsed.headings] == ["Welcome to the HPE Developer", "Challenge overview"]
    source = parsed.node.cells[0].source
    assert "{{" not in source and "{%" not in source and "‹BRANDINGLOGO›" in source
    assert parsed.placeholders == {"BRANDINGLOGO", "SURVEYURL"} and parsed.changed
    html = notebook_render(node=parsed.node).html
    assert "{{" not in html and "{%" not in html and "HPE Developer" in html


def test_notebooks_of_other_workshops_keep_their_braces() -> None:
    """Outside template workshops, `{{ item }}` is content (an Ansible playbook): shown as JupyterLab shows it."""
    code = 'msg: "{{ item.name }}"'
    raw = notebook_bytes("Ansible", code=code)
    parsed = notebook_parse(raw, name="a.ipynb", max_bytes=LIMIT)
    assert parsed.node.cells[-1].source == code and not parsed.changed


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
CELL_KEYS = st.sampled_from(["cell_type", "id", "metadata", "source", "outputs", "execution_count", "attachments"])


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(CELL_KEYS, JSON | st.sampled_from(["markdown", "code", "raw"]), max_size=7),
    st.sampled_from([0, 4, 5, "5", None]),
    JSON,
)
def test_any_nbformat_4_shaped_json_gives_a_notebook_or_a_reason(cell: dict, minor, metadata) -> None:
    """Documents far from the schema (odd ids, types, shapes) never crash the reading: repaired or refused."""
    data = {"nbformat": 4, "nbformat_minor": minor, "metadata": metadata, "cells": [cell, dict(cell)]}
    with contextlib.suppress(NotebookError):
        parsed = notebook_parse(json.dumps(data).encode(), name="f.ipynb", max_bytes=LIMIT)
        nbformat.validate(parsed.node)  # what is published is valid


def test_what_a_template_may_add_to_a_notebook_is_bounded() -> None:
    """Thousands of tags each filled with a long value cannot blow a notebook up: growth is capped, with a warning."""
    value = "x" * 20_000
    cells = [nbformat.v4.new_markdown_cell("{{ BIG }} " * 1000) for _ in range(40)]  # would add 800 MB
    raw = nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()
    started = time.monotonic()
    parsed = notebook_parse(raw, name="big.ipynb", max_bytes=10**7, templates=True, template_values={"BIG": value})
    assert time.monotonic() - started < 30
    size = sum(len(c.source) for c in parsed.node.cells)
    assert size < len(raw) + TEMPLATE_GROWTH_CHARS + 100_000
    assert "{{" not in parsed.node.cells[-1].source and "‹BIG›" in parsed.node.cells[-1].source
    assert any("output over" in w.message for w in parsed.warnings)

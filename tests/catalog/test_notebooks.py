"""Notebook checks and previews: clear reasons for bad notebooks, nothing runnable in previews."""

from __future__ import annotations

import contextlib
import json
import re

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.notebooks import NotebookError, notebook_parse
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

"""Previews render as JupyterLab shows notebooks: maths, colours, raw cells, attachments, widgets,
headings that the outline can reach, and a budget that keeps one notebook from stopping a sync.

The inputs under tests/data/cases/ are copies of the shared content cases (their README says
what a reader expects).
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.notebooks import notebook_parse
from catalog.render import WIDGET_PLACEHOLDER, RenderBudget, notebook_render
from catalog.render_pool import RenderJob, notebooks_render
from catalog.sanitize import ID_PREFIX, relative_resolver

CASES = Path(__file__).resolve().parent.parent / "data" / "cases"
CSS = Path(__file__).resolve().parents[2] / "catalog" / "static" / "catalog" / "notebook.css"
LIMIT = 10_000_000


def _case(path: str) -> Any:
    """Return the checked node of a case notebook."""
    return notebook_parse((CASES / path).read_bytes(), name=path, max_bytes=LIMIT).node


def _node(*cells: Any, metadata: dict | None = None) -> Any:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata.update(metadata or {})
    return notebook_parse(nbformat.writes(nb).encode(), name="t.ipynb", max_bytes=LIMIT).node


def _md(source: str, **kwargs: Any) -> Any:
    return nbformat.v4.new_markdown_cell(source, **kwargs)


class _Page(HTMLParser):
    """The elements of a preview as a browser parses them: ids, links, text by tag."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
        if tag == "a" and attributes.get("name"):
            self.ids.append(str(attributes["name"]))
        if tag == "a" and attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))


# --- maths --------------------------------------------------------------------------------


def test_maths_typeset_as_mathml_where_jupyterlab_typesets_it() -> None:
    """$...$, $$...$$ and LaTeX environments become MathML; no TeX delimiter is left in the text."""
    html = notebook_render(node=_case("math/math/0-Math.ipynb")).html
    assert html.count("<math") == 3
    assert '<math display="inline"><mrow><msubsup><mi>x</mi>' in html  # $x_{i}^{2}$
    assert "<mi>a</mi><mo>*</mo><mi>b</mi><mo>*</mo><mi>c</mi>" in html  # $a*b*c$: no emphasis
    assert '<math display="block"><mrow><munderover><mo>∑</mo>' in html and "<mfrac>" in html
    assert "$" not in re.sub(r"<[^>]+>", "", html)

    envs = notebook_render(
        node=_node(
            _md("\\begin{equation}\nE = mc^2\n\\end{equation}"),
            _md("\\begin{align}\na &= b + c \\\\\nd &= e\n\\end{align}"),
        )
    ).html
    assert envs.count('<math display="block">') == 2
    assert "<msup><mi>c</mi><mn>2</mn></msup>" in envs and "<mtable" in envs


def test_dollar_signs_in_prose_stay_prose() -> None:
    """Prices and shell variables are not maths (dollarmath's rules, as markdown-it in JupyterLab)."""
    html = notebook_render(
        node=_node(_md("A server costs $5 and a rack $10 a month.\n\nRun `echo $HOME` or echo $PATH and $ USER $."))
    ).html
    assert "<math" not in html
    assert "A server costs $5 and a rack $10 a month." in html
    assert "echo $PATH and $ USER $." in html


def test_tex_that_cannot_be_typeset_stays_readable_as_code() -> None:
    """Broken or unknown TeX is shown as its source in <code>, never as broken markup."""
    html = notebook_render(node=_node(_md("Broken $\\frac{1}{$ and unknown $\\foobar{x}$ here."))).html
    assert '<code class="tex-source"' in html
    assert "$\\frac{1}{$" in html and "$\\foobar{x}$" in html
    assert "<math" not in html


def test_mathml_passes_the_sanitiser_but_script_does_not() -> None:
    """MathML is allow-listed element by element: no script, no href, no HTML smuggled inside."""
    html = notebook_render(
        node=_node(
            _md(
                '<math><mi href="javascript:alert(1)">x</mi><mtext><img src=x onerror="alert(2)"></mtext>'
                '<annotation-xml encoding="text/html"><script>alert(3)</script></annotation-xml></math>'
            )
        )
    ).html
    assert "<math><mi>x</mi>" in html
    for bad in ("javascript:", "onerror", "alert(", "annotation-xml", "<script"):
        assert bad not in html, bad


# --- ANSI ---------------------------------------------------------------------------------


def test_ansi_colours_reach_the_page_with_jupyterlab_colours() -> None:
    """Streams and tracebacks keep their colours: classes in the HTML, each one styled in notebook.css."""
    html = notebook_render(node=_case("ansi-colours/ansi/0-Ansi.ipynb")).html
    assert '<span class="ansi-green-fg">Green</span>' in html
    assert '<span class="ansi-red-intense-fg ansi-bold">bold red</span>' in html  # bold = bright, as in JupyterLab
    assert 'style="color: rgb(255, 135, 0)"' in html  # 256-colour
    assert 'style="color: rgb(10, 120, 200)"' in html  # true colour
    assert "\x1b" not in html and "[0;31m" not in html
    traceback = html[html.index('class="output_area output_error"') :]
    assert '<span class="ansi-red-fg">ConnectionError</span>' in traceback
    assert '<span class="ansi-green-fg">----&gt; 1</span>' in traceback
    css = CSS.read_text()
    for used in set(re.findall(r"ansi-[a-z-]+", html)):
        assert f".{used} {{" in css, used
    assert ".nb-preview .ansi-red-fg { color: #e75c58; }" in css  # JupyterLab's palette
    assert ".nb-preview .output_stderr, .nb-preview .output_error { background: #fdd; }" in css


# --- raw cells ----------------------------------------------------------------------------


def test_raw_cells_are_plain_text_blocks_each_its_own() -> None:
    """Raw cells are shown as written, one block each: never HTML, never dropped, never run together."""
    html = notebook_render(
        node=_node(
            _md("# Title"),
            nbformat.v4.new_raw_cell("<b>not bold</b>\n# not a heading"),
            nbformat.v4.new_raw_cell("\\section{LaTeX raw}", metadata={"raw_mimetype": "text/latex"}),
            nbformat.v4.new_raw_cell("<script>alert(1)</script>", metadata={"raw_mimetype": "text/html"}),
        )
    ).html
    blocks = re.findall(r'<div class="cell raw_cell"><pre class="raw">(.*?)</pre></div>', html, re.S)
    assert blocks == [
        "&lt;b&gt;not bold&lt;/b&gt;\n# not a heading",
        "\\section{LaTeX raw}",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ]
    assert "<b>" not in html and "<script" not in html


# --- attachments --------------------------------------------------------------------------

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4IScHRwzEcQCxYxBBO0tjggAAAABJRU5ErkJggg=="


def test_attachments_show_from_markdown_and_html_img() -> None:
    """attachment:name images show wherever they are referenced, each cell with its own attachments."""
    html = notebook_render(node=_case("attachment-in-html-img/attachments/0-Attachments.ipynb")).html
    images = [attrs for tag, attrs in _Page(html).tags if tag == "img"]
    assert [(i["alt"], i["src"]) for i in images] == [
        ("pasted screenshot", f"data:image/png;base64,{PIXEL}"),
        ("resized screenshot", f"data:image/png;base64,{PIXEL}"),
    ]
    assert images[1]["width"] == "40"

    gif = "R0lGODlhAQABAAAAACw="
    per_cell = notebook_render(
        node=_node(
            _md("![a](attachment:image.png)", attachments={"image.png": {"image/png": PIXEL}}),
            _md("![b](attachment:image.png)", attachments={"image.png": {"image/gif": gif}}),
            _md('<img src="attachment:missing.png" alt="gone"> [link](attachment:image.png)'),
        )
    ).html
    srcs = {attrs["alt"]: attrs.get("src") for tag, attrs in _Page(per_cell).tags if tag == "img"}
    assert srcs == {"a": f"data:image/png;base64,{PIXEL}", "b": f"data:image/gif;base64,{gif}", "gone": None}
    assert "attachment:" not in per_cell  # no dead attachment: URL, no data: link


# --- widgets ------------------------------------------------------------------------------


def test_widget_with_saved_state_shows_its_value() -> None:
    """A widget whose state was saved shows its label and value, and says it is interactive in JupyterLab."""
    html = notebook_render(node=_case("widget-outputs/widgets-state/0-Widgets.ipynb")).html
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"Servers\s+7\s+\(0 to 100\)", text)
    assert 'style="width: 7%"' in html  # the slider's position
    assert WIDGET_PLACEHOLDER in text
    assert "IntSlider(value=7" not in html


def test_widget_without_state_is_a_clear_placeholder() -> None:
    """Without saved state the reader is told where the widget runs, never shown its bare repr."""
    html = notebook_render(node=_case("widget-outputs/widgets-nostate/0-Widgets.ipynb")).html
    assert f"<strong>{WIDGET_PLACEHOLDER}</strong> (IntSlider)" in html
    assert "IntSlider(value=7" not in html


def test_widget_containers_dropdowns_and_output_widgets_render_from_state() -> None:
    """Boxes show their children; dropdowns their choice; Output widgets their saved outputs; passwords nothing."""
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_dd", "IPY_MODEL_out", "IPY_MODEL_pw"]}},
        "dd": {"model_name": "DropdownModel", "state": {"_options_labels": ["iLO 5", "iLO 6"], "index": 1}},
        "out": {
            "model_name": "OutputModel",
            "state": {"outputs": [{"output_type": "stream", "name": "stdout", "text": "logged in\n"}]},
        },
        "pw": {"model_name": "PasswordModel", "state": {"value": "s3cret", "description": "Password"}},
    }
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "box", "version_major": 2}}
    html = notebook_render(
        node=_node(
            nbformat.v4.new_code_cell("ui", outputs=[nbformat.v4.new_output("display_data", data=view)]),
            metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}},
        )
    ).html
    assert '<span class="widget-value">iLO 6</span>' in html
    assert "<pre>logged in\n</pre>" in html
    assert "s3cret" not in html


# --- headings -----------------------------------------------------------------------------


def test_outline_is_plain_text_and_every_link_lands_on_an_anchor() -> None:
    """Outline entries carry no Markdown, tags or entities; each anchor exists in the preview, once."""
    rendered = notebook_render(
        node=_node(
            _md("# [Redfish](https://redfish.dmtf.org) **basics** with `curl`"),
            _md("## <span style='color:red'>Log</span>&nbsp;in"),
            _md("## Café — ¿qué pasa? (v2.0)"),
            _md("## Setup\n\ntext\n\n## Setup"),
            _md("## Cost of $x^2$"),
        )
    )
    texts = [h.text for h in rendered.headings]
    assert texts == [
        "Redfish basics with curl",
        "Log in",
        "Café — ¿qué pasa? (v2.0)",
        "Setup",
        "Setup",
        "Cost of $x^2$",
    ]
    anchors = [h.anchor for h in rendered.headings]
    # JupyterLab's ids: spaces to dashes, every other character kept; repeats made unique.
    assert anchors == [
        f"{ID_PREFIX}Redfish-basics-with-curl",
        f"{ID_PREFIX}Log-in",
        f"{ID_PREFIX}Café-—-¿qué-pasa?-(v2.0)",
        f"{ID_PREFIX}Setup",
        f"{ID_PREFIX}Setup-1",
        f"{ID_PREFIX}Cost-of-$x^2$",
    ]
    ids = _Page(rendered.html).ids
    assert all(ids.count(a) == 1 for a in anchors)


def test_notebook_anchors_and_fragment_links_keep_working_namespaced() -> None:
    """A notebook's own <a id>/<a name> targets and #links to them and to headings still meet,
    under a prefix that can never clash with the page's own ids (#preview, #notebooks...)."""
    html = notebook_render(
        node=_node(
            _md('<a id="preview"></a>\n\n## Step one\n\n<a name="old-style"></a>'),
            _md("[top](#preview), [old](#old-style), [step](#Step-one), [next](1-Next.ipynb#Setup)"),
        ),
        resolve_src=relative_resolver(targets={"1-Next.ipynb": "/workshops/w/notebooks/1-Next.ipynb"}, notebook_dir=""),
    ).html
    page = _Page(html)
    assert {"nb-preview", "nb-old-style", "nb-Step-one"} <= set(page.ids)
    assert all(i.startswith(ID_PREFIX) for i in page.ids)
    assert {"#nb-preview", "#nb-old-style", "#nb-Step-one", "/workshops/w/notebooks/1-Next.ipynb#nb-Setup"} <= set(
        page.hrefs
    )


def test_title_is_plain_text() -> None:
    """The title (first level-1 heading) carries no Markdown link syntax either."""
    nb = nbformat.v4.new_notebook(cells=[_md("# [iLO](https://hpe.com) *REST* API")])
    parsed = notebook_parse(nbformat.writes(nb).encode(), name="t.ipynb", max_bytes=LIMIT)
    assert parsed.title == "iLO REST API"


_odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    | st.sampled_from(list("  #*_`[]()<>&;$\\\"'-")),
    min_size=1,
    max_size=30,
)


@st.composite
def _markdown_cell(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["heading", "link", "anchor", "html_heading", "text", "repeat"]))
        text = draw(_odd_text).replace("\n", " ")
        if kind == "heading":
            parts.append(f"{'#' * draw(st.integers(1, 6))} {text}")
        elif kind == "repeat":
            parts.append(f"## {text}\n\n## {text}")
        elif kind == "link":
            parts.append(f"[{text}](#{text.replace(' ', '-')})")
        elif kind == "anchor":
            parts.append(f'<a id="{text}"></a>')
        elif kind == "html_heading":
            parts.append(f"<h2>{text}</h2>")
        else:
            parts.append(text)
    return "\n\n".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_markdown_cell(), min_size=1, max_size=6))
def test_generated_notebooks_render_and_every_outline_link_lands(sources: list[str]) -> None:
    """Whatever the headings, links and anchors, rendering does not fail, every outline anchor is an
    id of the preview exactly once, and every id is namespaced away from the page's."""
    rendered = notebook_render(node=_node(*[_md(s) for s in sources]))
    ids = _Page(rendered.html).ids
    for heading in rendered.headings:
        assert heading.text and heading.text == heading.text.strip()
        assert "\n" not in heading.text
        assert ids.count(heading.anchor) == 1, (heading, ids)
    assert all(i.startswith(ID_PREFIX) for i in ids)
    assert len({h.anchor for h in rendered.headings}) == len(rendered.headings)


# --- budget -------------------------------------------------------------------------------


def test_too_many_cells_are_cut_with_a_notice() -> None:
    """Past the cell budget the preview stops, says so at the top and at the cut, and the outline stops too."""
    cells = [_md(f"## Step {i}") for i in range(30)]
    rendered = notebook_render(node=_node(*cells), budget=RenderBudget(max_cells=10))
    assert rendered.html.count('class="cell text_cell"') == 10
    assert len(rendered.headings) == 10
    notice = "This preview shows the first 10 of 30 cells; download the notebook to read the rest."
    assert rendered.notices == [notice]
    assert rendered.html.startswith(f'<div class="render-notice" role="note">{notice}</div>')
    assert rendered.html.endswith(f'<div class="render-notice" role="note">{notice}</div>')


def test_outputs_over_budget_are_left_out_or_cut() -> None:
    """Outputs past the count or byte budget are replaced by a notice; a long text output is cut."""
    code = nbformat.v4.new_code_cell
    stream = nbformat.v4.new_output
    node = _node(
        code("a", outputs=[stream("stream", name="stdout", text="x" * 5_000)]),
        code("b", outputs=[stream("execute_result", data={"text/plain": "small"}, execution_count=1)]),
        code("c", outputs=[stream("execute_result", data={"text/plain": "y" * 9_000}, execution_count=2)]),
    )
    rendered = notebook_render(
        node=node, budget=RenderBudget(max_text_output_chars=1_000, max_output_bytes=10_000, max_outputs=10)
    )
    assert "x" * 1_000 in rendered.html and "x" * 1_001 not in rendered.html
    assert "Output cut here: 4 KB more not shown" in rendered.html
    assert "small" in rendered.html
    assert "y" * 100 not in rendered.html
    assert "Output not shown in the preview (over its size budget)" in rendered.html
    assert rendered.notices == ["1 outputs are not shown: over the preview's budget of 10 outputs or 0 MB of output."]


def test_slow_rendering_stops_at_the_deadline() -> None:
    """A notebook still rendering at the soft deadline is cut where it got to, with a notice."""
    ticks = iter(range(1_000))
    rendered = notebook_render(
        node=_node(*[_md(f"cell {i}") for i in range(20)]),
        budget=RenderBudget(seconds=5),
        clock=lambda: float(next(ticks)),  # one second per look at the clock
    )
    assert rendered.html.count('class="cell text_cell"') == 5  # the clock read 1..5 before them
    assert "This preview stops after 5 of 20 cells: the rest took too long to render." in rendered.notices[0]


def test_notebooks_render_in_parallel_processes_in_order() -> None:
    """The pool returns one preview per notebook, in the order given, rendered in other processes."""
    jobs = [RenderJob(name=f"{i}.ipynb", node=_node(_md(f"# Part {i}"))) for i in range(6)]
    rendered = notebooks_render(jobs=jobs)
    assert [r.headings[0].text for r in rendered] == [f"Part {i}" for i in range(6)]


def _dict_node(cells: list[dict]) -> dict:
    """Return a notebook as the parser hands it over, without validating thousands of cells first."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def test_a_notebook_over_the_hard_time_limit_is_killed_and_the_others_render() -> None:
    """Rendering past hard_seconds kills that notebook's process; its preview says why; the rest go on."""
    cell = {"cell_type": "markdown", "metadata": {}, "source": "## Heading with $x_i^2$ maths\n\n" + "word " * 50}
    huge = _dict_node([cell] * 30_000)  # about 2 MB of JSON: under the byte limit, minutes to render
    budget = RenderBudget(max_cells=100_000, seconds=600, hard_seconds=1.0)
    started = time.monotonic()
    big, small = notebooks_render(
        jobs=[RenderJob(name="huge.ipynb", node=huge), RenderJob(name="small.ipynb", node=_node(_md("# Fine")))],
        budget=budget,
    )
    assert time.monotonic() - started < 15
    assert big.notices == [
        "No preview: rendering took longer than 1 s and was stopped. Download the notebook to open it in JupyterLab."
    ]
    assert big.headings == [] and "took longer than 1 s" in big.html
    assert small.headings[0].text == "Fine"
    # The pool replaced the killed worker: it still renders.
    assert notebooks_render(jobs=[RenderJob(name="again.ipynb", node=_node(_md("# Again")))], budget=budget)[0].headings


def test_a_notebook_over_the_memory_limit_is_stopped_and_the_others_render() -> None:
    """Rendering that needs more memory than the budget fails that notebook alone, with a notice."""
    # 2 MB of emphasis: under the byte limit, but a Markdown token (hundreds of bytes) for each word.
    heavy = _dict_node([{"cell_type": "markdown", "metadata": {}, "source": "*a* " * 500_000}])
    budget = RenderBudget(memory_bytes=48 * 2**20)
    heavy_result, light = notebooks_render(
        jobs=[RenderJob(name="heavy.ipynb", node=heavy), RenderJob(name="light.ipynb", node=_node(_md("# Light")))],
        budget=budget,
    )
    assert heavy_result.headings == []
    assert heavy_result.notices == [
        "No preview: rendering needed more than 48 MB of memory and was stopped. "
        "Download the notebook to open it in JupyterLab."
    ]
    assert light.headings[0].text == "Light"


@pytest.mark.parametrize("kind", ["markdown", "code", "raw"])
def test_odd_cells_render_as_text_not_errors(kind: str) -> None:
    """Empty sources, odd output types and unknown MIME types do not break a preview."""
    cell = {
        "markdown": _md(""),
        "code": nbformat.v4.new_code_cell(
            "", outputs=[nbformat.v4.new_output("display_data", data={"application/x-unknown": "?"})]
        ),
        "raw": nbformat.v4.new_raw_cell(""),
    }[kind]
    rendered = notebook_render(node=_node(cell))
    assert rendered.html.startswith('<div class="cell ')


def _render_in_celery_child() -> list[str]:
    """Render through the pool from inside a daemonic billiard process (a Celery prefork child)."""
    jobs = [
        RenderJob(name=f"{i}.ipynb", node=_dict_node([{"cell_type": "markdown", "metadata": {}, "source": f"# P{i}"}]))
        for i in range(3)
    ]
    return [r.headings[0].text if r.headings else r.notices[0] for r in notebooks_render(jobs=jobs)]


def test_rendering_works_inside_a_celery_prefork_worker() -> None:
    """Celery's prefork children are daemonic; the standard library forbids them children, billiard does not."""
    import billiard

    with billiard.Pool(1) as pool:
        assert pool.apply(_render_in_celery_child) == ["P0", "P1", "P2"]


# --- through a sync, as a reader sees the pages ------------------------------------------------


def _case_repo(content_repo: Any, *cases: str) -> None:
    """Put case folders (each holding workshop folders) into the content repository and commit."""
    for case in cases:
        for path in sorted((CASES / case).rglob("*")):
            if path.is_file():
                content_repo.write(str(path.relative_to(CASES / case)), path.read_bytes())
    content_repo.commit("cases")


@pytest.mark.django_db
def test_synced_cases_read_as_in_jupyterlab(client: Any, content_repo: Any) -> None:
    """Each case's preview page shows what JupyterLab shows, and every outline link lands on the page."""
    from catalog.sync import catalog_sync

    _case_repo(content_repo, "math", "ansi-colours", "attachment-in-html-img", "widget-outputs")
    run = catalog_sync()
    assert run.status == "ok", run.report
    pages = {
        slug: client.get(f"/workshops/{slug}/notebooks/{name}").content.decode()
        for slug, name in [
            ("math", "0-Math.ipynb"),
            ("ansi", "0-Ansi.ipynb"),
            ("attachments", "0-Attachments.ipynb"),
            ("widgets-state", "0-Widgets.ipynb"),
            ("widgets-nostate", "0-Widgets.ipynb"),
        ]
    }
    assert pages["math"].count("<math") == 3
    assert '<span class="ansi-green-fg">Green</span>' in pages["ansi"]
    assert pages["attachments"].count('src="data:image/png;base64,') == 2
    assert re.search(r"Servers</span>.*<span class=\"widget-value\">7</span>", pages["widgets-state"])
    assert WIDGET_PLACEHOLDER in pages["widgets-nostate"] and "IntSlider(value" not in pages["widgets-nostate"]
    for body in pages.values():
        page = _Page(body)
        outline = [h[1:] for h in page.hrefs if h.startswith("#nb-")]
        assert outline and all(page.ids.count(anchor) == 1 for anchor in outline)
        assert "[" not in re.sub(r"(?s).*<ul class=\"outline\">(.*?)</ul>.*", r"\1", body)


@pytest.mark.django_db
def test_an_over_budget_notebook_is_cut_and_the_sync_goes_on(client: Any, content_repo: Any) -> None:
    """A notebook with thousands of cells publishes cut with a notice, and a warning in the sync report;
    the other workshops are published as usual."""
    from catalog.sync import catalog_sync

    cells = [nbformat.v4.new_markdown_cell(f"Step {i}") for i in range(RenderBudget().max_cells + 500)]
    content_repo.write("big/0-Big.ipynb", nbformat.writes(nbformat.v4.new_notebook(cells=cells)))
    content_repo.add_workshop("small", notebooks=1)
    content_repo.commit("big and small")
    run = catalog_sync()
    assert run.status == "ok"
    assert sorted(run.report["added"]) == ["big", "small"]
    notice = "This preview shows the first 2,000 of 2,500 cells; download the notebook to read the rest."
    assert run.report["warnings"]["big"] == [f"0-Big.ipynb: {notice}"]
    body = client.get("/workshops/big/notebooks/0-Big.ipynb").content.decode()
    assert body.count(notice) == 2  # at the top and where it stops
    assert "Step 1999" in body and "Step 2000" not in body

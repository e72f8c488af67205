"""Render a notebook to preview HTML as JupyterLab shows it (pure: a notebook node in, HTML out).

- Markdown cells: markdown-it (CommonMark, tables, strikethrough, raw HTML) with the
  dollarmath and amsmath rules of mdit-py-plugins; TeX becomes MathML here, at sync time,
  because the page's Content-Security-Policy runs no script. Dollar signs follow the
  dollarmath (Pandoc) rules: `$5 and $10` stays prose.
- Each cell is sanitised on its own, with its own attachments (`attachment:name` images in
  Markdown or in HTML become data: URIs) and an unclosed tag cannot swallow the next cell.
- Outputs: the richest MIME type JupyterLab would show; ANSI escapes become nbconvert's
  `ansi-*` classes (styled in notebook.css); widgets show their saved state or a placeholder.
- Raw cells: plain text, each its own block, never HTML.
- Headings: plain text for the outline and JupyterLab's id (spaces become dashes, every
  other character kept), made unique in the notebook; the sanitiser namespaces every id.
- A budget bounds cells, outputs and output bytes, and a deadline bounds time: what is over
  is cut with a notice in the preview. Memory and the hard time limit are the caller's
  (render_pool runs this in a child process it can kill).
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import latex2mathml.converter
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from catalog.ansi import ansi_to_html, carriage_returns_apply
from catalog.sanitize import SrcResolver, html_sanitize, id_namespaced

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_PLACEHOLDER = "Interactive widget: runs in JupyterLab"

# JupyterLab's order of preference among the types a preview can show safely (its
# rendermime ranks); JavaScript never runs here, inline SVG is shown as an image.
_MIME_ORDER = (
    "text/html",
    "text/markdown",
    "text/latex",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "application/json",
    "text/plain",
)
_MAX_TEX_CHARS = 5_000  # longer formulas are shown as TeX source
_MAX_MATHML_CHARS = 200_000  # a short macro can expand a lot
_MAX_HEADING_CHARS = 200
_MAX_WIDGET_DEPTH = 8
_MAX_WIDGET_CHILDREN = 50


@dataclass(frozen=True)
class RenderBudget:
    """What one notebook's preview may cost; beyond it the preview is cut with a notice.

    Counts and bytes are checked while rendering; seconds is a soft deadline checked per
    cell (render_pool kills the process at hard_seconds and bounds memory_bytes).
    """

    max_cells: int = 2_000
    max_outputs: int = 2_000
    max_output_bytes: int = 8 * 1024 * 1024  # output data shown, all outputs together
    max_text_output_chars: int = 200_000  # one stream or text output; the rest is cut
    seconds: float = 20.0
    hard_seconds: float = 30.0
    memory_bytes: int = 1024 * 1024 * 1024  # address space a rendering process may add


@dataclass(frozen=True)
class OutlineHeading:
    """One heading of a preview: level 1-6, plain text, and the id it has in the preview HTML."""

    level: int
    text: str
    anchor: str


@dataclass
class RenderedNotebook:
    """A notebook's preview: sanitised HTML, its outline, and what was cut (for the sync report)."""

    html: str
    headings: list[OutlineHeading] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


# --- maths ------------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def tex_to_mathml(tex: str, *, display: bool) -> str:
    """Return MathML for TeX, or the TeX as code when it cannot be converted (never broken markup)."""
    tex = tex.strip()
    shown = f"$${tex}$$" if display else f"${tex}$"
    fallback = f'<code class="tex-source" title="TeX that could not be typeset">{html.escape(shown)}</code>'
    if not tex or len(tex) > _MAX_TEX_CHARS:
        return fallback
    try:
        mathml = latex2mathml.converter.convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds (and RecursionError) on bad TeX
        return fallback
    # An unknown command comes out as its own name in <mi>: show the TeX instead.
    if len(mathml) > _MAX_MATHML_CHARS or re.search(r"<mi>\\[A-Za-z]+</mi>", mathml):
        return fallback
    return mathml


def _math_renderer(content: str, options: dict[str, Any]) -> str:
    """Render dollarmath content ($...$ inline, $$...$$ display)."""
    return tex_to_mathml(content, display=bool(options.get("display_mode")))


def _amsmath_renderer(content: str) -> str:
    """Render a top-level LaTeX environment (\\begin{equation} ... \\end{equation})."""
    return tex_to_mathml(content, display=True)


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """Return the Markdown parser of notebook cells (built once): JupyterLab's dialect, maths to MathML."""
    md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])
    # Pandoc's rules, which dollarmath follows: no space inside the dollars, no digit right
    # after the closing one, so prices stay prose; $$...$$ inside a paragraph is display maths.
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        double_inline=True,
        renderer=_math_renderer,
    )
    md.use(amsmath_plugin, renderer=_amsmath_renderer)
    md.add_render_rule("heading_close", _heading_close)
    return md


# --- headings ---------------------------------------------------------------------------


def heading_text(inline: Token | None) -> str:
    """Return a heading's text as a reader sees it: no Markdown syntax, no tags, entities decoded.

    It is the heading's textContent in JupyterLab (TeX kept between its dollars), with
    whitespace runs made single spaces.
    """
    parts: list[str] = []
    for child in (inline.children or []) if inline is not None else []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "math_inline":
            parts.append(f"${child.content}$")
        elif child.type == "math_inline_double":
            parts.append(f"$${child.content}$$")
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())[:_MAX_HEADING_CHARS]


def heading_anchor(text: str) -> str:
    """Return JupyterLab's id for a heading's text: each whitespace character becomes '-', the rest is kept."""
    return re.sub(r"\s", "-", text)


def markdown_headings(source: str) -> list[tuple[int, str]]:
    """List (level, plain text) of the Markdown headings of one cell's source, in order."""
    tokens = markdown_parser().parse(source)
    found = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            text = heading_text(tokens[i + 1] if i + 1 < len(tokens) else None)
            if text:
                found.append((int(token.tag[1]), text))
    return found


_HTML_ID = re.compile(r"""\b(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)


def _html_ids(node: Mapping[str, Any]) -> set[str]:
    """Return the ids (and <a name>s) a notebook's own HTML may carry, in Markdown cells and HTML outputs.

    Generous on purpose: a false match only makes a heading's id take a -1 suffix.
    """
    found: set[str] = set()
    for cell in node.get("cells") or []:
        if not isinstance(cell, Mapping):
            continue
        texts = [_text(cell.get("source"))] if cell.get("cell_type") == "markdown" else []
        for output in cell.get("outputs") or []:
            data = output.get("data") if isinstance(output, Mapping) else None
            if isinstance(data, Mapping) and "text/html" in data:
                texts.append(_text(data["text/html"]))
        for text in texts:
            if "=" in text:
                found.update(
                    html.unescape(next(g for g in m.groups() if g is not None)) for m in _HTML_ID.finditer(text)
                )
    return found


class _Anchors:
    """Heading ids of one notebook: unique (a repeated heading gets -1, -2 as on GitHub), and never
    one of the notebook's own ids, so an outline link always lands on its heading."""

    def __init__(self, taken: set[str]) -> None:
        self.used: set[str] = set(taken)
        self.suffix: dict[str, int] = {}  # the next number to try for a repeated heading

    def claim(self, text: str) -> str:
        base = heading_anchor(text)
        anchor, n = base, self.suffix.get(base, 0)
        if n:
            anchor = f"{base}-{n}"
        while anchor in self.used:
            n += 1
            anchor = f"{base}-{n}"
        self.suffix[base] = n + 1
        self.used.add(anchor)
        return anchor


def _heading_close(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """Close a heading with JupyterLab's ¶ link to it."""
    anchor = tokens[idx].meta.get("anchor")
    link = f'<a class="anchor-link" href="#{html.escape(anchor)}" title="Link to this heading">¶</a>' if anchor else ""
    return f"{link}</{tokens[idx].tag}>\n"


# --- the renderer -----------------------------------------------------------------------


@lru_cache(maxsize=32)
def _lexer(name: str) -> Lexer:
    """Return the Pygments lexer for a kernel language (plain text when unknown)."""
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return TextLexer()


_FORMATTER = HtmlFormatter(cssclass="highlight")


def _text(value: Any) -> str:
    """Return a notebook string field (a string or a list of lines) as one string."""
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def _language(node: Mapping[str, Any]) -> str:
    """Return the Pygments name for the notebook's code (IPython's lexer for Python, as JupyterLab)."""
    metadata = node.get("metadata") or {}
    info = metadata.get("language_info") or {}
    name = ""
    if isinstance(info, Mapping):
        name = str(info.get("pygments_lexer") or info.get("name") or "")
    if not name:
        kernelspec = metadata.get("kernelspec") or {}
        name = str(kernelspec.get("language") or "") if isinstance(kernelspec, Mapping) else ""
    name = name.lower() or "python"
    return "ipython3" if name in ("python", "python3", "ipython") else name


def _size(text: str) -> str:
    """Return a size for a notice: 1.2 MB, 340 KB."""
    n = len(text.encode("utf-8", errors="replace")) if len(text) < 50_000_000 else len(text)
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} KB"


class _Renderer:
    """One notebook's rendering: the budget spent so far, the anchors given, the notices."""

    def __init__(self, node: Mapping[str, Any], resolve_src: SrcResolver | None, budget: RenderBudget) -> None:
        self.node = node
        self.resolve_src = resolve_src
        self.budget = budget
        self.anchors = _Anchors(_html_ids(node))
        self.headings: list[OutlineHeading] = []
        self.notices: list[str] = []
        self.outputs_shown = 0
        self.output_bytes = 0
        self.outputs_omitted = 0
        self.lexer = _lexer(_language(node))
        metadata = node.get("metadata") or {}
        widgets = metadata.get("widgets") if isinstance(metadata, Mapping) else None
        state = widgets.get(WIDGET_STATE) if isinstance(widgets, Mapping) else None
        models = state.get("state") if isinstance(state, Mapping) else None
        self.widget_models: Mapping[str, Any] = models if isinstance(models, Mapping) else {}

    # markdown --------------------------------------------------------------------------

    def markdown(self, source: str, *, attachments: Mapping[str, Any] | None = None, outline: bool = True) -> str:
        """Render Markdown (a cell or an output) to sanitised HTML; headings join the outline."""
        tokens = markdown_parser().parse(source)
        for i, token in enumerate(tokens):
            if token.type != "heading_open":
                continue
            text = heading_text(tokens[i + 1] if i + 1 < len(tokens) else None)
            if not text:
                continue
            anchor = self.anchors.claim(text)
            token.attrSet("id", anchor)
            if i + 2 < len(tokens) and tokens[i + 2].type == "heading_close":  # open, inline, close
                tokens[i + 2].meta["anchor"] = anchor
            if outline:
                self.headings.append(OutlineHeading(int(token.tag[1]), text, id_namespaced(anchor)))
        body = markdown_parser().renderer.render(tokens, markdown_parser().options, {})
        return html_sanitize(body, resolve_src=self.resolve_src, attachments=attachments)

    # outputs ---------------------------------------------------------------------------

    def _spend(self, size: int) -> bool:
        """Count an output against the budget; False when it does not fit."""
        budget = self.budget
        if self.outputs_shown >= budget.max_outputs or self.output_bytes + size > budget.max_output_bytes:
            self.outputs_omitted += 1
            return False
        self.outputs_shown += 1
        self.output_bytes += size
        return True

    def _text_block(self, text: str, classes: str) -> str:
        """Render text output (ANSI colours kept) in a <pre>, cut at the budget's length."""
        limit = self.budget.max_text_output_chars
        cut = ""
        if len(text) > limit:
            cut = (
                f'<p class="render-notice">Output cut here: {_size(text[limit:])} more not shown in the '
                "preview (download the notebook to see it all).</p>"
            )
            text = text[:limit]
        return f'<div class="output_area {classes}"><pre>{ansi_to_html(text)}</pre>{cut}</div>'

    def _image(self, mime: str, data: Any, metadata: Mapping[str, Any]) -> str:
        """Render an image output as a data: URI (inline SVG too: an <img> runs no script)."""
        text = _text(data)
        if mime == "image/svg+xml":
            text = base64.b64encode(text.encode()).decode()
        sizes = metadata.get(mime)
        attrs = ""
        for key in ("width", "height"):
            value = sizes.get(key) if isinstance(sizes, Mapping) else None
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                attrs += f' {key}="{int(value)}"'
        src = html.escape(f"data:{mime};base64,{''.join(text.split())}")
        img = html_sanitize(f'<img src="{src}" alt="output"{attrs}>')
        return f'<div class="output_area output_image">{img}</div>'

    def _data(self, data: Mapping[str, Any], metadata: Mapping[str, Any], depth: int) -> str:
        """Render a display_data / execute_result bundle by JupyterLab's preference."""
        if WIDGET_VIEW in data:
            return self._widget_output(data, depth)
        mime = next((m for m in _MIME_ORDER if m in data), None)
        if mime is None:
            return ""
        value = data[mime]
        if mime == "application/json":
            text = json.dumps(value, indent=2, ensure_ascii=False)[: self.budget.max_text_output_chars]
            if not self._spend(len(text)):
                return self._omitted_one()
            return f'<div class="output_area output_json"><pre>{html.escape(text)}</pre></div>'
        text = _text(value)
        if not self._spend(len(text)):
            return self._omitted_one()
        if mime == "text/html":
            return f'<div class="output_area output_html">{html_sanitize(text, resolve_src=self.resolve_src)}</div>'
        if mime in ("text/markdown", "text/latex"):
            return f'<div class="output_area output_markdown">{self.markdown(text, outline=False)}</div>'
        if mime.startswith("image/"):
            return self._image(mime, value, metadata)
        return self._text_block(text, "output_text")

    def _omitted_one(self) -> str:
        return (
            '<div class="output_area render-omitted">Output not shown in the preview (over its size budget): '
            "download the notebook to see it.</div>"
        )

    def outputs(self, outputs: list[Any], depth: int = 0) -> str:
        """Render a code cell's outputs; consecutive stream outputs of one name are joined, as in JupyterLab."""
        parts: list[str] = []
        stream_name, stream_text = None, []

        def flush() -> None:
            nonlocal stream_name, stream_text
            if stream_name is not None:
                text = carriage_returns_apply("".join(stream_text))
                if self._spend(len(text)):
                    parts.append(self._text_block(text, f"output_stream output_{stream_name}"))
                else:
                    parts.append(self._omitted_one())
            stream_name, stream_text = None, []

        for output in outputs:
            if not isinstance(output, Mapping):
                continue
            kind = output.get("output_type")
            if kind == "stream":
                name = "stderr" if output.get("name") == "stderr" else "stdout"
                if name != stream_name:
                    flush()
                    stream_name = name
                stream_text.append(_text(output.get("text")))
                continue
            flush()
            if kind == "error":
                lines = output.get("traceback") or []
                text = "\n".join(str(line) for line in lines) if isinstance(lines, list) else ""
                text = text or f"{output.get('ename', '')}: {output.get('evalue', '')}"
                parts.append(self._text_block(text, "output_error") if self._spend(len(text)) else self._omitted_one())
            elif kind in ("display_data", "execute_result"):
                data = output.get("data") or {}
                metadata = output.get("metadata") or {}
                if isinstance(data, Mapping):
                    parts.append(self._data(data, metadata if isinstance(metadata, Mapping) else {}, depth))
        flush()
        omitted = self._omitted_one()
        # One notice for a run of left-out outputs, however many there are.
        return "".join(p for i, p in enumerate(parts) if not (p == omitted and i and parts[i - 1] == omitted))

    # widgets ---------------------------------------------------------------------------

    def _widget_output(self, data: Mapping[str, Any], depth: int) -> str:
        """Render a widget view from the notebook's saved widget state, else a clear placeholder."""
        view = data.get(WIDGET_VIEW)
        model_id = str(view.get("model_id", "")) if isinstance(view, Mapping) else ""
        shown = self._widget(model_id, depth)
        if shown is None and "text/html" in data:
            shown = html_sanitize(_text(data["text/html"]), resolve_src=self.resolve_src)
        if shown:
            return (
                f'<div class="output_area output_widget">{shown}<p class="widget-note">{WIDGET_PLACEHOLDER}</p></div>'
            )
        kind = ""
        plain = _text(data.get("text/plain")).strip()
        match = re.match(r"([A-Za-z_][\w.]*)\(", plain)
        if match:
            kind = f" ({html.escape(match.group(1))})"
        return (
            f'<div class="output_area output_widget widget-placeholder" role="note">'
            f"<strong>{WIDGET_PLACEHOLDER}</strong>{kind}</div>"
        )

    def _widget(self, model_id: str, depth: int) -> str | None:
        """Return a static rendering of a saved widget model, or None when it has no simple one."""
        model = self.widget_models.get(model_id)
        if depth > _MAX_WIDGET_DEPTH or not isinstance(model, Mapping):
            return None
        state = model.get("state")
        if not isinstance(state, Mapping):
            return None
        name = str(model.get("model_name", "")).removesuffix("Model")
        esc = html.escape
        label = str(state.get("description") or "")
        label_html = f'<span class="widget-label">{esc(label)}</span> ' if label else ""
        value = state.get("value")

        if name in ("VBox", "HBox", "Box", "GridBox", "Accordion", "Tab", "Stack"):
            children = state.get("children") if isinstance(state.get("children"), list) else []
            shown = [
                self._widget(str(c).removeprefix("IPY_MODEL_"), depth + 1) for c in children[:_MAX_WIDGET_CHILDREN]
            ]
            inner = "".join(f'<div class="widget-child">{s}</div>' for s in shown if s)
            direction = "widget-hbox" if name == "HBox" else "widget-vbox"
            return f'<div class="widget-static {direction}">{inner}</div>' if inner else None
        if name == "Output":
            outputs = state.get("outputs")
            inner = self.outputs(outputs, depth + 1) if isinstance(outputs, list) else ""
            return f'<div class="widget-static widget-output">{inner}</div>' if inner else None
        if name in ("HTML", "HTMLMath"):
            return f'<div class="widget-static">{label_html}{html_sanitize(str(value or ""))}</div>'
        if name == "Label":
            return f'<div class="widget-static"><span class="widget-value">{esc(str(value or ""))}</span></div>'
        if name in ("Button",):
            return f'<div class="widget-static"><span class="widget-button">{esc(label or "Button")}</span></div>'
        if name.endswith(("Slider", "Progress")) and isinstance(value, int | float | list):
            low, high = state.get("min", 0), state.get("max", 100)
            shown_value = "–".join(str(v) for v in value) if isinstance(value, list) else str(value)
            bar = ""
            if isinstance(value, int | float) and isinstance(low, int | float) and isinstance(high, int | float):
                share = 0 if high == low else max(0.0, min(1.0, (value - low) / (high - low)))
                bar = (
                    f'<span class="widget-bar" aria-hidden="true">'
                    f'<span class="widget-bar-fill" style="width: {share * 100:.0f}%"></span></span> '
                )
            return (
                f'<div class="widget-static">{label_html}{bar}<span class="widget-value">{esc(shown_value)}</span>'
                f' <span class="widget-range">({esc(str(low))} to {esc(str(high))})</span></div>'
            )
        if name in ("Dropdown", "Select", "RadioButtons", "ToggleButtons", "SelectionSlider"):
            labels = state.get("_options_labels") or []
            index = state.get("index")
            chosen = (
                labels[index]
                if isinstance(index, int) and isinstance(labels, list) and 0 <= index < len(labels)
                else ""
            )
            return f'<div class="widget-static">{label_html}<span class="widget-value">{esc(str(chosen))}</span></div>'
        if name in ("Checkbox", "ToggleButton", "Valid"):
            mark = "☑" if value else "☐"
            return f'<div class="widget-static"><span class="widget-value">{mark}</span> {esc(label)}</div>'
        if name in ("Text", "Textarea", "IntText", "FloatText", "BoundedIntText", "BoundedFloatText", "Combobox"):
            text = esc(str(value or ""))
            return f'<div class="widget-static">{label_html}<span class="widget-value widget-text">{text}</span></div>'
        return None  # Password, Image, Play, custom widgets...: the placeholder says where it runs

    # cells -----------------------------------------------------------------------------

    def cell(self, cell: Mapping[str, Any]) -> str:
        """Render one cell."""
        kind = cell.get("cell_type")
        source = _text(cell.get("source"))
        if kind == "markdown":
            attachments = cell.get("attachments")
            body = self.markdown(source, attachments=attachments if isinstance(attachments, Mapping) else None)
            return f'<div class="cell text_cell"><div class="text_cell_render">{body}</div></div>'
        if kind == "code":
            code = highlight(source, self.lexer, _FORMATTER) if source else "<pre></pre>"
            outputs = cell.get("outputs")
            rendered = self.outputs(outputs) if isinstance(outputs, list) and outputs else ""
            return f'<div class="cell code_cell"><div class="input_area">{code}</div>{rendered}</div>'
        # Raw cells (and unknown kinds): plain text, as JupyterLab shows them.
        return f'<div class="cell raw_cell"><pre class="raw">{html.escape(source)}</pre></div>'


def _notice(text: str) -> str:
    return f'<div class="render-notice" role="note">{html.escape(text)}</div>'


def notebook_render(
    *,
    node: Mapping[str, Any],
    resolve_src: SrcResolver | None = None,
    budget: RenderBudget | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RenderedNotebook:
    """Render a checked notebook (nbformat 4 node) to sanitised preview HTML and its outline.

    Over the budget (cells, outputs, output bytes, seconds) the preview is cut where the
    budget ran out, with a notice at the top and at the cut; notices lists the same for the
    sync report. Raises nothing for content it does not understand: it shows it as text.
    """
    budget = budget or RenderBudget()
    renderer = _Renderer(node, resolve_src, budget)
    cells = [c for c in node.get("cells") or [] if isinstance(c, Mapping)]
    deadline = clock() + budget.seconds
    parts: list[str] = []
    stopped = ""
    for index, cell in enumerate(cells):
        if index >= budget.max_cells:
            stopped = (
                f"This preview shows the first {index:,} of {len(cells):,} cells; "
                "download the notebook to read the rest."
            )
            break
        if clock() > deadline:
            stopped = (
                f"This preview stops after {index:,} of {len(cells):,} cells: the rest took too long to render. "
                "Download the notebook to read it all."
            )
            break
        parts.append(renderer.cell(cell))
    notices = []
    if stopped:
        notices.append(stopped)
        parts.append(_notice(stopped))
    if renderer.outputs_omitted:
        notices.append(
            f"{renderer.outputs_omitted:,} outputs are not shown: over the preview's budget of "
            f"{budget.max_outputs:,} outputs or {budget.max_output_bytes / 1e6:.0f} MB of output."
        )
    head = "".join(_notice(n) for n in notices)
    return RenderedNotebook(html=head + "".join(parts), headings=renderer.headings, notices=notices)


def notice_render(*, message: str) -> RenderedNotebook:
    """Return the preview of a notebook that could not be rendered: the reason, and where to read it."""
    return RenderedNotebook(html=_notice(message), headings=[], notices=[message])

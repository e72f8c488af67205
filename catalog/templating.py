"""Fill in Workshops-on-Demand templates (`{{ VAR }}`, `{% if %}`, filters) safely (pure: text in, text out).

Workshops-on-Demand notebooks and metadata are Jinja templates that its backend renders per
learner (Ansible's `template` module: trim_blocks on). Content comes from a repository or a
pull request, so it is untrusted: rendering happens in Jinja's immutable sandbox, with only
what such templates use (variables, attribute and item access, `if`, comparisons, tests and
a list of filters that cannot blow up). Loops, assignments, macros, calls, includes and the
like are refused, which leaves no way to repeat work: time grows with the size of the text,
and every value, operation and filter result is bounded, as is the whole output and the
wall-clock time of a render.

A name without a value renders as a visible placeholder, `‹NAME›`. A template that cannot be
rendered (bad syntax, a refused construct, a limit) keeps its text with every tag replaced
(known values filled in, other expressions as placeholders, statements and comments
dropped), so template syntax never reaches a reader; the caller gets the reason to warn with.
Literal braces that a template asks for on purpose (a `{% raw %}` block, as Ansible workshops
need for their own `{{ item }}`) are kept.

The catalog renders with the site's and the workshop's values (per-learner values become
placeholders); the launch of a learner's copy calls the same function with their values.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import ChainableUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

PLACEHOLDER = "‹{}›"
_OPENER = re.compile(r"\{[{%#]")
_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_RAW_BLOCK = re.compile(r"\{%-?\s*raw\s*-?%\}")
_EXPRESSION_NAME = re.compile(r"\s*-?\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*-?\s*(\||$)")
_NAME = re.compile(r"[A-Za-z_]\w{0,99}")

# What Workshops-on-Demand templates use; anything else is refused before rendering.
_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr,
    nodes.Getitem, nodes.Slice, nodes.Filter, nodes.Test, nodes.If, nodes.CondExpr, nodes.Compare,
    nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub,
    nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Tuple, nodes.List, nodes.Keyword,
)  # fmt: skip
# Filters whose result is at most a small multiple of their input (checked again after).
_SAFE_FILTERS = (
    "default", "d", "upper", "lower", "title", "capitalize", "trim", "replace", "length", "count",
    "first", "last", "string", "int", "float", "round", "abs", "e", "escape", "urlencode", "striptags",
    "wordcount",
)  # fmt: skip


@dataclass(frozen=True)
class TemplateLimits:
    """Bounds of one render: characters of output, of any one value or result, of source; seconds."""

    max_output_chars: int = 4_000_000
    max_value_chars: int = 20_000
    max_source_chars: int = 1_000_000
    max_seconds: float = 2.0


DEFAULT_LIMITS = TemplateLimits()


@dataclass(frozen=True)
class Rendered:
    """The text with its template filled in.

    placeholders: the names shown as `‹NAME›` because no value was given for them.
    problem: why the template could not be rendered ('' when it was); the text then has its
    tags replaced, never shown raw.
    """

    text: str
    placeholders: frozenset[str] = field(default_factory=frozenset)
    problem: str = ""


def placeholder(name: str) -> str:
    """Return the visible stand-in for a value known only later (per learner): ‹NAME›."""
    return PLACEHOLDER.format(name)


def has_template_syntax(text: str) -> bool:
    """Tell whether text holds a template tag at all (most text does not: it is returned as is)."""
    if "{{" in text or "{%" in text:
        return True
    at = text.find("{#")
    return at >= 0 and "#}" in text[at:]


def template_values_clean(values: Mapping[str, Any], *, limits: TemplateLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Keep the values a template may use: identifier names, scalar values of bounded size."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            continue
        scalar = isinstance(value, bool | int | float) or value is None
        if scalar or (isinstance(value, str) and len(value) <= limits.max_value_chars):
            clean[name] = value
    return clean


# The placeholders shown during the current render (one render at a time per thread/task).
_shown: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("template_placeholders", default=None)


class _Placeholder(ChainableUndefined):
    """A name without a value: renders as ‹NAME› (and `a.b` of an unknown `a` as ‹a›)."""

    __slots__ = ()

    def __str__(self) -> str:
        name = self._undefined_name or "…"
        seen = _shown.get()
        if seen is not None:
            seen.add(name)
        return placeholder(name)


def _too_big(value: Any, limit: int) -> bool:
    return isinstance(value, str | list | tuple) and len(value) > limit


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with bounded arithmetic: no string formatting, no huge repeats or powers."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, limits: TemplateLimits) -> None:
        super().__init__(
            undefined=_Placeholder, keep_trailing_newline=True, trim_blocks=True, autoescape=False, cache_size=0
        )
        self.limits = limits
        self.globals.clear()  # range, lipsum, dict, cycler, joiner, namespace: none needed
        self.filters = {name: self._bounded(name, self.filters[name]) for name in _SAFE_FILTERS}

    def _bounded(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        limit = self.limits.max_value_chars

        def bounded(*args: Any, **kwargs: Any) -> Any:
            if name == "replace":
                # replace(eval_ctx, s, old, new[, count]): size the result before making it.
                s, old, new = (str(a) for a in args[1:4])
                if len(s) + (s.count(old) if old else len(s) + 1) * max(len(new) - len(old), 0) > limit:
                    raise SecurityError("replace would make too long a value")
            result = function(*args, **kwargs)
            if _too_big(result, limit):
                raise SecurityError(f"filter {name} made too long a value")
            return result

        if hasattr(function, "jinja_pass_arg"):
            bounded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
        return bounded

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse operations whose result would be huge before computing them."""
        limit = self.limits.max_value_chars
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not supported")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > limit:
                    raise SecurityError("repeat would make too long a value")
        if operator in ("*", "**") and isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length() if operator == "*" else left.bit_length() * abs(right)
            if bits > 4096 or (operator == "**" and abs(right) > 1024):
                raise SecurityError("number too large")
        sequences = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
        if operator == "+" and sequences and len(left) + len(right) > limit:
            raise SecurityError("concatenation would make too long a value")
        result = super().call_binop(context, operator, left, right)
        if _too_big(result, limit):
            raise SecurityError("operation made too long a value")
        return result


_environments: dict[TemplateLimits, _Environment] = {}


def _environment(limits: TemplateLimits) -> _Environment:
    if limits not in _environments:
        _environments[limits] = _Environment(limits)
    return _environments[limits]


def _refused(tree: nodes.Template) -> str:
    """Return what in a parsed template is not allowed ('' when everything is)."""
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            return f"'{type(node).__name__.lower()}' is not supported in templates here"
        if isinstance(node, nodes.Filter) and node.name not in _SAFE_FILTERS:
            return f"filter '{node.name}' is not supported in templates here"
        if isinstance(node, nodes.Tuple | nodes.List) and not all(isinstance(i, nodes.Const) for i in node.items):
            return "lists of expressions are not supported in templates here"
    return ""


def _lone_comment_openers_escaped(text: str) -> str:
    """Keep a `{#` that no `#}` closes as text (Markdown `{#id}` attributes are not comments)."""
    last_close = text.rfind("#}")
    head, tail = text[: last_close + 2], text[last_close + 2 :]
    return head + tail.replace("{#", "{{ '{#' }}")


# A brace that starts a tag once the Markdown or HTML around it is rendered: `{</b>{`, `{\{`,
# `{`%` (an emphasis or code marker dropped from an outline), `&#123;{` (a character reference).
_BRACE = r"(?:\{|&#0*123;|&#[xX]0*7[bB];|&lbrace;|&lcub;)"
_BRACE_OR_PERCENT = r"(?:\{|%|&#0*123;|&#[xX]0*7[bB];|&lbrace;|&lcub;|&#0*37;|&#[xX]0*25;|&percnt;)"
_TAG_START = re.compile(_BRACE + r"(?=(?:<[^<>]{0,200}>|\\|[*_`~])*" + _BRACE_OR_PERCENT + ")")


def _without_syntax(text: str) -> str:
    """Drop the brace that would start a tag ({{, {%), also once rendered as Markdown or HTML.

    A `{#` that no `#}` closes is text (a Markdown `{#id}` attribute), not a tag.
    """
    return _TAG_START.sub("", text)


def _tags_replaced(text: str, values: Mapping[str, Any], budget: int) -> tuple[str, set[str]]:
    """Replace every tag: known values filled in, other expressions as placeholders, the rest dropped.

    One left-to-right scan: a closer looked for and not found is not looked for again. Values
    add at most budget characters in all (past that, placeholders), so the result stays bounded.
    """
    out: list[str] = []
    shown: set[str] = set()
    unclosed: set[str] = set()
    i = 0
    while (match := _OPENER.search(text, i)) is not None:
        start, opener = match.start(), match.group()
        out.append(text[i:start])
        closer = _CLOSERS[opener]
        end = -1 if closer in unclosed else text.find(closer, start + 2)
        if end < 0:
            unclosed.add(closer)
            out.append("{" if opener == "{#" else "")  # a lone opener: its first brace goes ({# is text)
            i = start + 1
            continue
        if opener == "{{":
            named = _EXPRESSION_NAME.match(text, start + 2, end)
            name = named.group(1) if named else "…"
            value = str(values[name]) if name in values and named and not named.group(2) else None
            if value is not None and len(value) <= budget:
                budget -= len(value)
                out.append(value)
            else:
                shown.add(name.split(".")[0])
                out.append(placeholder(name.split(".")[0]))
        i = end + 2
    out.append(text[i:])
    return _without_syntax("".join(out)), shown


def template_render(
    *,
    text: str,
    values: Mapping[str, Any],
    limits: TemplateLimits = DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
) -> Rendered:
    """Render text as a sandboxed template with values (names without one become ‹NAME›).

    Text without template syntax comes back unchanged. values: names to str, int, float or
    bool (others are ignored, see template_values_clean). Never raises for any text: a template
    that cannot be rendered comes back with its tags replaced and `problem` saying why.
    """
    if not has_template_syntax(text):
        # `{</b>{` or `{\{` reads as a tag once the Markdown or HTML around it is rendered.
        return Rendered(text=_without_syntax(text) if _TAG_START.search(text) else text)
    values = template_values_clean(values, limits=limits)
    if len(text) > limits.max_source_chars:
        return _fallback(text, values, f"over {limits.max_source_chars} characters", limits)
    env = _environment(limits)
    token = _shown.set(set())
    try:
        tree = env.parse(_lone_comment_openers_escaped(text))
        refused = _refused(tree)
        if refused:
            return _fallback(text, values, refused, limits)
        template = env.from_string(tree)
        deadline = clock() + limits.max_seconds
        chunks: list[str] = []
        total = 0
        for chunk in template.generate(values):
            total += len(chunk)
            if total > limits.max_output_chars:
                return _fallback(text, values, f"output over {limits.max_output_chars} characters", limits)
            if clock() > deadline:
                return _fallback(text, values, f"took over {limits.max_seconds:g} s", limits)
            chunks.append(chunk)
        shown = frozenset(_shown.get() or ())
    except (TemplateError, ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        reason = exc.message if isinstance(exc, TemplateError) and exc.message else type(exc).__name__
        line = getattr(exc, "lineno", None)
        return _fallback(text, values, f"{reason} (line {line})" if line else str(reason), limits)
    finally:
        _shown.reset(token)
    rendered = "".join(chunks)
    if _TAG_START.search(rendered) and not _RAW_BLOCK.search(text):
        # Braces pieced together around tags (or from a value): not meant as template syntax.
        return Rendered(text=_without_syntax(rendered), placeholders=shown)
    return Rendered(text=rendered, placeholders=shown)


def _fallback(text: str, values: Mapping[str, Any], reason: str, limits: TemplateLimits) -> Rendered:
    """Return text with its tags replaced (values adding at most max_output_chars), and why."""
    replaced, shown = _tags_replaced(text, values, limits.max_output_chars)
    return Rendered(text=replaced, placeholders=frozenset(shown), problem=reason.splitlines()[0][:200])

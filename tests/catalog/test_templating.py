"""Workshops-on-Demand templates: filled in safely, never shown raw, bounded in time and size."""

from __future__ import annotations

import html
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.templating import TemplateLimits, has_template_syntax, template_render

SITE = {"BRANDINGWOD": "HPE Developer", "SURVEYURL": "https://example.org/survey", "MODEWS": "WKSHP"}


def _render(text: str, values: dict | None = None, **kw) -> tuple[str, set[str], str]:
    result = template_render(text=text, values=SITE if values is None else values, **kw)
    return result.text, set(result.placeholders), result.problem


def test_site_values_filled_unknown_names_become_placeholders() -> None:
    """What the site knows is filled in; what only the learner's session knows is a visible placeholder."""
    text, shown, problem = _render(
        "# Welcome to the {{ BRANDINGWOD }}\n"
        "## {% if MODEWS == 'WKSHP' %}Workshop{% else %}Challenge{% endif %} overview\n"
        "Log in as student{{ STDID }} with {{ PASSSTU|default('your password') }}; [survey]({{ SURVEYURL }})\n"
    )
    assert text == (
        "# Welcome to the HPE Developer\n## Workshop overview\n"
        "Log in as student‹STDID› with your password; [survey](https://example.org/survey)\n"
    )
    assert shown == {"STDID"} and problem == ""


def test_text_without_template_syntax_is_returned_unchanged() -> None:
    """Most notebooks are not templates: their text comes back as it is, byte for byte."""
    for text in ("plain\n", "a { b } c", "## Heading {#anchor}\n", "f'{x}' and {'a': 1}"):
        assert not has_template_syntax(text) or text == "## Heading {#anchor}\n"
        assert _render(text) == (text, set(), "")


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in range(10) %}x{% endfor %}",  # loops: refused
        "{% set s = 'x' %}{{ s }}",  # assignments
        "{{ lipsum() }} {{ ''.__class__ }}",  # calls
        "{% include 'other' %}",
        "{{ STDID | center(100) }}",  # a filter outside the safe list
        "broken {{ oops",  # syntax error
        "{% if %}",
        "{{{ x }}}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    ],
)
def test_templates_that_cannot_be_rendered_never_show_raw_syntax(text: str) -> None:
    """Refused constructs and broken templates: tags replaced, a reason given, no `{{` or `{%` left."""
    rendered, _, problem = _render(text)
    assert "{{" not in rendered and "{%" not in rendered
    if "oops" not in text and "{{{" not in text and "center" not in text and "__class__" not in text:
        assert problem  # the caller warns with this reason


def test_known_values_are_still_filled_in_when_the_template_is_broken() -> None:
    """A broken tag does not lose the rest: known values filled, unknown ones as placeholders."""
    rendered, shown, problem = _render("{% if %} Welcome to the {{ BRANDINGWOD }}, student{{ STDID }}")
    assert rendered == " Welcome to the HPE Developer, student‹STDID›"
    assert shown == {"STDID"} and "Expected an expression" in problem


@pytest.mark.parametrize(
    "bomb",
    [
        "{{ 'a' * 1000000000 }}",
        "{{ 'a' ~ 'b' * 999999999 }}",
        "{{ 99 ** 9999999 }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ BRANDINGWOD|replace('e', 'eeeeeeeeeeeeeeeeeeee')|replace('e', 'eeeeeeeeeeeeeeeeeeee')"
        "|replace('e', 'eeeeeeeeeeeeeeeeeeee')|replace('e', 'eeeeeeeeeeeeeeeeeeee') }}",
        "{{ (BRANDINGWOD + BRANDINGWOD + BRANDINGWOD) * 99999 }}",
    ],
)
def test_expansion_bombs_are_refused_quickly_and_small(bomb: str) -> None:
    """A few bytes of template cannot make gigabytes or minutes of work: refused, with a reason."""
    started = time.monotonic()
    rendered, _, problem = _render(bomb * 50)
    assert time.monotonic() - started < 2
    assert len(rendered) < 10_000 and problem


def test_output_size_and_time_are_bounded() -> None:
    """The whole output and the wall-clock time of a render have limits; past them, tags are replaced."""
    limits = TemplateLimits(max_output_chars=1000)
    rendered, _, problem = _render("{{ BRANDINGWOD }}" * 500, limits=limits)
    assert problem == "output over 1000 characters" and "{{" not in rendered

    ticks = iter(range(0, 10_000, 5))  # a clock that jumps 5 s per reading
    rendered, _, problem = _render("{{ BRANDINGWOD }} and {{ STDID }}", clock=lambda: next(ticks))
    assert problem == "took over 2 s" and rendered == "HPE Developer and ‹STDID›"


def test_raw_blocks_keep_the_braces_an_ansible_workshop_needs() -> None:
    """`{% raw %}` is how a Workshops-on-Demand author keeps Ansible's `{{ item }}`: kept, as WoD delivers it."""
    rendered, _, problem = _render('{% raw %}msg: "{{ item.name }}"{% endraw %} on {{ BRANDINGWOD }}')
    assert rendered == 'msg: "{{ item.name }}" on HPE Developer' and problem == ""


def test_values_are_inserted_as_text_not_rendered_again() -> None:
    """A value holding template syntax is not a template itself (and never reaches a reader raw)."""
    rendered, _, _ = _render("{{ X }}", values={"X": "{{ STDID }}"})
    assert "{{" not in rendered


TEMPLATE_PIECES = st.sampled_from(
    [
        "{{ BRANDINGWOD }}", "{{ STDID }}", "{{ STDID|upper }}", "{{ X|default('d') }}", "{{ a.b }}",
        "{% if MODEWS == 'WKSHP' %}", "{% else %}", "{% endif %}", "{% if STDID %}", "{# note #}",
        "{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "%", "#", " ", "\n", "text", "{{ 'x' * 99999999 }}",
        "{% for i in x %}", "{% endfor %}", "{{ x | nofilter }}", "{{ 1/0 }}", "{{ STDID + 1 }}",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(TEMPLATE_PIECES, max_size=25).map("".join))
def test_any_template_renders_without_raw_syntax(text: str) -> None:
    """Whatever pieces of template syntax a text holds, rendering never fails and never leaves `{{` or `{%`."""
    rendered, _, _ = _render(text)
    assert "{{" not in rendered and "{%" not in rendered


JOINED = [
    "{</b>{ x }}",
    "{\\{ x }}",
    "{<i></i>% if x %}",
    "# {{ X }}\n\n{</b>{{",
    "{{`{%",
    "{{&#123;",
    "&lbrace;{ x }}",
]


@pytest.mark.parametrize("text", JOINED)
def test_braces_that_markdown_or_html_would_join_into_a_tag_are_split(text: str) -> None:
    """A tag split by an HTML tag or a Markdown escape would show raw in the preview: its brace goes."""
    rendered, _, _ = _render(text, values={"X": "v"})
    readable = html.unescape(re.sub(r"<[^>]*>|\\|[*_`~]", "", rendered))  # as a reader of the preview sees it
    assert "{{" not in readable and "{%" not in readable, rendered

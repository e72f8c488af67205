"""Workshop metadata: what maintainers write and what they are told when it is wrong."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.metadata import MetadataError, WorkshopInfo, metadata_load, metadata_parse

WORKSHOP_YML = """
title: iLO and Redfish 101
summary: Manage servers with the DMTF Redfish API.
description: |
  Talk to **Redfish** from Python.
tags: [redfish, rest]
products: [iLO, Redfish]
level: beginner
duration_minutes: 90
kernels: [python3]
authors: [Ada Lovelace]
prerequisites: [Some Python]
active: true
featured: true
order: [0-ReadMeFirst.ipynb, 1-Sessions.ipynb]
image: images/card.svg
"""

WOD_YML = """
%YAML 1.1
---
name: 'PowerShell 101'
notebook: 'WKSHP-PowerShell101'
description: 'Learn PowerShell for REST APIs. Then automate iLO.'
active: true
capacity: 20
priority: 1
duration: 2
category: ['Open Source', 'Automation']
presenter: 'Grace Hopper'
role: 'Engineer'
avatar: images/presenter.svg
workshopImg: images/card.svg
badgeImg: images/badge.svg
replayLink: https://example.org/replay
beta: false
compile: false
"""


def test_workshop_yml_fields_are_read() -> None:
    """Every documented field lands in the catalog's metadata."""
    info = metadata_parse(filename="workshop.yml", text=WORKSHOP_YML)
    assert info.title == "iLO and Redfish 101"
    assert info.products == ["iLO", "Redfish"]
    assert info.level == "beginner"
    assert info.duration_minutes == 90
    assert info.order == ["0-ReadMeFirst.ipynb", "1-Sessions.ipynb"]
    assert info.featured is True
    assert "**Redfish**" in info.description


def test_wod_yml_is_read_like_workshops_on_demand() -> None:
    """An existing Workshops-on-Demand wod.yml works unchanged, hours become minutes."""
    info = metadata_parse(filename="wod.yml", text=WOD_YML)
    assert info.title == "PowerShell 101"
    assert info.duration_minutes == 120
    assert info.tags == ["Open Source", "Automation"]
    assert info.authors == ["Grace Hopper"]
    assert info.image == "images/card.svg"
    assert info.summary == "Learn PowerShell for REST APIs."
    assert info.extra["replayLink"] == "https://example.org/replay"
    assert info.extra["capacity"] == 20  # unknown Workshops-on-Demand fields are kept, not refused


def test_unknown_field_is_a_warning_with_a_suggestion() -> None:
    """A typo in workshop.yml is reported with its line and the likely intended name; the rest is read."""
    info = metadata_parse(filename="workshop.yml", text="title: X\ndurration_minutes: 5\n")
    assert info.title == "X"
    [warning] = info.warnings
    assert str(warning) == (
        "workshop.yml, line 2: unknown field 'durration_minutes' (did you mean 'duration_minutes'?); ignored"
    )


def test_wrong_cosmetic_value_names_field_and_expectation_and_uses_the_default() -> None:
    """A mistyped cosmetic value names the field, what was expected and what was found; default used."""
    info = metadata_parse(filename="workshop.yml", text="title: X\nlevel: expert\nduration_minutes: soon\n")
    assert (info.title, info.level, info.duration_minutes) == ("X", "", None)
    messages = [str(w) for w in info.warnings]
    assert any(
        m.startswith("workshop.yml, line 2: field 'level'") and "'beginner', 'intermediate' or 'advanced'" in m
        and "'expert'" in m and "the default is used" in m
        for m in messages
    )  # fmt: skip
    assert any(m.startswith("workshop.yml, line 3: field 'duration_minutes'") and "'soon'" in m for m in messages)


def test_wrong_value_of_a_field_deciding_what_learners_get_is_an_error() -> None:
    """`active` decides visibility and `order` the learners' path: a wrong value fails the workshop."""
    with pytest.raises(MetadataError) as caught:
        metadata_parse(filename="workshop.yml", text="title: X\nactive: maybe\norder: 3\n")
    assert "field 'active'" in str(caught.value) and "field 'order'" in str(caught.value)
    assert caught.value.lines == [2, 3]


def test_invalid_yaml_says_where() -> None:
    """Broken YAML syntax is reported with its line and column."""
    with pytest.raises(MetadataError) as caught:
        metadata_parse(filename="workshop.yml", text="title: [unclosed\nlevel: beginner\n")
    assert "invalid YAML at line" in str(caught.value)


def test_not_a_mapping() -> None:
    """A YAML list instead of a mapping is refused with a plain reason."""
    with pytest.raises(MetadataError, match="expected a mapping of fields, got list"):
        metadata_parse(filename="workshop.yml", text="- a\n- b\n")


def test_comma_separated_tags_are_accepted() -> None:
    """Tags written as one comma-separated string become a list."""
    info = metadata_parse(filename="workshop.yml", text="tags: redfish, ilo , rest\n")
    assert info.tags == ["redfish", "ilo", "rest"]


@given(st.text(max_size=300))
def test_any_text_gives_metadata_or_a_metadata_error(text: str) -> None:
    """Whatever a file holds, parsing never fails with anything but MetadataError."""
    for name in ("workshop.yml", "wod.yml"):
        try:
            metadata_parse(filename=name, text=text)
        except MetadataError as exc:
            assert str(exc).startswith(name)


# --- what real repositories hold (tests/data/cases/content, see its README) ----------------

CASES = Path(__file__).resolve().parents[1] / "data" / "cases" / "content"


def _case(path: str) -> WorkshopInfo:
    file = CASES / path
    return metadata_load(filename=file.name, raw=file.read_bytes())


def test_tab_used_as_spacing_is_read_with_a_warning_naming_the_line() -> None:
    """`replayLink:<TAB>'...'` (Workshops-on-Demand tools read it) is read; the warning names line 10."""
    info = _case("yaml-tab-before-value/WKSHP-Tabs101/wod.yml")
    assert info.title == "Tabs 101" and info.extra["replayLink"] == "https://example.org/replay"
    [warning] = info.warnings
    assert (warning.file, warning.line) == ("wod.yml", 10) and "tab" in warning.message


def test_tabs_inside_quoted_values_are_kept_and_tab_indentation_is_an_error() -> None:
    """Only a tab YAML refuses becomes a space: a tab in a quoted value is content; one that indents fails."""
    info = metadata_parse(filename="workshop.yml", text='title:\t"A\tB"\n')
    assert info.title == "A\tB" and [w.line for w in info.warnings] == [1]
    with pytest.raises(MetadataError, match="line 2 is indented with a tab"):
        metadata_parse(filename="workshop.yml", text="tags:\n\t- a\n")


def test_duplicate_keys_are_an_error_naming_both_lines() -> None:
    """YAML forbids a key twice; silently taking the last value hid mistakes."""
    with pytest.raises(MetadataError) as caught:
        _case("yaml-oddities/a-duplicate-keys/workshop.yml")
    message = str(caught.value)
    assert "duplicate key 'level' on lines 2 and 5" in message
    assert "duplicate key 'duration_minutes' on lines 3 and 6" in message


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("b-bom", {"title": "Saved by Notepad with a BOM", "level": "beginner"}),
        ("c-anchors", {"title": "Anchors and aliases", "tags": ["redfish", "rest"], "products": ["redfish", "rest"]}),
        ("d-numeric-title", {"title": "1.10", "summary": "The title is a version number."}),
        ("e-yaml12-directive", {"title": "Declares YAML 1.2"}),
        ("f-norway", {"title": "Norway problem", "tags": ["NO", "SE", "DK"], "active": True}),
    ],
)
def test_yaml_oddities_keep_working(case: str, expected: dict) -> None:
    """A BOM, anchors, a %YAML directive, `NO` and a numeric title are read as their authors meant."""
    info = _case(f"yaml-oddities/{case}/workshop.yml")
    assert {k: getattr(info, k) for k in expected} == expected
    assert info.warnings == []


def test_utf16_with_a_bom_is_read() -> None:
    """Windows editors save "Unicode" as UTF-16 with a BOM: read it too."""
    info = metadata_load(filename="workshop.yml", raw="title: Ünïcode\n".encode("utf-16"))
    assert info.title == "Ünïcode"


def test_placeholder_image_and_link_are_warnings_with_defaults() -> None:
    """`workshopImg: 'tbd'` and `replayLink: '???'` are cosmetic: dropped with a warning each, never an error."""
    info = _case("placeholder-card-image/WKSHP-Soon101/wod.yml")
    assert info.title == "Soon 101 - a workshop still being prepared"
    assert info.image == "" and "replayLink" not in info.extra
    assert [(w.line, w.kind) for w in info.warnings] == [(8, "image"), (12, "image")]
    assert "'tbd' is a placeholder" in info.warnings[0].message


@pytest.mark.parametrize(
    "text",
    [
        "name: X\nreplayLink: javascript:alert(1)\n",
        "name: X\nreplayLink: ftp://example.org/video\n",
        "name: X\nreplayLink: watch it on youtube\n",
        "name: X\nsourceUrl: file:///etc/passwd\n",
        "name: X\nworkshopImg: data:image/svg+xml;base64,PHN2Zz4=\n",
    ],
)
def test_links_from_metadata_are_http_only(text: str) -> None:
    """Replay, source and image links must be http(s) (images may also be files of the folder)."""
    info = metadata_parse(filename="wod.yml", text=text)
    assert info.image == "" and info.extra == {}
    [warning] = info.warnings
    assert warning.line == 2 and "not an http(s) URL" in warning.message


def test_unknown_categories_are_left_out_with_a_warning() -> None:
    """With the catalog's categories configured, an unknown one is dropped (others kept, in the catalog's spelling)."""
    info = metadata_parse(
        filename="wod.yml", text="name: X\ncategory: [open source, Quantum]\n", categories=["Open Source", "Automation"]
    )
    assert info.tags == ["Open Source"]
    [warning] = info.warnings
    assert warning.line == 2 and "unknown category 'Quantum'" in warning.message


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
)  # ~400 bytes; 9^9 = 387 million values expanded


@pytest.mark.parametrize("filename", ["workshop.yml", "wod.yml"])
def test_alias_bomb_is_refused_before_it_expands(filename: str) -> None:
    """A few hundred bytes of nested aliases are refused at once, with a reason, without expanding them."""
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(MetadataError, match="aliases expand to more than 10000 values"):
            metadata_parse(filename=filename, text=ALIAS_BOMB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2 and peak < 20_000_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [*a]\n", "refers to a node that contains it"),
        ("t: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than"),
        ("t: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 32 levels"),
        ("title: x\n" + "# padding\n" * 7000, "KiB limit for metadata"),
    ],
)
def test_endless_deep_or_huge_metadata_is_refused(text: str, reason: str) -> None:
    """Self-referring aliases, deep nesting and oversized files fail clearly, never hang or crash."""
    with pytest.raises(MetadataError, match=reason):
        metadata_load(filename="workshop.yml", raw=text.encode())


def test_metadata_templates_are_rendered_with_site_then_workshop_values() -> None:
    """wod.yml texts are templates: the site's values win over the workshop's own defaults."""
    text = (
        "name: '{{ BRANDINGWOD }} 101 for {{ AUDIENCE }}'\n"
        "description: 'Welcome, student{{ STDID }}.'\n"
        "template_values: {BRANDINGWOD: Workshop default, AUDIENCE: admins}\n"
    )
    info = metadata_parse(filename="wod.yml", text=text, site_values={"BRANDINGWOD": "HPE Developer"})
    assert info.title == "HPE Developer 101 for admins"
    assert info.description == "Welcome, student‹STDID›." and info.placeholders == {"STDID"}


def test_unquoted_template_in_wod_yml_is_read_like_the_backend_reads_it() -> None:
    """`name: {{ X }} 101` is a YAML flow mapping: read by rendering first (with a warning)."""
    info = metadata_parse(filename="wod.yml", text="name: {{ BRANDINGWOD }} 101\n", site_values={"BRANDINGWOD": "HPE"})
    assert info.title == "HPE 101" and "{{" not in str(info)
    assert [w.kind for w in info.warnings] == ["template"]


def test_workshop_yml_is_a_template_only_when_it_says_so() -> None:
    """The project's own format shows braces as written unless the workshop opts in."""
    plain = metadata_parse(filename="workshop.yml", text="title: 'Using {{ item }} in Ansible'\n")
    assert plain.title == "Using {{ item }} in Ansible" and not plain.templates
    opted = metadata_parse(filename="workshop.yml", text="title: '{{ X }}'\ntemplate_values: {X: Hello}\n")
    assert opted.title == "Hello" and opted.templates

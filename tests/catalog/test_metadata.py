"""Workshop metadata: what maintainers write and what they are told when it is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.metadata import MetadataError, metadata_parse

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


def test_unknown_field_is_named_with_a_suggestion() -> None:
    """A typo in workshop.yml is reported with the field and the likely intended name."""
    with pytest.raises(MetadataError) as caught:
        metadata_parse(filename="workshop.yml", text="title: X\ndurration_minutes: 5\n")
    assert "workshop.yml: unknown field 'durration_minutes' (did you mean 'duration_minutes'?)" in str(caught.value)


def test_wrong_type_names_field_and_expectation() -> None:
    """A mistyped value names the field, what was expected and what was found."""
    with pytest.raises(MetadataError) as caught:
        metadata_parse(filename="workshop.yml", text="title: X\nlevel: expert\nduration_minutes: soon\n")
    message = str(caught.value)
    assert "field 'level'" in message and "'beginner', 'intermediate' or 'advanced'" in message
    assert "'expert'" in message
    assert "field 'duration_minutes'" in message and "'soon'" in message


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

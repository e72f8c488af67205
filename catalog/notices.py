"""Warnings about a workshop that is still published (pure: no Django, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

# What a notice is about, so the linter can name its check.
METADATA, NOTEBOOK, TEMPLATE, IMAGE, LAB = "metadata", "nbformat", "template", "image", "lab"


@dataclass(frozen=True)
class Notice:
    """One warning: the file it is about (inside the workshop folder), the line if known, and what.

    str() gives the one line shown to maintainers: "wod.yml, line 10: ...".
    """

    file: str
    message: str
    line: int | None = None
    kind: str = METADATA

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{where}: {self.message}" if where else self.message

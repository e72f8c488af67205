"""Parse workshop metadata (workshop.yml, or Workshops-on-Demand wod.yml) into one shape."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

METADATA_FILES = ("workshop.yml", "workshop.yaml", "wod.yml")


class MetadataError(ValueError):
    """Metadata that cannot be used; each message names the file, the field and what was wrong."""

    def __init__(self, filename: str, problems: list[str]) -> None:
        self.filename = filename
        self.problems = problems
        super().__init__("; ".join(f"{filename}: {p}" for p in problems))


def _as_list(value: Any) -> Any:
    """Accept a comma-separated string where a list is expected (a common hand-written form)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


StrList = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], BeforeValidator(_as_list)]


class WorkshopYml(BaseModel):
    """The schema of workshop.yml: unknown fields are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = ""
    tags: StrList = []
    products: StrList = []
    level: Literal["beginner", "intermediate", "advanced"] | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=60 * 24 * 7)
    kernels: StrList = []
    authors: StrList = []
    prerequisites: StrList = []
    active: bool = True
    featured: bool = False
    order: list[str] | None = None
    image: str = ""


class WodYml(BaseModel):
    """The Workshops-on-Demand wod.yml fields the catalog reads; other fields are kept as-is."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str = ""
    active: bool = True
    duration: float | None = Field(default=None, gt=0, le=24 * 7)
    category: StrList = []
    presenter: str = ""
    role: str = ""
    avatar: str = ""
    workshopImg: str = ""  # noqa: N815 - the Workshops-on-Demand field name
    badgeImg: str = ""  # noqa: N815
    replayLink: str = ""  # noqa: N815
    beta: bool = False


@dataclass(frozen=True)
class WorkshopInfo:
    """Workshop metadata in the catalog's own terms, whatever file it came from."""

    title: str | None = None
    summary: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    level: str = ""
    duration_minutes: int | None = None
    kernels: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    prerequisites: list[str] = field(default_factory=list)
    active: bool = True
    featured: bool = False
    order: list[str] | None = None
    image: str = ""
    metadata_format: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)


def _describe(error: dict[str, Any], known: list[str]) -> str:
    """Turn one pydantic error into a sentence naming the field and what was expected."""
    loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        guess = difflib.get_close_matches(str(error["loc"][0]), known, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else f"; known fields: {', '.join(known)}"
        return f"unknown field '{loc}'{hint}"
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict | list) or len(repr(got)) < 60 else type(got).__name__
    return f"field '{loc}': {error['msg'].lower()}, got {shown}"


def _load_yaml(filename: str, text: str) -> dict[str, Any]:
    """Load a YAML mapping, or raise MetadataError saying where the syntax breaks."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MetadataError(filename, [f"invalid YAML{where}: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MetadataError(filename, [f"expected a mapping of fields, got {type(data).__name__}"])
    return data


def _validate(model: type[BaseModel], filename: str, data: dict[str, Any]) -> BaseModel:
    """Validate data against model, collecting every problem into one MetadataError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        known = list(model.model_fields)
        raise MetadataError(filename, [_describe(e, known) for e in exc.errors()]) from None


def _first_sentence(text: str, limit: int = 300) -> str:
    """Return the first sentence of plain text, for a summary."""
    plain = re.sub(r"\s+", " ", re.sub(r"[#*_`>\[\]]", "", text)).strip()
    match = re.match(r"(.+?[.!?])(\s|$)", plain)
    sentence = match.group(1) if match else plain
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def metadata_file(files: Mapping[str, bytes]) -> str | None:
    """Return the name of a folder's metadata file (the first of METADATA_FILES it holds), if any."""
    return next((name for name in METADATA_FILES if name in files), None)


def metadata_load(*, filename: str, raw: bytes) -> WorkshopInfo:
    """Parse the bytes of a metadata file named filename; MetadataError if not UTF-8 or not valid."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(filename, ["not UTF-8 text"]) from None
    return metadata_parse(filename=filename, text=text)


def metadata_parse(*, filename: str, text: str) -> WorkshopInfo:
    """Parse the text of a metadata file named filename into WorkshopInfo."""
    data = _load_yaml(filename, text)
    if filename == "wod.yml":
        wod = _validate(WodYml, filename, data)
        assert isinstance(wod, WodYml)
        extra = {k: v for k, v in (wod.model_extra or {}).items() if _jsonable(v)}
        extra.update(
            {
                k: getattr(wod, k)
                for k in ("presenter", "role", "avatar", "badgeImg", "replayLink", "beta")
                if getattr(wod, k)
            }
        )
        return WorkshopInfo(
            title=wod.name,
            summary=_first_sentence(wod.description),
            description=wod.description,
            tags=list(wod.category),
            active=wod.active,
            duration_minutes=round(wod.duration * 60) if wod.duration else None,
            authors=[wod.presenter] if wod.presenter else [],
            image=wod.workshopImg,
            metadata_format="wod.yml",
            extra=extra,
        )
    meta = _validate(WorkshopYml, filename, data)
    assert isinstance(meta, WorkshopYml)
    return WorkshopInfo(
        title=meta.title,
        summary=meta.summary or _first_sentence(meta.description),
        description=meta.description,
        tags=list(meta.tags),
        products=list(meta.products),
        level=meta.level or "",
        duration_minutes=meta.duration_minutes,
        kernels=list(meta.kernels),
        authors=list(meta.authors),
        prerequisites=list(meta.prerequisites),
        active=meta.active,
        featured=meta.featured,
        order=meta.order,
        image=meta.image,
        metadata_format="workshop.yml",
    )


def _jsonable(value: Any) -> bool:
    """Tell whether a YAML value can be stored as JSON (dates and the like are dropped)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if isinstance(value, list):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False

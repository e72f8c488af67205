"""Parse workshop metadata (workshop.yml, or Workshops-on-Demand wod.yml) into one shape (pure).

Read what real repositories hold, the way Jupyter-side tools read it, and fail a workshop
only when its metadata cannot be used at all:

- errors (the workshop is not published): not UTF-8 text, over METADATA_MAX_BYTES, YAML that
  cannot be read, a duplicate key (both lines named), aliases that would expand past
  MAX_EXPANDED_NODES or nest deeper than MAX_DEPTH (a "billion laughs" file), not a mapping,
  and a wrong value for a field that decides what learners get (`active`, `order`);
- the `lab:` section (catalog.lab): its problems drop the section, never the workshop;
- warnings (published with a default): a tab used as spacing (read as a space, as the
  Workshops-on-Demand tools read it), an unknown field (with a guess), a cosmetic value that
  cannot be honoured (a placeholder card image such as `tbd`, a link that is not http(s), an
  unknown level or category, a bad duration), and template problems.

Values are read as written: `title: 1.10` is the text "1.10" and `tags: [NO, SE]` are the
country codes, not a number and a boolean (YAML 1.1 typing applies only where the schema
wants a number or a boolean). A BOM, anchors and aliases, and `%YAML 1.1` / `1.2` directives
work. Workshops-on-Demand metadata is a template (see catalog.templating): its texts are
rendered with the site's values and the workshop's own `template_values`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from catalog.lab import lab_read, wod_lab_base, wod_reset_hint
from catalog.notices import IMAGE, TEMPLATE, Notice
from catalog.templating import Rendered, TemplateLimits, has_template_syntax, template_render

METADATA_FILES = ("workshop.yml", "workshop.yaml", "wod.yml")
# A metadata file is a few hundred bytes; anything near this is a mistake or an attack.
METADATA_MAX_BYTES = 64 * 1024
# Nodes the document would have with every alias expanded, and nesting depth (YAML bombs).
MAX_EXPANDED_NODES = 10_000
MAX_DEPTH = 32
# Tabs read as spaces before giving up (each is one more parse of a small file).
MAX_TAB_REPAIRS = 50
MAX_TEMPLATE_VALUES = 100
# A metadata text (a title, a description) is short even with its template filled in.
METADATA_TEMPLATE_LIMITS = TemplateLimits(max_output_chars=100_000)

# A value standing for "not decided yet" (Workshops-on-Demand uses 'tbd' for images to come).
_PLACEHOLDER_VALUE = re.compile(
    r"^(?:tb[ad]|todo|none|null|nil|n/?a|-+|\?+|x+|placeholder|coming soon|soon|empty)$", re.IGNORECASE
)
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):(?!\s)")
# Extra (Workshops-on-Demand) fields holding a link or an image, by name.
_LINK_FIELD = re.compile(r"(?:link|url|uri|href)$", re.IGNORECASE)
_IMAGE_FIELD = re.compile(r"(?:img|image|avatar|logo|icon|picture)$", re.IGNORECASE)


class MetadataError(ValueError):
    """Metadata that cannot be used; each notice names the file, the line when known, and what was wrong."""

    def __init__(self, filename: str, problems: list[str], lines: list[int | None] | None = None) -> None:
        self.filename = filename
        self.problems = problems
        self.lines = lines or [None] * len(problems)
        super().__init__("; ".join(f"{filename}: {p}" for p in problems))

    @property
    def notices(self) -> list[Notice]:
        """Return each problem as a notice (file, message, line)."""
        return [Notice(self.filename, p, line) for p, line in zip(self.problems, self.lines, strict=True)]


def _as_list(value: Any) -> Any:
    """Accept a comma-separated string where a list is expected (a common hand-written form)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


StrList = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], BeforeValidator(_as_list)]
TemplateName = Annotated[str, Field(pattern=r"^[A-Za-z_]\w{0,99}$")]
TemplateValue = Annotated[str, Field(max_length=20_000)] | int | float | bool
TemplateValues = Annotated[dict[TemplateName, TemplateValue], Field(max_length=MAX_TEMPLATE_VALUES)]


class WorkshopYml(BaseModel):
    """The schema of workshop.yml; unknown fields are reported (with a guess), so typos are caught."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # Fields whose wrong value fails the workshop: they decide what learners get.
    FATAL: ClassVar[frozenset[str]] = frozenset({"active", "order"})
    TEXT: ClassVar[frozenset[str]] = frozenset({"title", "summary", "description", "image", "level"})
    TEXT_LISTS: ClassVar[frozenset[str]] = frozenset(
        {"tags", "products", "kernels", "authors", "prerequisites", "order"}
    )

    title: str | None = Field(default=None, min_length=1, max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=20_000)
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
    image: str = Field(default="", max_length=500)
    templates: bool | None = None  # default: on when template_values are given
    template_values: TemplateValues = {}
    lab: Any = None  # read by catalog.lab (its problems drop the section, not the workshop)


class WodYml(BaseModel):
    """The Workshops-on-Demand wod.yml fields the catalog reads; other fields are kept as-is."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)
    FATAL: ClassVar[frozenset[str]] = frozenset({"active"})
    TEXT: ClassVar[frozenset[str]] = frozenset(
        {"name", "description", "presenter", "role", "avatar", "workshopImg", "badgeImg", "replayLink"}
    )
    TEXT_LISTS: ClassVar[frozenset[str]] = frozenset({"category"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    active: bool = True
    duration: float | None = Field(default=None, gt=0, le=24 * 7)
    category: StrList = []
    presenter: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=200)
    avatar: str = Field(default="", max_length=500)
    workshopImg: str = Field(default="", max_length=500)  # noqa: N815 - the Workshops-on-Demand field name
    badgeImg: str = Field(default="", max_length=500)  # noqa: N815
    replayLink: str = Field(default="", max_length=500)  # noqa: N815
    beta: bool = False
    templates: bool | None = None  # default: on (the Workshops-on-Demand backend renders every notebook)
    template_values: TemplateValues = {}
    lab: Any = None  # read by catalog.lab, with `varpass` mapped; never kept in extra


@dataclass(frozen=True)
class WorkshopInfo:
    """Workshop metadata in the catalog's own terms, whatever file it came from.

    templates: whether the workshop's notebooks are templates (catalog.templating);
    template_values: the workshop's own defaults for them; lab: what each learner gets for
    themselves (a LabSpec, see catalog.lab); lines: field -> line in the file;
    warnings: what could not be honoured (the workshop is still published).
    """

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
    templates: bool = False
    template_values: dict[str, Any] = field(default_factory=dict)
    placeholders: frozenset[str] = frozenset()
    lab: dict[str, Any] = field(default_factory=dict)  # a LabSpec (catalog.lab), {} without a lab
    lines: dict[str, int] = field(default_factory=dict)
    warnings: list[Notice] = field(default_factory=list)


# --- reading YAML safely ------------------------------------------------------------------


@dataclass
class _Document:
    """A loaded YAML mapping, the node it came from, and what was repaired on the way."""

    data: dict[str, Any]
    node: MappingNode | None
    warnings: list[Notice]


def _line(node: Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark is not None else None


def _expanded_size(root: Node, filename: str) -> int:
    """Count the nodes the document would have with aliases expanded; refuse cycles and deep nesting.

    Aliases share one node in the composed graph, so each distinct node is sized once
    (memoised): the count is exact and the work is linear in the file, however big the
    expansion would be.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise MetadataError(filename, ["an alias refers to a node that contains it (endless)"], [_line(node)])
        if depth > MAX_DEPTH:
            raise MetadataError(filename, [f"nested deeper than {MAX_DEPTH} levels"], [_line(node)])
        in_progress.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    break
        in_progress.discard(key)
        sizes[key] = total
        return total

    total = size(root, 0)
    if total > MAX_EXPANDED_NODES:
        raise MetadataError(
            filename,
            [f"aliases expand to more than {MAX_EXPANDED_NODES} values (a YAML bomb?); write the values out"],
            [_line(root)],
        )
    return total


def _duplicate_keys(root: Node, filename: str) -> None:
    """Refuse a mapping that holds the same key twice, naming both lines (YAML forbids it)."""
    seen_nodes: set[int] = set()
    stack = [root]
    problems, lines = [], []
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, Node] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value != "<<":
                    if key_node.value in first:
                        a, b = _line(first[key_node.value]), _line(key_node)
                        problems.append(f"duplicate key '{key_node.value}' on lines {a} and {b}; keep one")
                        lines.append(b)
                    else:
                        first[key_node.value] = key_node
                stack += [key_node, value_node]
        elif isinstance(node, SequenceNode):
            stack += node.value
    if problems:
        raise MetadataError(filename, problems, lines)


def _is_indentation(text: str, index: int) -> bool:
    """Tell whether the character at index is in its line's leading whitespace."""
    line_start = text.rfind("\n", 0, index) + 1
    return not text[line_start:index].strip()


def _compose(filename: str, text: str) -> tuple[Node | None, str, list[Notice]]:
    """Compose the YAML node graph; read a tab used as spacing as a space (with a warning).

    The Workshops-on-Demand tools accept `key:<TAB>value`; YAML does not. Only a tab the
    parser refuses is replaced, so tabs inside quoted values stay.
    """
    warnings: list[Notice] = []
    for _ in range(MAX_TAB_REPAIRS + 1):
        loader = None
        try:
            loader = yaml.SafeLoader(text)  # its reader refuses control characters at once
            return loader.get_single_node(), text, warnings
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            if mark is None or "'\\t'" not in problem or text[mark.index : mark.index + 1] != "\t":
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                line = mark.line + 1 if mark else None
                raise MetadataError(filename, [f"invalid YAML{where}: {problem}"], [line]) from None
            if _is_indentation(text, mark.index):
                problem = f"line {mark.line + 1} is indented with a tab; YAML indents with spaces"
                raise MetadataError(filename, [problem], [mark.line + 1]) from None
            warnings.append(
                Notice(filename, "a tab is used as spacing; read as a space (YAML allows only spaces)", mark.line + 1)
            )
            text = text[: mark.index] + " " + text[mark.index + 1 :]
        except RecursionError:
            raise MetadataError(filename, [f"nested deeper than {MAX_DEPTH} levels"]) from None
        finally:
            if loader is not None:
                loader.dispose()
    raise MetadataError(filename, [f"more than {MAX_TAB_REPAIRS} tabs used as spacing; use spaces"])


def _as_written(value_node: Node, constructed: Any) -> Any:
    """Return a scalar (or a list of scalars) as written, for fields that hold text."""
    if isinstance(value_node, ScalarNode) and constructed is not None and not isinstance(constructed, str):
        return value_node.value
    if isinstance(value_node, SequenceNode) and isinstance(constructed, list):
        return [
            item.value if isinstance(item, ScalarNode) and v is not None and not isinstance(v, str) else v
            for item, v in zip(value_node.value, constructed, strict=False)
        ]
    return constructed


def _load(filename: str, text: str, text_fields: Collection[str]) -> _Document:
    """Load a YAML mapping within the bounds, or raise MetadataError saying where and why."""
    text = text.removeprefix("\ufeff")
    node, text, warnings = _compose(filename, text)
    if node is None:
        return _Document({}, None, warnings)
    _expanded_size(node, filename)
    _duplicate_keys(node, filename)
    loader = yaml.SafeLoader(text)
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MetadataError(filename, [f"invalid YAML: {problem}"], [_line(node)]) from None
    except RecursionError:
        raise MetadataError(filename, [f"nested deeper than {MAX_DEPTH} levels"]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, MappingNode):
        raise MetadataError(filename, [f"expected a mapping of fields, got {type(data).__name__}"], [_line(node)])
    for key_node, value_node in node.value:  # merge keys (<<) already flattened in by construction
        if isinstance(key_node, ScalarNode) and key_node.value in text_fields and key_node.value in data:
            data[key_node.value] = _as_written(value_node, data[key_node.value])
    data = {str(k): v for k, v in data.items()}
    return _Document(data, node, warnings)


def _value_node(node: MappingNode | None, name: str) -> Node | None:
    """Return the node of a top-level field's value (None when absent or merged in)."""
    if node is None:
        return None
    return next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == name), None)


def _field_lines(node: MappingNode | None) -> dict[str, int]:
    """Map each top-level field to the line it is on."""
    if node is None:
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, ScalarNode)}


# --- validating with defaults for what is only cosmetic -----------------------------------


def _describe(error: dict[str, Any], known: list[str]) -> str:
    """Turn one pydantic error into a sentence naming the field and what was expected."""
    loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        guess = difflib.get_close_matches(str(error["loc"][0]), known, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else f"; known fields: {', '.join(known)}"
        return f"unknown field '{loc}'{hint}; ignored"
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict | list) or len(repr(got)) < 60 else type(got).__name__
    return f"field '{loc}': {error['msg'].lower()}, got {shown}"


def _validate(model: type[BaseModel], filename: str, doc: _Document) -> tuple[Any, list[Notice]]:
    """Validate against model; a bad cosmetic value is dropped (default used) with a warning.

    Only a bad value of a FATAL field raises MetadataError (every such problem at once).
    """
    data = dict(doc.data)
    lines = _field_lines(doc.node)
    known = [name for name in model.model_fields]
    fatal: set[str] = model.FATAL  # type: ignore[attr-defined]
    warnings: list[Notice] = []
    for _ in range(len(data) + 2):
        try:
            return model.model_validate(data), warnings
        except ValidationError as exc:
            errors = exc.errors()
        fatal_errors = [e for e in errors if e["loc"] and e["loc"][0] in fatal]
        if fatal_errors:
            raise MetadataError(
                filename,
                [_describe(e, known) for e in fatal_errors],
                [lines.get(str(e["loc"][0])) for e in fatal_errors],
            )
        dropped_items: dict[str, set[int]] = {}
        for error in errors:
            loc = error["loc"]
            name = str(loc[0]) if loc else ""
            if not name or name not in data:
                raise MetadataError(filename, [_describe(error, known)], [None])
            message = _describe(error, known)
            if error["type"] != "extra_forbidden":
                message += "; ignored, the default is used"
            warnings.append(Notice(filename, message, lines.get(name)))
            if len(loc) > 1 and isinstance(loc[1], int) and isinstance(data[name], list):
                dropped_items.setdefault(name, set()).add(loc[1])
            else:
                data.pop(name, None)
        for name, indexes in dropped_items.items():
            if name in data:
                data[name] = [v for i, v in enumerate(data[name]) if i not in indexes]
    raise MetadataError(filename, ["could not be read (too many problems)"])


def _link_problem(value: str, *, images: bool) -> str:
    """Say why a link or image value from metadata cannot be used ('' when it can).

    Links must be absolute http(s) URLs; images may also be paths inside the folder.
    """
    if _PLACEHOLDER_VALUE.match(value.strip()):
        return f"'{value}' is a placeholder, not {'an image' if images else 'a link'}"
    scheme = _SCHEME.match(value)
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        return f"'{value[:80]}' is not an http(s) URL"
    if not images and not scheme:
        return f"'{value[:80]}' is not an http(s) URL"
    return ""


# --- the two formats -----------------------------------------------------------------------


def metadata_file(files: Mapping[str, bytes]) -> str | None:
    """Return the name of a folder's metadata file (the first of METADATA_FILES it holds), if any."""
    return next((name for name in METADATA_FILES if name in files), None)


def metadata_load(
    *,
    filename: str,
    raw: bytes,
    site_values: Mapping[str, Any] | None = None,
    categories: Collection[str] | None = None,
) -> WorkshopInfo:
    """Parse the bytes of a metadata file named filename; MetadataError if it cannot be used.

    Over METADATA_MAX_BYTES is refused before decoding; UTF-8 with or without a BOM (and
    UTF-16 with a BOM, as Windows editors save "Unicode") is read.
    """
    if len(raw) > METADATA_MAX_BYTES:
        raise MetadataError(
            filename, [f"{len(raw) // 1024} KiB is over the {METADATA_MAX_BYTES // 1024} KiB limit for metadata"]
        )
    try:
        utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
        text = raw.decode("utf-16") if utf16 else raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MetadataError(filename, ["not UTF-8 text"]) from None
    return metadata_parse(filename=filename, text=text, site_values=site_values, categories=categories)


def metadata_parse(
    *,
    filename: str,
    text: str,
    site_values: Mapping[str, Any] | None = None,
    categories: Collection[str] | None = None,
) -> WorkshopInfo:
    """Parse the text of a metadata file named filename into WorkshopInfo (warnings included).

    site_values: the operator's template values (they win over the workshop's own defaults).
    categories: the tags/categories the catalog knows (None: any); others are dropped, warned.
    """
    if len(text) > METADATA_MAX_BYTES:
        raise MetadataError(filename, [f"over the {METADATA_MAX_BYTES // 1024} KiB limit for metadata"])
    if filename == "wod.yml":
        info = _wod_info(filename, text, site_values or {})
    else:
        info = _workshop_yml_info(filename, text, site_values or {})
    info = _links_checked(info)
    if categories is not None:
        info = _categories_checked(info, categories)
    if info.templates:
        info = _templates_rendered(info, {**info.template_values, **(site_values or {})})
    return info


def _document(filename: str, text: str, model: type[BaseModel], site_values: Mapping[str, Any]) -> _Document:
    text_fields = model.TEXT | model.TEXT_LISTS  # type: ignore[attr-defined]
    try:
        return _load(filename, text, text_fields)
    except MetadataError as exc:
        if not has_template_syntax(text):
            raise
        # An unquoted `{{ X }}` is a YAML flow mapping: read it as the Workshops-on-Demand
        # backend does, rendering the file first (values are known only after reading it, so
        # only the site's values are known before reading it; quote templated values).
        rendered = template_render(text=text, values=site_values)
        try:
            doc = _load(filename, rendered.text, text_fields)
        except MetadataError:
            raise exc from None
        doc.warnings.append(
            Notice(filename, "template tags made the YAML unreadable; read with placeholders", kind=TEMPLATE)
        )
        return doc


def _wod_info(filename: str, text: str, site_values: Mapping[str, Any]) -> WorkshopInfo:
    doc = _document(filename, text, WodYml, site_values)
    wod, warnings = _validate(WodYml, filename, doc)
    assert isinstance(wod, WodYml)
    extra = {k: v for k, v in (wod.model_extra or {}).items() if _jsonable(v)}
    kept = ("presenter", "role", "avatar", "badgeImg", "replayLink", "beta")
    extra.update({k: getattr(wod, k) for k in kept if getattr(wod, k)})
    fields = wod.model_extra or {}
    lab = lab_read(
        filename=filename,
        data=wod.lab,
        node=_value_node(doc.node, "lab"),
        line=_field_lines(doc.node).get("lab"),
        base=wod_lab_base(fields),
    )
    hints = wod_reset_hint(filename=filename, fields=fields, spec=lab.spec, line=_field_lines(doc.node).get("reset"))
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
        templates=wod.templates is not False,
        template_values=dict(wod.template_values),
        lab=lab.spec,
        lines={**_field_lines(doc.node), "image": _field_lines(doc.node).get("workshopImg", 0)},
        warnings=doc.warnings + warnings + lab.notices + hints,
    )


def _workshop_yml_info(filename: str, text: str, site_values: Mapping[str, Any]) -> WorkshopInfo:
    doc = _document(filename, text, WorkshopYml, site_values)
    meta, warnings = _validate(WorkshopYml, filename, doc)
    assert isinstance(meta, WorkshopYml)
    lab = lab_read(
        filename=filename, data=meta.lab, node=_value_node(doc.node, "lab"), line=_field_lines(doc.node).get("lab")
    )
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
        templates=meta.templates if meta.templates is not None else bool(meta.template_values),
        template_values=dict(meta.template_values),
        lab=lab.spec,
        lines=_field_lines(doc.node),
        warnings=doc.warnings + warnings + lab.notices,
    )


def _image_field(info: WorkshopInfo) -> str:
    """Return the name the metadata file gives the card image."""
    return "workshopImg" if info.metadata_format == "wod.yml" else "image"


def _links_checked(info: WorkshopInfo) -> WorkshopInfo:
    """Drop links that are not http(s) and images that are placeholders or odd URLs, with warnings."""
    warnings = list(info.warnings)
    filename = info.metadata_format
    image = info.image
    if image and (problem := _link_problem(image, images=True)):
        name = _image_field(info)
        message = f"field '{name}': {problem}; the default card is used"
        warnings.append(Notice(filename, message, info.lines.get(name), IMAGE))
        image = ""
    extra = dict(info.extra)
    for key, value in info.extra.items():
        if not isinstance(value, str) or not value:
            continue
        is_image, is_link = bool(_IMAGE_FIELD.search(key)), bool(_LINK_FIELD.search(key))
        if (is_image or is_link) and (problem := _link_problem(value, images=is_image)):
            warnings.append(Notice(filename, f"field '{key}': {problem}; ignored", info.lines.get(key), IMAGE))
            del extra[key]
    return WorkshopInfo(**{**info.__dict__, "image": image, "extra": extra, "warnings": warnings})


def _categories_checked(info: WorkshopInfo, categories: Collection[str]) -> WorkshopInfo:
    """Keep the tags the catalog knows (in its spelling); warn about the others."""
    known = {c.lower(): c for c in categories}
    field_name = "category" if info.metadata_format == "wod.yml" else "tags"
    tags, warnings = [], list(info.warnings)
    for tag in info.tags:
        if tag.lower() in known:
            tags.append(known[tag.lower()])
        else:
            warnings.append(
                Notice(
                    info.metadata_format,
                    f"field '{field_name}': unknown category '{tag}'; left out (known: {', '.join(categories)})",
                    info.lines.get(field_name),
                )
            )
    return WorkshopInfo(**{**info.__dict__, "tags": tags, "warnings": warnings})


def _templates_rendered(info: WorkshopInfo, values: Mapping[str, Any]) -> WorkshopInfo:
    """Render the texts of templated metadata (title, summary, description, lists)."""
    shown: set[str] = set()
    problems: list[str] = []

    def render(text: str) -> str:
        result: Rendered = template_render(text=text, values=values, limits=METADATA_TEMPLATE_LIMITS)
        shown.update(result.placeholders)
        if result.problem:
            problems.append(result.problem)
        return result.text

    changes: dict[str, Any] = {
        "title": render(info.title) if info.title else info.title,
        "summary": render(info.summary),
        "description": render(info.description),
    }
    for name in ("tags", "products", "authors", "prerequisites"):
        changes[name] = [render(v) for v in getattr(info, name)]
    warnings = list(info.warnings)
    if problems:
        message = f"template could not be rendered ({problems[0]}); its tags were left out"
        warnings.append(Notice(info.metadata_format, message, kind=TEMPLATE))
    return WorkshopInfo(**{**info.__dict__, **changes, "placeholders": frozenset(shown), "warnings": warnings})


def _first_sentence(text: str, limit: int = 300) -> str:
    """Return the first sentence of plain text, for a summary."""
    plain = re.sub(r"\s+", " ", re.sub(r"[#*_`>\[\]]", "", text)).strip()
    match = re.match(r"(.+?[.!?])(\s|$)", plain)
    sentence = match.group(1) if match else plain
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def _jsonable(value: Any) -> bool:
    """Tell whether a YAML value can be stored as JSON (dates and the like are dropped)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if isinstance(value, list):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False

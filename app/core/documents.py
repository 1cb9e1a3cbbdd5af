"""Bounded readers for every document a caller uploads: YAML, XML, CSV and JSON.

A parser runs a program its sender wrote. A 377-byte YAML file whose aliases expand
exponentially ("billion laughs"), an XML entity bomb, a CSV of one endless row or JSON nested
thousands deep each cost the server far more than they cost the sender, and if the parse runs
inside a transaction (SQLite's `BEGIN IMMEDIATE` holds the write lock) every organisation
waits. So every document is read here, with bounds on size, nesting depth, node count, YAML
aliases and time, before any transaction begins; a document that breaks a bound is refused
quickly, naming the bound: 413 (`PayloadTooLarge`) for size, 422 (`DocumentRefused`) for
structure. The errors' `bound` says which one (`size`, `rows`, `depth`, `nodes`, `aliases`,
`tags`, `scalar`, `documents`, `doctype`, `columns`, `field_size`, `time`, `encoding`,
`syntax`). docs/reliability.md has the table of bounds.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import yaml
from fastapi.exceptions import RequestValidationError
from lxml import etree
from starlette.concurrency import run_in_threadpool

from app.core.errors import (
    DOCUMENT_NOT_JSON,
    DomainError,
    PayloadTooLarge,
    ValidationFailed,
)
from app.core.messages import N_, FieldError, Message, Template

AT = Template("document.at", N_("%(where)s: %(reason)s"))
"""Where in the document (`line 3, column 5`) a refusal's reason was met."""
TOO_SLOW = Template("document.too_slow", N_("took longer than %(seconds)s s to read; refused"))
TOO_BIG = Template("document.too_big", N_("at most %(max)s bytes (this one has %(size)s)"))
NOT_UTF8 = {
    "the document": Template(
        "document.not_utf8_at", N_("the document is not UTF-8 text (byte %(byte)s)")
    ),
    "the file": Template("file.not_utf8_at", N_("the file is not UTF-8 text (byte %(byte)s)")),
    "a schedule": Template(
        "schedule.not_utf8_at", N_("a schedule is not UTF-8 text (byte %(byte)s)")
    ),
}
NOT_UTF8_OTHER = Template(
    "document.what_not_utf8", N_("%(what)s is not UTF-8 text (byte %(byte)s)")
)
NOT_UTF8_TEXT = Template("document.not_utf8_text", N_("the document is not UTF-8 text"))
TOO_DEEP = Template(
    "document.nested_too_deeply", N_("nested too deeply (at most %(levels)s levels)")
)
LONG_VALUE = Template("document.long_value", N_("a value longer than %(count)s characters"))
TOO_MANY_VALUES = Template("document.too_many_values", N_("more than %(count)s values"))
YAML_ALIASES = Template(
    "yaml.aliases",
    N_("YAML aliases (*name) and anchors (&name) are not allowed; write each value out"),
)
YAML_DOCUMENTS = Template("yaml.documents", N_("one YAML document per file"))
YAML_TAGS = Template("yaml.tags", N_("YAML tags such as %(tag)s are not allowed"))
NOT_YAML = Template("yaml.invalid", N_("not valid YAML: %(problem)s"))
XML_DOCTYPE = Template(
    "xml.doctype", N_("a DOCTYPE or entity declaration is not allowed in this document")
)
NOT_XML = Template("xml.invalid", N_("not a well-formed XML document: %(error)s"))
XML_ENTITY = Template("xml.entity", N_("entity references are not allowed"))
TOO_MANY_ELEMENTS = Template("xml.too_many_elements", N_("more than %(count)s elements"))
CSV_EMPTY = Template("csv.empty", N_("is empty: the first row must name the columns"))
CSV_TOO_WIDE = Template(
    "csv.too_many_columns", N_("row %(row)s has %(count)s values; at most %(max)s")
)
CSV_LONG_VALUE = Template(
    "csv.long_value", N_("row %(row)s has a value longer than %(count)s characters")
)
CSV_TOO_MANY_ROWS = Template("csv.too_many_rows", N_("at most %(count)s rows per file; split it"))
NOT_CSV = Template("csv.invalid", N_("is not valid CSV near row %(row)s: %(error)s"))


class DocumentRefused(ValidationFailed):
    """A document that breaks a bound or cannot be read (422), naming the bound.

    `reason_message` is what is wrong (`reason` the same in English), `where` where in the
    document it was met (if the reader knows); the field error says both."""

    def __init__(
        self, field: str, bound: str, message: Message, *, where: str | None = None
    ) -> None:
        self.field_name = field
        self.bound = bound
        self.where = where
        self.reason_message = message
        self.reason = self.reason_message.english()
        full = AT(where=where, reason=self.reason_message) if where else self.reason_message
        super().__init__(
            errors=[FieldError(field, full, {"type": "document_bound", "bound": bound})]
        )


def too_large(field: str, bound: str, message: Message) -> PayloadTooLarge:
    """413 naming the bound: a document bigger than this endpoint reads."""
    return PayloadTooLarge(
        errors=[FieldError(field, message, {"type": "document_bound", "bound": bound})]
    )


class Deadline:
    """A time budget for one parse, checked every few hundred steps (cheap)."""

    def __init__(self, seconds: float, field: str) -> None:
        self.seconds = seconds
        self.field = field
        self.until = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.until:
            raise DocumentRefused(self.field, "time", TOO_SLOW(seconds=f"{self.seconds:g}"))


def check_size(content: bytes | str, max_bytes: int, field: str) -> None:
    size = len(content.encode("utf-8") if isinstance(content, str) else content)
    if size > max_bytes:
        raise too_large(field, "size", TOO_BIG(max=max_bytes, size=size))


def decode_utf8(content: bytes, field: str, what: str = "the document") -> str:
    """UTF-8 text, with or without a byte-order mark."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        said = (
            NOT_UTF8[what](byte=exc.start)
            if what in NOT_UTF8
            else NOT_UTF8_OTHER(what=what, byte=exc.start)
        )
        raise DocumentRefused(field, "encoding", said) from None


# -- YAML -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YamlBounds:
    max_bytes: int = 256 * 1024
    max_depth: int = 32
    max_nodes: int = 50_000
    max_scalar_chars: int = 4_096
    seconds: float = 5.0


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed


def _mark(event: Any) -> str | None:
    mark = getattr(event, "start_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None


def load_yaml(
    content: bytes | str, *, field: str = "body", bounds: YamlBounds = YamlBounds()
) -> Any:
    """One YAML (or JSON) document, read within `bounds`, with no aliases, anchors or tags.

    The events are checked first, as the parser makes them (libyaml, no node is built):
    the first alias or anchor, the level past `max_depth`, the node past `max_nodes` or a
    scalar past `max_scalar_chars` stops the read at once, so a "billion laughs" file costs
    no more than its own bytes. Only then is the document built, by the safe loader.
    """
    check_size(content, bounds.max_bytes, field)
    text = decode_utf8(content, field) if isinstance(content, bytes) else content
    deadline = Deadline(bounds.seconds, field)
    depth = nodes = documents = 0
    try:
        for n, event in enumerate(yaml.parse(text, Loader=_Loader)):
            if n % 512 == 0:
                deadline.check()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise DocumentRefused(field, "aliases", YAML_ALIASES(), where=_mark(event))
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise DocumentRefused(field, "documents", YAML_DOCUMENTS(), where=_mark(event))
            if not isinstance(event, yaml.NodeEvent):
                if isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
                continue
            nodes += 1
            if nodes > bounds.max_nodes:
                raise DocumentRefused(
                    field, "nodes", TOO_MANY_VALUES(count=bounds.max_nodes), where=_mark(event)
                )
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _PLAIN_TAGS and tag not in ("!", "?"):
                raise DocumentRefused(field, "tags", YAML_TAGS(tag=tag[:40]), where=_mark(event))
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > bounds.max_depth:
                    raise DocumentRefused(
                        field, "depth", TOO_DEEP(levels=bounds.max_depth), where=_mark(event)
                    )
            elif isinstance(event, yaml.ScalarEvent) and len(event.value) > bounds.max_scalar_chars:
                raise DocumentRefused(
                    field,
                    "scalar",
                    LONG_VALUE(count=bounds.max_scalar_chars),
                    where=_mark(event),
                )
        deadline.check()
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader, checked above
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        if "nesting depth" in str(exc.problem):  # libyaml's own limit, met while scanning ahead
            raise DocumentRefused(
                field, "depth", TOO_DEEP(levels=bounds.max_depth), where=where
            ) from None
        problem = str(exc.problem or exc)
        if "Unicode character escape" in problem:  # libyaml's words for "\ud800"
            problem += " (text must be valid Unicode: no lone surrogate code points)"
        raise DocumentRefused(field, "syntax", NOT_YAML(problem=problem), where=where) from None
    except yaml.YAMLError as exc:
        raise DocumentRefused(field, "syntax", NOT_YAML(problem=str(exc))) from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. a date such as 2026-02-30
        raise DocumentRefused(field, "syntax", NOT_YAML(problem=str(exc))) from None


# -- XML --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class XmlBounds:
    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 500_000


def _xml_parser() -> etree.XMLParser:
    # no entity is expanded, no DTD loaded, nothing fetched; libxml2's own limits stay on
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(
    content: bytes, *, field: str = "body", bounds: XmlBounds = XmlBounds()
) -> etree._Element:
    """An XML document's root, read within `bounds`. A DOCTYPE (hence any entity) is refused."""
    check_size(content, bounds.max_bytes, field)
    upper = content.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise DocumentRefused(field, "doctype", XML_DOCTYPE())
    try:
        root = etree.fromstring(content, _xml_parser())
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):  # libxml2's own limit (256) without huge_tree
            raise DocumentRefused(field, "depth", TOO_DEEP(levels=bounds.max_depth)) from None
        raise DocumentRefused(field, "syntax", NOT_XML(error=str(exc))) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. in a UTF-16 document
        raise DocumentRefused(field, "doctype", XML_DOCTYPE())
    elements = 0
    depth = 0
    for event, node in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        if isinstance(node, etree._Entity):
            raise DocumentRefused(field, "doctype", XML_ENTITY())
        depth += 1
        elements += 1
        if depth > bounds.max_depth:
            raise DocumentRefused(field, "depth", TOO_DEEP(levels=bounds.max_depth))
        if elements > bounds.max_elements:
            raise DocumentRefused(field, "nodes", TOO_MANY_ELEMENTS(count=bounds.max_elements))
    return root


# -- CSV --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvBounds:
    max_bytes: int = 8 * 1024 * 1024
    max_rows: int = 20_000
    max_columns: int = 64
    max_field_chars: int = 10_000
    seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class CsvRecord:
    number: int
    """The record's number as a spreadsheet shows it: the header is row 1."""
    line: int
    """The file's line where the record ends (a quoted cell may span lines)."""
    cells: list[str]


@dataclass(frozen=True, slots=True)
class CsvTable:
    header: list[str]
    records: list[CsvRecord]
    delimiter: str
    name: str = "upload"
    """The file's name as sent, for the audit trail."""


def read_csv(
    content: bytes, *, field: str = "file", bounds: CsvBounds = CsvBounds(), name: str = "upload"
) -> CsvTable:
    """A CSV file's header and records, read within `bounds`: UTF-8 (with or without BOM),
    comma or semicolon (the header line decides). Empty lines are skipped; a record of
    empty cells (`,,,`) is kept, for the importer to report or skip.

    `csv.field_size_limit` is process-wide, so the field bound is checked here, per cell.
    A record with more cells than the header is kept as it is: the importer reports it.
    """
    check_size(content, bounds.max_bytes, field)
    text = decode_utf8(content, field, "the file")
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise DocumentRefused(field, "syntax", CSV_EMPTY())
    delimiter = ";" if first.count(";") > first.count(",") else ","
    deadline = Deadline(bounds.seconds, field)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    records: list[CsvRecord] = []
    number = 0
    try:
        for cells in reader:
            number += 1
            if number % 1000 == 0:
                deadline.check()
            if len(cells) > bounds.max_columns:
                raise DocumentRefused(
                    field,
                    "columns",
                    CSV_TOO_WIDE(row=number, count=len(cells), max=bounds.max_columns),
                )
            for cell in cells:
                if len(cell) > bounds.max_field_chars:
                    raise DocumentRefused(
                        field,
                        "field_size",
                        CSV_LONG_VALUE(row=number, count=bounds.max_field_chars),
                    )
            if header is None:
                header = cells
                continue
            if not cells:
                continue  # an empty line
            if len(records) >= bounds.max_rows:
                raise too_large(field, "rows", CSV_TOO_MANY_ROWS(count=bounds.max_rows))
            records.append(CsvRecord(number, reader.line_num, cells))
    except csv.Error as exc:
        if "field limit" in str(exc):  # csv's own (process-wide) limit, met before ours
            raise DocumentRefused(
                field,
                "field_size",
                CSV_LONG_VALUE(row=number + 1, count=bounds.max_field_chars),
            ) from None
        raise DocumentRefused(field, "syntax", NOT_CSV(row=number + 1, error=str(exc))) from None
    if header is None:
        raise DocumentRefused(field, "syntax", CSV_EMPTY())
    return CsvTable(header, records, delimiter, name)


# -- JSON -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonBounds:
    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64


def json_depth_exceeded(value: Any, max_depth: int) -> bool:
    """Whether a parsed JSON value nests deeper than `max_depth` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def load_json(
    content: bytes | str, *, field: str = "body", bounds: JsonBounds = JsonBounds()
) -> Any:
    """A JSON value read within `bounds` (size, then depth)."""
    check_size(content, bounds.max_bytes, field)
    try:
        value = json.loads(content)
    except RecursionError:
        raise DocumentRefused(field, "depth", TOO_DEEP(levels=bounds.max_depth)) from None
    except UnicodeDecodeError:
        raise DocumentRefused(field, "encoding", NOT_UTF8_TEXT()) from None
    except ValueError as exc:
        raise DocumentRefused(field, "syntax", DOCUMENT_NOT_JSON(error=str(exc))) from None
    if json_depth_exceeded(value, bounds.max_depth):
        raise DocumentRefused(field, "depth", TOO_DEEP(levels=bounds.max_depth))
    return value


# -- read before the transaction --------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReadFirst(Generic[T]):
    """A document read by a dependency that runs before the request's session is touched.

    A refusal is kept, not raised, so that an unauthenticated caller still gets 401 and a
    caller of the wrong role 403: `get()` raises it once the handler runs, after
    authentication. The parse itself (bounded) has happened outside any transaction.
    """

    value: T | None = None
    error: DomainError | RequestValidationError | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


async def read_first(parse: Callable[..., T], *args: Any) -> ReadFirst[T]:
    """Run `parse(*args)` in a worker thread (it may take a few milliseconds) and keep its
    result or its refusal for the handler."""
    try:
        return ReadFirst(value=await run_in_threadpool(parse, *args))
    except (DomainError, RequestValidationError) as exc:
        return ReadFirst(error=exc)

"""Schedule files (`schedules/*.yaml`): parse, validate, and report every mistake.

Treasurers write these by hand, so each mistake is reported with the file, the field path
(`versions[0].split[1].percent`) and what was expected, never as a traceback. Validation has
two steps: the structure (Pydantic), then the meaning (amounts exact in the currency, percents
summing to 100, fields that fit the rhythm, funds that exist), so that one pass finds every
error there is.

A file is read by the bounded YAML loader (`app.core.documents.load_yaml`): no aliases or
anchors (a schedule never needs them, and they are how a 377-byte "billion laughs" file
expands without end), at most 256 KiB, 32 levels and 50,000 values. `read_schedule` reads
and checks a file without the database, so the API and the CLI do it before their transaction
begins; only the funds and the currency are checked inside it (`check_schedule`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app.core.documents import DocumentRefused, YamlBounds, check_size, decode_utf8, load_yaml
from app.core.errors import ValidationFailed
from app.core.money import MoneyError, check_currency, format_minor, parse_minor
from app.core.schemas import EARLIEST_DATE, LATEST_DATE, unstorable_text

SchemeKind = Literal["daily_per_unit", "per_harvest", "monthly"]
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
"""Index = day of week as SQLite's %w and PostgreSQL's dow count it (Sunday 0)."""

MAX_DUE_MINOR = 10**11
"""Largest amount (and declared income) in minor units a scheme may name. Dues are computed in
64-bit integer SQL on both databases; this bound keeps every intermediate product in range."""
SCHEDULE_BOUNDS = YamlBounds()
MAX_SCHEDULE_BYTES = SCHEDULE_BOUNDS.max_bytes
PERCENT_DECIMALS = 4
"""Percents may have at most this many decimals (rates are exact parts per million)."""

_PERCENT_RE = re.compile(r"^\d{1,3}(\.\d{1,4})?$")


def _percent_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('a percent is a quoted decimal string such as "5.5"')
    text = str(value).strip()
    if not _PERCENT_RE.match(text):
        raise ValueError(
            f'{text[:20]!r} is not a percent such as "5" or "5.5" '
            f"(at most {PERCENT_DECIMALS} decimals)"
        )
    if Decimal(text) > 100:
        raise ValueError("a percent is at most 100")
    return text


Percent = Annotated[str, BeforeValidator(_percent_text)]


def _weekday(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in WEEKDAYS:
        raise ValueError(f"a weekday name: {', '.join(WEEKDAYS[1:] + WEEKDAYS[:1])}")
    return value.strip().lower()


Weekday = Annotated[str, BeforeValidator(_weekday)]


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Fee(_FileModel):
    percent: Percent


class SplitPart(_FileModel):
    fund: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$", description="a fund code")
    percent: Percent


class Penalty(_FileModel):
    percent_per_month: Percent
    after_days: int = Field(default=0, ge=0, le=3650)


class VersionFile(_FileModel):
    effective_from: date = Field(ge=EARLIEST_DATE, le=LATEST_DATE)
    amount: Any = Field(
        description='a fixed "50.00", or {percent_of_income|percent_of_declared, minimum?, maximum?}'
    )
    rest_days: list[Weekday] | None = None
    due_after_days: int | None = Field(default=None, ge=0, le=366)
    due_day: int | None = Field(default=None, ge=1, le=28)
    every_months: int | None = Field(default=None, ge=1, le=12)
    grace_days: int = Field(ge=0, le=3650)
    fee: Fee | None = None
    split: list[SplitPart] = Field(min_length=1, max_length=20)
    penalty: Penalty | None = None


class ScheduleFile(_FileModel):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    kind: SchemeKind
    currency: str
    versions: list[VersionFile] = Field(min_length=1, max_length=200)


_FIELDS = {
    "top": list(ScheduleFile.model_fields),
    "version": list(VersionFile.model_fields),
    "fee": list(Fee.model_fields),
    "split": list(SplitPart.model_fields),
    "penalty": list(Penalty.model_fields),
}


@dataclass(frozen=True, slots=True)
class ScheduleError:
    path: str
    message: str
    bound: str | None = None
    """The document bound the file broke (`aliases`, `depth`, ...), if that is the error."""

    def render(self, source: str) -> str:
        return f"{source}: {self.path}: {self.message}"


class ScheduleInvalid(ValidationFailed):
    """A schedule that cannot be loaded: every error, each with its field path (422)."""

    def __init__(self, source: str, errors: Sequence[ScheduleError]) -> None:
        self.source = source
        self.schedule_errors = list(errors)
        first = self.schedule_errors[0]
        more = len(errors) - 1
        detail = f"{source}: {first.path}: {first.message}" + (
            f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        )
        super().__init__(
            detail,
            errors=[
                {"field": e.path, "message": e.message}
                | ({"type": "document_bound", "bound": e.bound} if e.bound else {})
                for e in self.schedule_errors
            ],
        )


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    if len(loc) <= 1:
        return _FIELDS["top"]
    if loc[0] == "versions" and len(loc) == 3:
        return _FIELDS["version"]
    if loc[0] == "versions" and len(loc) >= 4 and loc[2] in ("fee", "split", "penalty"):
        return _FIELDS[str(loc[2])]
    return []


def _message(err: Any) -> str:
    kind, loc = err["type"], tuple(err["loc"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = _known_fields(loc)
        return "unknown field" + (f" (expected one of: {', '.join(known)})" if known else "")
    msg = str(err["msg"])
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def parse_text(text: str | bytes, source: str) -> dict[str, Any]:
    """YAML (or JSON, which is YAML) text to a mapping, within the schedule bounds; a syntax
    error names line and column, a broken bound names the bound (413 for the size)."""
    try:
        data = load_yaml(text, field="(file)", bounds=SCHEDULE_BOUNDS)
    except DocumentRefused as exc:
        raise ScheduleInvalid(
            source, [ScheduleError(exc.where or "(file)", exc.reason, exc.bound)]
        ) from None
    if not isinstance(data, dict):
        raise ScheduleInvalid(
            source,
            [
                ScheduleError(
                    "(file)", "expected a mapping with code, name, kind, currency, versions"
                )
            ],
        )
    reason = unstorable_text(data)
    if reason:
        raise ScheduleInvalid(source, [ScheduleError("(file)", reason)])
    return data


def _amount_errors(
    where: str, kind: str, raw: Any, currency: str | None
) -> tuple[list[ScheduleError], Any]:
    """Check one version's `amount`; return errors and the normalised amount."""
    errors: list[ScheduleError] = []
    percent_key = {"monthly": "percent_of_income", "per_harvest": "percent_of_declared"}.get(kind)

    def money(path: str, value: Any) -> str | None:
        if isinstance(value, bool | float) or not isinstance(value, str | int):
            errors.append(
                ScheduleError(path, 'an amount is a quoted decimal string such as "50.00"')
            )
            return None
        if currency is None:
            return str(value)
        try:
            minor = parse_minor(str(value), currency)
        except MoneyError as exc:
            errors.append(ScheduleError(path, str(exc)))
            return None
        if minor <= 0:
            errors.append(ScheduleError(path, "must be greater than zero"))
        elif minor > MAX_DUE_MINOR:
            errors.append(
                ScheduleError(path, f"at most {format_minor(MAX_DUE_MINOR, currency)} {currency}")
            )
        return format_minor(minor, currency)

    if not isinstance(raw, dict):
        return errors, money(where, raw)
    if percent_key is None:
        errors.append(
            ScheduleError(where, 'a daily_per_unit scheme has a fixed amount such as "50.00"')
        )
        return errors, None
    allowed = {percent_key, "minimum", "maximum"}
    for key in sorted(set(raw) - allowed):
        errors.append(
            ScheduleError(
                f"{where}.{key}", f"unknown field (expected one of: {', '.join(sorted(allowed))})"
            )
        )
    out: dict[str, str] = {}
    if percent_key not in raw:
        errors.append(
            ScheduleError(
                f"{where}.{percent_key}",
                f"required field is missing ({kind} takes a share of {'income' if kind == 'monthly' else 'the declared harvest value'})",
            )
        )
    else:
        try:
            out[percent_key] = _percent_text(raw[percent_key])
            if Decimal(out[percent_key]) == 0:
                errors.append(ScheduleError(f"{where}.{percent_key}", "must be greater than zero"))
        except ValueError as exc:
            errors.append(ScheduleError(f"{where}.{percent_key}", str(exc)))
    for key in ("minimum", "maximum"):
        if key in raw:
            value = money(f"{where}.{key}", raw[key])
            if value is not None:
                out[key] = value
    if (
        currency
        and "minimum" in out
        and "maximum" in out
        and parse_minor(out["minimum"], currency) > parse_minor(out["maximum"], currency)
    ):
        errors.append(ScheduleError(f"{where}.maximum", "must not be less than minimum"))
    return errors, out


_KIND_FIELDS = {
    # field: (kinds where it is allowed, kinds where it is required)
    "rest_days": ({"daily_per_unit"}, set()),
    "due_after_days": ({"daily_per_unit", "per_harvest"}, set()),
    "due_day": ({"monthly"}, {"monthly"}),
    "every_months": ({"per_harvest"}, {"per_harvest"}),
}


def _version_errors(
    i: int, v: VersionFile, kind: str, currency: str | None
) -> tuple[list[ScheduleError], dict[str, Any]]:
    where = f"versions[{i}]"
    errors, amount = _amount_errors(f"{where}.amount", kind, v.amount, currency)
    for name, (allowed, required) in _KIND_FIELDS.items():
        value = getattr(v, name)
        if value is not None and kind not in allowed:
            errors.append(
                ScheduleError(
                    f"{where}.{name}",
                    f"not used by a {kind} scheme (only {', '.join(sorted(allowed))})",
                )
            )
        if value is None and kind in required:
            errors.append(ScheduleError(f"{where}.{name}", f"required for a {kind} scheme"))
    if v.rest_days is not None and len(set(v.rest_days)) >= 7:
        errors.append(
            ScheduleError(
                f"{where}.rest_days", "at least one day of the week must be a working day"
            )
        )
    total = sum((Decimal(p.percent) for p in v.split), Decimal(0))
    if total != 100:
        errors.append(
            ScheduleError(f"{where}.split", f"percents must sum to 100 (they sum to {total})")
        )
    seen: set[str] = set()
    for j, part in enumerate(v.split):
        if part.fund in seen:
            errors.append(ScheduleError(f"{where}.split[{j}].fund", f"{part.fund} is named twice"))
        seen.add(part.fund)
        if Decimal(part.percent) == 0:
            errors.append(ScheduleError(f"{where}.split[{j}].percent", "must be greater than zero"))
    if v.fee is not None and Decimal(v.fee.percent) >= 100:
        errors.append(
            ScheduleError(f"{where}.fee.percent", "the fee must be less than 100 percent")
        )
    if v.penalty is not None and Decimal(v.penalty.percent_per_month) == 0:
        errors.append(
            ScheduleError(f"{where}.penalty.percent_per_month", "must be greater than zero")
        )
    rules: dict[str, Any] = v.model_dump(mode="json", exclude_none=True)
    rules["amount"] = amount
    if kind in ("daily_per_unit", "per_harvest"):
        rules.setdefault("due_after_days", 0)
    if v.rest_days is not None:
        rules["rest_days"] = sorted(set(v.rest_days), key=WEEKDAYS.index)
    return errors, rules


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule: the scheme and each version's rules as stored."""

    code: str
    name: str
    kind: str
    currency: str
    versions: list[dict[str, Any]]

    def fund_codes(self) -> set[str]:
        return {s["fund"] for v in self.versions for s in v["split"]}


def validate(
    data: dict[str, Any], source: str, *, known_funds: Iterable[str] | None = None
) -> Schedule:
    """Validate a parsed schedule; raise ScheduleInvalid listing every error found.

    With `known_funds`, every fund named in a split must be one of them.
    """
    try:
        parsed = ScheduleFile.model_validate(data)
    except ValidationError as exc:
        structural = [ScheduleError(_path(e["loc"]), _message(e)) for e in exc.errors()]
        # the meaning can still be checked where the structure allows, for a complete report
        raise ScheduleInvalid(source, structural + _loose_checks(data)) from None
    errors: list[ScheduleError] = []
    currency: str | None = parsed.currency
    try:
        check_currency(parsed.currency)
    except MoneyError as exc:
        errors.append(ScheduleError("currency", str(exc)))
        currency = None
    versions = []
    for i, v in enumerate(parsed.versions):
        errs, rules = _version_errors(i, v, parsed.kind, currency)
        errors += errs
        versions.append(rules)
        if i and v.effective_from <= parsed.versions[i - 1].effective_from:
            errors.append(
                ScheduleError(
                    f"versions[{i}].effective_from",
                    f"must be after versions[{i - 1}].effective_from "
                    f"({parsed.versions[i - 1].effective_from}): versions are listed in date order",
                )
            )
    if known_funds is not None:
        errors += _fund_errors(versions, known_funds)
    if errors:
        raise ScheduleInvalid(source, errors)
    return Schedule(parsed.code, parsed.name, parsed.kind, parsed.currency, versions)


def _fund_errors(versions: list[dict[str, Any]], known_funds: Iterable[str]) -> list[ScheduleError]:
    known = set(known_funds)
    errors = []
    for i, v in enumerate(versions):
        for j, part in enumerate(v["split"]):
            if part["fund"] not in known:
                listed = ", ".join(sorted(known)) or "none yet"
                errors.append(
                    ScheduleError(
                        f"versions[{i}].split[{j}].fund",
                        f"no fund {part['fund']} in this organisation (funds: {listed})",
                    )
                )
    return errors


def _loose_checks(data: dict[str, Any]) -> list[ScheduleError]:
    """Meaning checks on a structurally broken file: split sums, where they can be read."""
    errors: list[ScheduleError] = []
    versions = data.get("versions")
    if not isinstance(versions, list):
        return errors
    for i, v in enumerate(versions):
        split = v.get("split") if isinstance(v, dict) else None
        if not isinstance(split, list) or not split:
            continue
        try:
            total = sum(Decimal(_percent_text(p["percent"])) for p in split)
        except (ValueError, TypeError, KeyError, ArithmeticError):
            continue
        if total != 100:
            errors.append(
                ScheduleError(
                    f"versions[{i}].split", f"percents must sum to 100 (they sum to {total})"
                )
            )
    return errors


def load_text(text: str, source: str, *, known_funds: Iterable[str] | None = None) -> Schedule:
    """Parse and validate schedule text (YAML or JSON)."""
    return validate(parse_text(text, source), source, known_funds=known_funds)


@dataclass(frozen=True, slots=True)
class ScheduleUpload:
    """A schedule file read and checked without the database (before any transaction).

    `schedule` is None when the file has errors of its own; `check_schedule` then reports
    them together with the funds it names that do not exist, in one list.
    """

    text: str
    data: dict[str, Any]
    schedule: Schedule | None


def read_schedule(content: str | bytes, source: str) -> ScheduleUpload:
    """Read a schedule file within its bounds and check what needs no database.

    Raises 413 (`PayloadTooLarge`) past `MAX_SCHEDULE_BYTES` and `ScheduleInvalid` (422) for
    a file that cannot be read (syntax, a bound); a readable file with mistakes is returned,
    its mistakes reported by `check_schedule`."""
    check_size(content, MAX_SCHEDULE_BYTES, "body")
    if isinstance(content, bytes):
        try:
            content = decode_utf8(content, "body", "a schedule")
        except DocumentRefused as exc:
            raise ScheduleInvalid(
                source, [ScheduleError("(file)", exc.reason, exc.bound)]
            ) from None
    data = parse_text(content, source)
    try:
        schedule: Schedule | None = validate(data, source)
    except ScheduleInvalid:
        schedule = None
    return ScheduleUpload(content, data, schedule)


def check_schedule(upload: ScheduleUpload, source: str, known_funds: Iterable[str]) -> Schedule:
    """The upload's schedule once every fund it names exists; else every error, in one list."""
    if upload.schedule is None:
        return validate(upload.data, source, known_funds=known_funds)  # raises the full report
    errors = _fund_errors(upload.schedule.versions, known_funds)
    if errors:
        raise ScheduleInvalid(source, errors)
    return upload.schedule

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
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app.core.documents import DocumentRefused, YamlBounds, check_size, decode_utf8, load_yaml
from app.core.errors import ValidationFailed
from app.core.messages import MUST_BE_POSITIVE, N_, FieldError, Message, Template, from_pydantic
from app.core.money import MoneyError, check_currency, format_minor, parse_minor
from app.core.schemas import EARLIEST_DATE, LATEST_DATE, unstorable
from app.core.vocabulary import Vocabulary
from app.schemes.models import SchemeKind


class Weekday(Vocabulary):
    """A day of the week as a schedule file names it (`rest_days`), in the order SQLite's %w
    and PostgreSQL's dow count them (Sunday 0)."""

    sunday = "sunday"
    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"


WEEKDAYS = Weekday.values()
"""Index = day of week as SQLite's %w and PostgreSQL's dow count it (Sunday 0)."""

MAX_DUE_MINOR = 10**11
"""Largest amount (and declared income) in minor units a scheme may name. Dues are computed in
64-bit integer SQL on both databases; this bound keeps every intermediate product in range."""
SCHEDULE_BOUNDS = YamlBounds()
MAX_SCHEDULE_BYTES = SCHEDULE_BOUNDS.max_bytes
PERCENT_DECIMALS = 4
"""Percents may have at most this many decimals (rates are exact parts per million)."""

_PERCENT_RE = re.compile(r"^\d{1,3}(\.\d{1,4})?$")

# -- what a schedule file's checker says -----------------------------------------------------

PERCENT_NOT_TEXT = Template(
    "schedule.percent_not_text", N_('a percent is a quoted decimal string such as "5.5"')
)
NOT_A_PERCENT = Template(
    "schedule.not_a_percent",
    N_('%(text)s is not a percent such as "5" or "5.5" (at most %(count)s decimals)'),
)
PERCENT_OVER_100 = Template("schedule.percent_over_100", N_("a percent is at most 100"))
NOT_A_WEEKDAY = Template("schedule.not_a_weekday", N_("a weekday name: %(days)s"))
FIELD_MISSING = Template("schedule.field_missing", N_("required field is missing"))
UNKNOWN_FIELD = Template("schedule.unknown_field", N_("unknown field"))
UNKNOWN_FIELD_OF = Template(
    "schedule.unknown_field_of", N_("unknown field (expected one of: %(fields)s)")
)
NOT_A_MAPPING = Template(
    "schedule.not_a_mapping", N_("expected a mapping with code, name, kind, currency, versions")
)
AMOUNT_NOT_TEXT = Template(
    "schedule.amount_not_text", N_('an amount is a quoted decimal string such as "50.00"')
)
AT_MOST_AMOUNT = Template("scheme.amount_too_large", N_("at most %(amount)s"))
FIXED_AMOUNT_ONLY = Template(
    "schedule.fixed_amount_only", N_('a daily_per_unit scheme has a fixed amount such as "50.00"')
)
SHARE_OF_INCOME_MISSING = Template(
    "schedule.share_of_income_missing",
    N_("required field is missing (%(kind)s takes a share of income)"),
)
SHARE_OF_DECLARED_MISSING = Template(
    "schedule.share_of_declared_missing",
    N_("required field is missing (%(kind)s takes a share of the declared harvest value)"),
)
MAXIMUM_BELOW_MINIMUM = Template(
    "schedule.maximum_below_minimum", N_("must not be less than minimum")
)
FIELD_NOT_USED = Template(
    "schedule.field_not_used", N_("not used by a %(kind)s scheme (only %(kinds)s)")
)
FIELD_REQUIRED = Template("schedule.field_required", N_("required for a %(kind)s scheme"))
NO_WORKING_DAY = Template(
    "schedule.no_working_day", N_("at least one day of the week must be a working day")
)
SPLIT_NOT_100 = Template(
    "schedule.split_not_100", N_("percents must sum to 100 (they sum to %(total)s)")
)
FUND_TWICE = Template("schedule.fund_named_twice", N_("%(fund)s is named twice"))
FEE_TOO_HIGH = Template("schedule.fee_too_high", N_("the fee must be less than 100 percent"))
VERSIONS_OUT_OF_ORDER = Template(
    "schedule.versions_out_of_order",
    N_(
        "must be after versions[%(index)s].effective_from (%(day)s): versions are listed in "
        "date order"
    ),
)
NO_FUND = Template(
    "schedule.no_fund", N_("no fund %(fund)s in this organisation (funds: %(funds)s)")
)
NO_FUND_YET = Template(
    "schedule.no_fund_yet", N_("no fund %(fund)s in this organisation (funds: none yet)")
)


def _refused(exc: DocumentRefused) -> Message:
    """What the bounded reader refused, without where (the schedule's path says where)."""
    return exc.reason_message


def declared_amount(
    text: str | None, currency: str, field: str, *, positive: bool = False
) -> int | None:
    """A declared income or harvest value in minor units (None if not given): 422 naming
    `field` if it is not an amount of `currency`, is past what a scheme may name
    (`MAX_DUE_MINOR`), or (`positive`) is not greater than zero."""
    if text is None:
        return None
    try:
        value = parse_minor(text, currency)
    except MoneyError as exc:
        raise ValidationFailed.field(field, exc.message) from None
    if positive and value <= 0:
        raise ValidationFailed.field(field, MUST_BE_POSITIVE())
    if value > MAX_DUE_MINOR:
        raise ValidationFailed.field(
            field, AT_MOST_AMOUNT(amount=format_minor(MAX_DUE_MINOR, currency))
        )
    return value


def _percent_problem(value: object) -> Message | None:
    """What is wrong with a percent (None: it is one)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return PERCENT_NOT_TEXT()
    text = str(value).strip()
    if not _PERCENT_RE.match(text):
        return NOT_A_PERCENT(text=repr(text[:20]), count=PERCENT_DECIMALS)
    if Decimal(text) > 100:
        return PERCENT_OVER_100()
    return None


def _percent_text(value: object) -> str:
    problem = _percent_problem(value)
    if problem is not None:
        raise problem.template.pydantic(**problem.params)
    return str(value).strip()


Percent = Annotated[str, BeforeValidator(_percent_text)]


def _weekday(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in WEEKDAYS:
        raise NOT_A_WEEKDAY.pydantic(days=list(WEEKDAYS[1:] + WEEKDAYS[:1]))
    return value.strip().lower()


WeekdayName = Annotated[str, BeforeValidator(_weekday)]


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
    rest_days: list[WeekdayName] | None = None
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


def broken_bound(path: str, message: Message, bound: str) -> FieldError:
    """A schedule's error that is a document bound the file broke (`aliases`, `depth`, ...)."""
    return FieldError(path, message, {"type": "document_bound", "bound": bound})


def schedule_detail(source: str, errors: Sequence[FieldError]) -> str:
    """`source: path: message` of the first error, and how many more there are."""
    first, more = errors[0], len(errors) - 1
    return f"{source}: {first.field}: {first.message.english()}" + (
        f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    )


class ScheduleInvalid(ValidationFailed):
    """A schedule that cannot be loaded: every error, each with its field path (422). Its
    code is the first error's; `detail` names the file, the path and how many more there are."""

    def __init__(self, source: str, errors: Sequence[FieldError]) -> None:
        self.source = source
        super().__init__(errors=list(errors))
        self.detail = schedule_detail(source, self.errors)
        self.args = (self.detail,)


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


def _message(err: Any) -> Message:
    kind, loc = err["type"], tuple(err["loc"])
    if kind == "missing":
        return FIELD_MISSING()
    if kind == "extra_forbidden":
        known = _known_fields(loc)
        return UNKNOWN_FIELD_OF(fields=known) if known else UNKNOWN_FIELD()
    msg = str(err["msg"])
    return from_pydantic(err, msg.removeprefix("Value error, "))


def parse_text(text: str | bytes, source: str) -> dict[str, Any]:
    """YAML (or JSON, which is YAML) text to a mapping, within the schedule bounds; a syntax
    error names line and column, a broken bound names the bound (413 for the size)."""
    try:
        data = load_yaml(text, field="(file)", bounds=SCHEDULE_BOUNDS)
    except DocumentRefused as exc:
        where = exc.where or "(file)"
        raise ScheduleInvalid(source, [broken_bound(where, _refused(exc), exc.bound)]) from None
    if not isinstance(data, dict):
        raise ScheduleInvalid(source, [FieldError("(file)", NOT_A_MAPPING())])
    reason = unstorable(data)
    if reason is not None:
        raise ScheduleInvalid(source, [FieldError("(file)", reason)])
    return data


def _amount_errors(
    where: str, kind: SchemeKind, raw: Any, currency: str | None
) -> tuple[list[FieldError], Any]:
    """Check one version's `amount`; return errors and the normalised amount."""
    errors: list[FieldError] = []
    share = kind.share
    percent_key = None if share is None else share.value

    def money(path: str, value: Any) -> str | None:
        if isinstance(value, bool | float) or not isinstance(value, str | int):
            errors.append(FieldError(path, AMOUNT_NOT_TEXT()))
            return None
        if currency is None:
            return str(value)
        try:
            minor = parse_minor(str(value), currency)
        except MoneyError as exc:
            errors.append(FieldError(path, exc.message))
            return None
        if minor <= 0:
            errors.append(FieldError(path, MUST_BE_POSITIVE()))
        elif minor > MAX_DUE_MINOR:
            largest = f"{format_minor(MAX_DUE_MINOR, currency)} {currency}"
            errors.append(FieldError(path, AT_MOST_AMOUNT(amount=largest)))
        return format_minor(minor, currency)

    if not isinstance(raw, dict):
        return errors, money(where, raw)
    if percent_key is None:
        errors.append(FieldError(where, FIXED_AMOUNT_ONLY()))
        return errors, None
    allowed = {percent_key, "minimum", "maximum"}
    for key in sorted(set(raw) - allowed):
        errors.append(FieldError(f"{where}.{key}", UNKNOWN_FIELD_OF(fields=sorted(allowed))))
    out: dict[str, str] = {}
    if percent_key not in raw:
        missing = (
            SHARE_OF_INCOME_MISSING if kind == SchemeKind.monthly else SHARE_OF_DECLARED_MISSING
        )
        errors.append(FieldError(f"{where}.{percent_key}", missing(kind=kind)))
    else:
        problem = _percent_problem(raw[percent_key])
        if problem is not None:
            errors.append(FieldError(f"{where}.{percent_key}", problem))
        else:
            out[percent_key] = str(raw[percent_key]).strip()
            if Decimal(out[percent_key]) == 0:
                errors.append(FieldError(f"{where}.{percent_key}", MUST_BE_POSITIVE()))
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
        errors.append(FieldError(f"{where}.maximum", MAXIMUM_BELOW_MINIMUM()))
    return errors, out


_DAILY, _HARVEST, _MONTHLY = SchemeKind.daily_per_unit, SchemeKind.per_harvest, SchemeKind.monthly
_KIND_FIELDS: dict[str, tuple[set[SchemeKind], set[SchemeKind]]] = {
    # field: (kinds where it is allowed, kinds where it is required)
    "rest_days": ({_DAILY}, set()),
    "due_after_days": ({_DAILY, _HARVEST}, set()),
    "due_day": ({_MONTHLY}, {_MONTHLY}),
    "every_months": ({_HARVEST}, {_HARVEST}),
}


def _version_errors(
    i: int, v: VersionFile, kind: SchemeKind, currency: str | None
) -> tuple[list[FieldError], dict[str, Any]]:
    where = f"versions[{i}]"
    errors, amount = _amount_errors(f"{where}.amount", kind, v.amount, currency)
    for name, (allowed, required) in _KIND_FIELDS.items():
        value = getattr(v, name)
        if value is not None and kind not in allowed:
            errors.append(
                FieldError(f"{where}.{name}", FIELD_NOT_USED(kind=kind, kinds=sorted(allowed)))
            )
        if value is None and kind in required:
            errors.append(FieldError(f"{where}.{name}", FIELD_REQUIRED(kind=kind)))
    if v.rest_days is not None and len(set(v.rest_days)) >= 7:
        errors.append(FieldError(f"{where}.rest_days", NO_WORKING_DAY()))
    total = sum((Decimal(p.percent) for p in v.split), Decimal(0))
    if total != 100:
        errors.append(FieldError(f"{where}.split", SPLIT_NOT_100(total=total)))
    seen: set[str] = set()
    for j, part in enumerate(v.split):
        if part.fund in seen:
            errors.append(FieldError(f"{where}.split[{j}].fund", FUND_TWICE(fund=part.fund)))
        seen.add(part.fund)
        if Decimal(part.percent) == 0:
            errors.append(FieldError(f"{where}.split[{j}].percent", MUST_BE_POSITIVE()))
    if v.fee is not None and Decimal(v.fee.percent) >= 100:
        errors.append(FieldError(f"{where}.fee.percent", FEE_TOO_HIGH()))
    if v.penalty is not None and Decimal(v.penalty.percent_per_month) == 0:
        errors.append(FieldError(f"{where}.penalty.percent_per_month", MUST_BE_POSITIVE()))
    rules: dict[str, Any] = v.model_dump(mode="json", exclude_none=True)
    rules["amount"] = amount
    if kind in (_DAILY, _HARVEST):
        rules.setdefault("due_after_days", 0)
    if v.rest_days is not None:
        rules["rest_days"] = sorted(set(v.rest_days), key=WEEKDAYS.index)
    return errors, rules


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule: the scheme and each version's rules as stored."""

    code: str
    name: str
    kind: SchemeKind
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
        structural = [FieldError(_path(e["loc"]), _message(e)) for e in exc.errors()]
        # the meaning can still be checked where the structure allows, for a complete report
        raise ScheduleInvalid(source, structural + _loose_checks(data)) from None
    errors: list[FieldError] = []
    currency: str | None = parsed.currency
    try:
        check_currency(parsed.currency)
    except MoneyError as exc:
        errors.append(FieldError("currency", exc.message))
        currency = None
    versions = []
    for i, v in enumerate(parsed.versions):
        errs, rules = _version_errors(i, v, parsed.kind, currency)
        errors += errs
        versions.append(rules)
        if i and v.effective_from <= parsed.versions[i - 1].effective_from:
            earlier = parsed.versions[i - 1].effective_from
            errors.append(
                FieldError(
                    f"versions[{i}].effective_from", VERSIONS_OUT_OF_ORDER(index=i - 1, day=earlier)
                )
            )
    if known_funds is not None:
        errors += _fund_errors(versions, known_funds)
    if errors:
        raise ScheduleInvalid(source, errors)
    return Schedule(parsed.code, parsed.name, parsed.kind, parsed.currency, versions)


def _fund_errors(versions: list[dict[str, Any]], known_funds: Iterable[str]) -> list[FieldError]:
    known = sorted(set(known_funds))
    errors = []
    for i, v in enumerate(versions):
        for j, part in enumerate(v["split"]):
            if part["fund"] not in known:
                fund = part["fund"]
                message = NO_FUND(fund=fund, funds=known) if known else NO_FUND_YET(fund=fund)
                errors.append(FieldError(f"versions[{i}].split[{j}].fund", message))
    return errors


def _loose_checks(data: dict[str, Any]) -> list[FieldError]:
    """Meaning checks on a structurally broken file: split sums, where they can be read."""
    errors: list[FieldError] = []
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
            errors.append(FieldError(f"versions[{i}].split", SPLIT_NOT_100(total=total)))
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
                source, [broken_bound("(file)", _refused(exc), exc.bound)]
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

"""Schemes and their versions, harvests, and the dues-created hook.

Dues generation is in `generation.py`, standing and arrears in `standing.py`, quotes in
`quote.py`. Services never commit: the request's (or the CLI's) unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import N_, FieldError, Template
from app.core.money import format_minor
from app.funds.service import funds_by_code, organisation_currency
from app.members.messages import NO_SUCH_MEMBER
from app.members.models import Member
from app.schemes.models import Due, Enrolment, Harvest, Scheme, SchemeKind, SchemeVersion
from app.schemes.schedule import (
    Schedule,
    ScheduleInvalid,
    ScheduleUpload,
    check_schedule,
    declared_amount,
    read_schedule,
    schedule_detail,
)
from app.schemes.terms import Terms, terms

SCHEME_NOT_FOUND = Template("scheme.not_found", N_("no scheme %(code)s"))
NO_SUCH_SCHEME = Template(
    "scheme.not_in_organisation", N_("no scheme %(scheme)s in this organisation")
)
NO_VERSION_ON = Template(
    "scheme.no_version_on", N_("%(scheme)s has no version in force on %(day)s")
)
NOT_ORGANISATION_CURRENCY = Template(
    "schedule.not_organisation_currency", N_("must be the organisation's currency (%(currency)s)")
)
KIND_CHANGED = Template(
    "scheme.kind_changed", N_("scheme %(scheme)s is %(kind)s; a kind never changes")
)
VERSION_CHANGED = Template(
    "scheme.version_changed",
    N_(
        "version %(version)s (effective %(day)s) is already loaded with other rules; versions "
        "never change: add a version with a later effective_from instead"
    ),
)
VERSION_BEFORE_LATEST = Template(
    "scheme.version_before_latest", N_("must be after the latest loaded version's (%(day)s)")
)
VERSION_BEFORE_DUES = Template(
    "scheme.version_before_dues",
    N_(
        "dues of %(scheme)s exist through %(day)s; a new version must be effective after that, "
        "so that it never rewrites an old due"
    ),
)
NOT_PER_HARVEST = Template(
    "harvest.scheme_not_per_harvest", N_("scheme %(scheme)s is %(kind)s, not per_harvest")
)
NOT_ENROLLED = Template(
    "harvest.not_enrolled", N_("member %(number)s is not enrolled in %(scheme)s on %(day)s")
)
DECLARED_VALUE_MISSING = Template(
    "harvest.declared_value_missing",
    N_("%(scheme)s takes a share of the declared harvest value: give it"),
)
DUE_WOULD_BE_ZERO = Template("harvest.due_zero", N_("too small: the due would be zero"))
HARVEST_RECORDED = Template(
    "harvest.recorded_already",
    N_("a harvest of member %(number)s in %(scheme)s on %(day)s is recorded already"),
)

Payer = tuple[str, uuid.UUID]
"""("member" | "unit", id): whoever a due is owed by."""

DuesCreatedHook = Callable[[Session, Actor, set[Payer]], None]

DUES_CREATED_HOOKS: list[DuesCreatedHook] = []
"""Called once at the end of dues generation and of harvest recording, in the same
transaction, with the set of payers that got new dues. Collections registers the hook that
applies a payer's prepaid credit to its new dues. Called once per run, never per due."""


def run_dues_created_hooks(session: Session, actor: Actor, payers: set[Payer]) -> None:
    """Tell every registered hook which payers got new dues (nothing to do for none)."""
    if not payers:
        return
    for hook in DUES_CREATED_HOOKS:
        hook(session, actor, payers)


# -- schemes and versions -----------------------------------------------------------------------


def get_scheme(session: Session, code: str) -> Scheme:
    """The scheme with this code in the caller's organisation (404 otherwise)."""
    scheme = session.scalar(select(Scheme).where(Scheme.code == code))
    if scheme is None:
        raise NotFound(SCHEME_NOT_FOUND(code=code))
    return scheme


def scheme_for_field(session: Session, code: str, field: str = "scheme_code") -> Scheme:
    """The scheme a request names in `field` (422 naming that field if there is none)."""
    scheme = session.scalar(select(Scheme).where(Scheme.code == code))
    if scheme is None:
        raise ValidationFailed.field(field, NO_SUCH_SCHEME(scheme=code))
    return scheme


def schemes_enrolling(session: Session, *, units: bool) -> list[Scheme]:
    """The schemes a transport unit (`units`) or a member may enrol in, by code."""
    kinds = [k.value for k in SchemeKind.enrolling(units)]
    return list(session.scalars(select(Scheme).where(Scheme.kind.in_(kinds)).order_by(Scheme.code)))


def versions_of(
    session: Session, scheme_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SchemeVersion]]:
    """Each scheme's versions, oldest first."""
    out: dict[uuid.UUID, list[SchemeVersion]] = {s: [] for s in scheme_ids}
    if not scheme_ids:
        return out
    rows = session.scalars(
        select(SchemeVersion)
        .where(SchemeVersion.scheme_id.in_(list(scheme_ids)))
        .order_by(SchemeVersion.scheme_id, SchemeVersion.effective_from)
    )
    for v in rows:
        out[v.scheme_id].append(v)
    return out


def version_on(versions: Sequence[SchemeVersion], day: date) -> SchemeVersion | None:
    """The version in force on `day` (the latest effective on or before it)."""
    found = None
    for v in versions:
        if v.effective_from <= day:
            found = v
    return found


def version_terms(version: SchemeVersion, currency: str) -> Terms:
    return terms(version.rules, currency)


@dataclass(frozen=True, slots=True)
class LoadResult:
    scheme: Scheme
    created: bool
    added: list[SchemeVersion]
    unchanged: int


def load_schedule(
    session: Session, actor: Actor, text: str | ScheduleUpload, source: str = "request body"
) -> LoadResult:
    """Load a schedule file: create the scheme, or add the versions it does not have yet.

    Versions are immutable: a version already stored is skipped if its rules are the same and
    refused (409) if they differ. A new version must be effective after every stored version
    and after every period dues were generated for, so that it never rewrites an old due.
    Every error is reported with its field path (422 ScheduleInvalid). Callers that hold
    a transaction read the file first (`read_schedule`, bounded) and pass the upload.
    """
    upload = text if isinstance(text, ScheduleUpload) else read_schedule(text, source)
    text = upload.text
    currency = organisation_currency(session)
    known = funds_by_code(session)
    schedule = check_schedule(upload, source, known)
    if schedule.currency != currency:
        raise ScheduleInvalid(
            source, [FieldError("currency", NOT_ORGANISATION_CURRENCY(currency=currency))]
        )
    scheme = session.scalar(select(Scheme).where(Scheme.code == schedule.code))
    created = scheme is None
    if scheme is None:
        scheme = Scheme(
            code=schedule.code, name=schedule.name, kind=schedule.kind, currency=currency
        )
        session.add(scheme)
        session.flush()
        audit.record(
            session,
            actor,
            "scheme.create",
            "scheme",
            scheme.id,
            {"code": scheme.code, "kind": scheme.kind, "source": source},
        )
    elif scheme.kind != schedule.kind:
        kind = SchemeKind(scheme.kind)
        raise ScheduleInvalid(
            source, [FieldError("kind", KIND_CHANGED(scheme=scheme.code, kind=kind))]
        )
    elif scheme.name != schedule.name:
        audit.record(
            session,
            actor,
            "scheme.rename",
            "scheme",
            scheme.id,
            {"from": scheme.name, "to": schedule.name},
        )
        scheme.name = schedule.name
    stored = {v.effective_from: v for v in versions_of(session, [scheme.id])[scheme.id]}
    new = _new_versions(session, scheme, schedule, stored, source)
    number = max((v.version for v in stored.values()), default=0)
    added = []
    for rules in new:
        number += 1
        version = SchemeVersion(
            scheme_id=scheme.id,
            version=number,
            effective_from=date.fromisoformat(rules["effective_from"]),
            rules=rules,
            source=text,
            created_by=actor.name,
        )
        session.add(version)
        added.append(version)
    session.flush()
    for version in added:
        audit.record(
            session,
            actor,
            "scheme_version.add",
            "scheme_version",
            version.id,
            {
                "scheme": scheme.code,
                "version": version.version,
                "effective_from": str(version.effective_from),
            },
        )
    return LoadResult(scheme, created, added, len(schedule.versions) - len(added))


def _new_versions(
    session: Session,
    scheme: Scheme,
    schedule: Schedule,
    stored: dict[date, SchemeVersion],
    source: str,
) -> list[dict[str, Any]]:
    errors: list[FieldError] = []
    new: list[tuple[int, dict[str, Any]]] = []
    for i, rules in enumerate(schedule.versions):
        on = date.fromisoformat(rules["effective_from"])
        if on in stored:
            if stored[on].rules != rules:
                changed = VERSION_CHANGED(version=stored[on].version, day=on)
                errors.append(FieldError(f"versions[{i}]", changed))
        else:
            new.append((i, rules))
    if new and stored:
        latest = max(stored)
        for i, rules in new:
            if date.fromisoformat(rules["effective_from"]) <= latest:
                errors.append(
                    FieldError(f"versions[{i}].effective_from", VERSION_BEFORE_LATEST(day=latest))
                )
    if new:
        reached = _dues_reach(session, scheme.id)
        if reached is not None:
            for i, rules in new:
                if date.fromisoformat(rules["effective_from"]) <= reached:
                    errors.append(
                        FieldError(
                            f"versions[{i}].effective_from",
                            VERSION_BEFORE_DUES(scheme=scheme.code, day=reached),
                        )
                    )
    if errors:
        raise SchemeVersionConflict(source, errors)
    return [rules for _, rules in new]


class SchemeVersionConflict(Conflict):
    """Loading would change a stored version or one that dues already used (409)."""

    def __init__(self, source: str, errors: Sequence[FieldError]) -> None:
        super().__init__(errors=list(errors))
        self.detail = schedule_detail(source, self.errors[:1])
        self.args = (self.detail,)


def _dues_reach(session: Session, scheme_id: uuid.UUID) -> date | None:
    """The last day dues of this scheme were generated for (or recorded, for harvests)."""
    generated = session.scalar(
        select(func.max(Enrolment.generated_through)).where(Enrolment.scheme_id == scheme_id)
    )
    harvested = session.scalar(
        select(func.max(Harvest.harvested_on)).where(Harvest.scheme_id == scheme_id)
    )
    days = [d for d in (generated, harvested) if d is not None]
    return max(days) if days else None


def list_versions(session: Session, scheme: Scheme) -> list[SchemeVersion]:
    return versions_of(session, [scheme.id])[scheme.id]


# -- harvests -----------------------------------------------------------------------------------


def _months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day where it has fewer days)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(y, m, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def record_harvest(
    session: Session,
    actor: Actor,
    *,
    member_id: uuid.UUID,
    scheme_code: str,
    harvested_on: date,
    declared_value: str | None,
) -> tuple[Harvest, Due]:
    """Record a harvest and create its due (one per member, scheme and day: 409 if recorded).

    The due covers the `every_months` months up to the harvest (from the enrolment's start if
    that is later), is due `due_after_days` after it, and is computed from the declared value
    for a share-of-value scheme (rounded half-up once). Runs the dues-created hooks.
    """
    scheme = scheme_for_field(session, scheme_code)
    if scheme.kind != SchemeKind.per_harvest:
        raise ValidationFailed.field(
            "scheme_code", NOT_PER_HARVEST(scheme=scheme.code, kind=SchemeKind(scheme.kind))
        )
    member = session.scalar(select(Member).where(Member.id == member_id))
    if member is None:
        raise ValidationFailed.field("member_id", NO_SUCH_MEMBER())
    enrolment = session.scalar(
        select(Enrolment)
        .where(
            Enrolment.member_id == member_id,
            Enrolment.scheme_id == scheme.id,
            Enrolment.starts_on <= harvested_on,
            (Enrolment.ends_on.is_(None)) | (Enrolment.ends_on >= harvested_on),
        )
        .order_by(Enrolment.starts_on.desc())
        .limit(1)
    )
    if enrolment is None:
        raise ValidationFailed.field(
            "harvested_on",
            NOT_ENROLLED(number=member.member_number, scheme=scheme.code, day=harvested_on),
        )
    version = version_on(list_versions(session, scheme), harvested_on)
    if version is None:
        raise ValidationFailed.field(
            "harvested_on", NO_VERSION_ON(scheme=scheme.code, day=harvested_on)
        )
    t = version_terms(version, scheme.currency)
    value = declared_amount(declared_value, scheme.currency, "declared_value", positive=True)
    if t.income_based and value is None:
        raise ValidationFailed.field("declared_value", DECLARED_VALUE_MISSING(scheme=scheme.code))
    amount = t.amount(value)
    if amount <= 0:
        raise ValidationFailed.field("declared_value", DUE_WOULD_BE_ZERO())
    start = max(
        enrolment.starts_on, _months_before(harvested_on, t.every_months or 1) + timedelta(days=1)
    )
    harvest = Harvest(
        member_id=member_id,
        scheme_id=scheme.id,
        harvested_on=harvested_on,
        declared_value=value,
        created_by=actor.name,
    )
    try:
        with session.begin_nested():
            session.add(harvest)
            session.flush()
    except IntegrityError:
        raise Conflict(
            HARVEST_RECORDED(number=member.member_number, scheme=scheme.code, day=harvested_on)
        ) from None
    due = Due(
        member_id=member_id,
        harvest_id=harvest.id,
        scheme_id=scheme.id,
        scheme_version_id=version.id,
        period_start=start,
        period_end=harvested_on,
        due_on=harvested_on + timedelta(days=t.due_after_days),
        currency=scheme.currency,
        amount=amount,
        paid=0,
    )
    session.add(due)
    session.flush()
    audit.record(
        session,
        actor,
        "harvest.record",
        "harvest",
        harvest.id,
        {
            "member_id": str(member_id),
            "scheme": scheme.code,
            "harvested_on": str(harvested_on),
            "declared_value": declared_value,
            "due_id": str(due.id),
            "amount": format_minor(amount, scheme.currency),
        },
    )
    run_dues_created_hooks(session, actor, {("member", member_id)})
    return harvest, due

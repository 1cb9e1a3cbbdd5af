"""Members: search and list, create, edit, and a member's page (standing, coverage per fund,
dues, statement, receipts)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import Response

from app.collections import reports as collection_reports
from app.collections.models import Receipt
from app.core.errors import DomainError
from app.funds import service as funds
from app.members import service as members
from app.members.models import Member, MemberStatus, TransportUnit, UnitCrew
from app.members.schemas import MemberCreate, MemberUpdate
from app.schemes import standing as standings
from app.schemes.models import Due, Scheme
from app.schemes.service import schemes_enrolling
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, Reader, WebUser
from app.web.routes.dashboard import today
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

FIELDS = ("member_number", "full_name", "national_id", "phone", "sector", "status", "joined_on")
PAGE_SIZE = 50


@router.get("/members")
def list_members(
    request: Request,
    db: DbSession,
    who: Reader,
    q: str | None = None,
    status: str | None = None,
    after: str | None = None,
) -> Response:
    q = (q or "").strip()[:100] or None
    status = status if status in MemberStatus.values() else None
    rows, nxt = members.search_members(
        db, q=q, status=status, limit=PAGE_SIZE, after=(after or None) and after[:32]
    )
    return render(
        request,
        "members/list.html",
        {
            "rows": rows,
            "q": q or "",
            "status": status or "",
            "next": nxt,
            "statuses": MemberStatus.values(),
        },
    )


def _fund_codes(db: DbSession) -> list[str]:
    return [f.code for f in funds.list_funds(db)]


def _member_form(request: Request, db: DbSession, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    ctx["fund_codes"] = _fund_codes(db)
    ctx["statuses"] = MemberStatus.values()
    status = 422 if ctx["errors"] else 200
    return render(request, "members/form.html", ctx, status=status)


@router.get("/members/new")
def new_member(request: Request, db: DbSession, who: Bookkeeper) -> Response:
    values = {"joined_on": today(who).isoformat(), "status": MemberStatus.active.value}
    return _member_form(request, db, values=values, member=None, form_key=forms.new_form_key())


def _affiliations(form: Any, codes: list[str], *, keep_empty: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for code in codes:
        number = forms.text(form, f"affiliation:{code}", 64)
        if number:
            out[code] = number
        elif keep_empty:
            out[code] = None
    return out


def _member_errors(request: Request, exc: ValidationError) -> dict[str, str]:
    errors = forms.pydantic_errors(request, exc)
    return {
        (k.replace("affiliations.", "affiliation:") if k.startswith("affiliations") else k): v
        for k, v in errors.items()
    }


@router.post("/members/new")
def create_member(request: Request, db: DbSession, who: Bookkeeper, form: Form) -> Response:
    codes = _fund_codes(db)
    values = forms.values_of(form, *FIELDS, *(f"affiliation:{c}" for c in codes))
    data: dict[str, Any] = {k: v for k, v in values.items() if k in FIELDS and v}
    data["affiliations"] = _affiliations(form, codes, keep_empty=False)
    try:
        parsed = MemberCreate.model_validate(data)
    except ValidationError as exc:
        return _member_form(
            request,
            db,
            values=values,
            errors=_member_errors(request, exc),
            member=None,
            form_key=forms.new_form_key(),
        )
    try:
        result = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            "members/new",
            parsed.model_dump(mode="json"),
            lambda: {"id": str(members.create_member(db, who.actor, parsed).id)},
        )
    except DomainError as exc:
        known = ["member_number", *(f"affiliations.{c}" for c in codes)]  # a number held: 409
        errors = forms.domain_errors(request, exc, {f: f for f in known}, "member_number")
        errors = {k.replace("affiliations.", "affiliation:"): v for k, v in errors.items()}
        return _member_form(
            request, db, values=values, errors=errors, member=None, form_key=forms.new_form_key()
        )
    from app.web.session import load_session

    load_session(request).add_flash(
        "info",
        translate(request, N_("Member %(number)s was created."), number=parsed.member_number),
    )
    return redirect(request, f"{PREFIX}/members/{result['id']}")


@router.get("/members/{member_id}/edit")
def edit_member(request: Request, db: DbSession, who: Bookkeeper, member_id: uuid.UUID) -> Response:
    member = members.get_member(db, member_id)
    values = {f: "" if getattr(member, f) is None else str(getattr(member, f)) for f in FIELDS}
    for code, number in members.affiliations_of(db, [member.id]).get(member.id, {}).items():
        values[f"affiliation:{code}"] = number
    return _member_form(request, db, values=values, member=member)


@router.post("/members/{member_id}/edit")
def update_member(
    request: Request, db: DbSession, who: Bookkeeper, member_id: uuid.UUID, form: Form
) -> Response:
    member = members.get_member(db, member_id)
    codes = _fund_codes(db)
    editable = [f for f in FIELDS if f != "member_number"]
    values = forms.values_of(form, *editable, *(f"affiliation:{c}" for c in codes))
    values["member_number"] = member.member_number
    data: dict[str, Any] = {k: (values[k] or None) for k in editable}
    data["affiliations"] = _affiliations(form, codes, keep_empty=True)
    try:
        parsed = MemberUpdate.model_validate(data)
        members.update_member(db, who.actor, member.id, parsed)
    except ValidationError as exc:
        return _member_form(
            request, db, values=values, errors=_member_errors(request, exc), member=member
        )
    except DomainError as exc:
        db.rollback()
        known = [*editable, *(f"affiliations.{c}" for c in codes)]  # a number held: 409
        errors = forms.domain_errors(request, exc, {f: f for f in known}, "full_name")
        errors = {k.replace("affiliations.", "affiliation:"): v for k, v in errors.items()}
        return _member_form(request, db, values=values, errors=errors, member=member)
    from app.web.session import load_session

    load_session(request).add_flash("info", translate(request, N_("The changes were saved.")))
    return redirect(request, f"{PREFIX}/members/{member.id}")


@router.get("/members/{member_id}")
def member_page(request: Request, db: DbSession, who: Reader, member_id: uuid.UUID) -> Response:
    return _member_page(request, db, who, member_id)


def _member_page(
    request: Request, db: DbSession, who: WebUser, member_id: uuid.UUID, **extra: Any
) -> Response:
    member = members.get_member(db, member_id)
    now = today(who)
    standing = standings.member_standing(db, member, now)
    affiliations = members.affiliations_of(db, [member.id]).get(member.id, {})
    dues = db.execute(
        select(Due, Scheme.code)
        .join(
            Scheme, (Scheme.organisation_id == Due.organisation_id) & (Scheme.id == Due.scheme_id)
        )
        .where(Due.member_id == member.id)
        .order_by(Due.period_start.desc())
        .limit(24)
    ).all()
    since = now - timedelta(days=365)
    statement = collection_reports.member_statement(db, member.id, since, now)
    receipts = list(
        db.scalars(
            select(Receipt)
            .where(Receipt.member_id == member.id)
            .order_by(Receipt.receipt_number.desc())
            .limit(20)
        )
    )
    crews = db.execute(
        select(UnitCrew, TransportUnit)
        .join(
            TransportUnit,
            (TransportUnit.organisation_id == UnitCrew.organisation_id)
            & (TransportUnit.id == UnitCrew.unit_id),
        )
        .where(UnitCrew.member_id == member.id)
    ).all()
    return render(
        request,
        "members/page.html",
        {
            "member": member,
            "standing": standing,
            "affiliations": affiliations,
            "dues": dues,
            "statement": statement,
            "since": since,
            "receipts": receipts,
            "crews": crews,
            "currency": who.currency,
            "enrolments": enrolments_of(db, member.id),
            "member_schemes": schemes_enrolling(db, units=False),
            "today": now,
            "enrol_errors": extra.get("enrol_errors", {}),
            "enrol_values": extra.get("enrol_values", {"starts_on": now.isoformat()}),
            "harvest_errors": extra.get("harvest_errors", {}),
            "harvest_values": extra.get("harvest_values", {"harvested_on": now.isoformat()}),
            "end_errors": extra.get("end_errors", {}),
            "end_values": extra.get("end_values", {}),
        },
        status=422
        if extra.get("enrol_errors") or extra.get("harvest_errors") or extra.get("end_errors")
        else 200,
    )


def enrolments_of(db: DbSession, member_id: uuid.UUID) -> list[Any]:
    from app.schemes.models import Enrolment

    return list(
        db.execute(
            select(Enrolment, Scheme)
            .join(
                Scheme,
                (Scheme.organisation_id == Enrolment.organisation_id)
                & (Scheme.id == Enrolment.scheme_id),
            )
            .where(Enrolment.member_id == member_id)
            .order_by(Enrolment.starts_on)
        ).all()
    )


__all__ = ["Member", "router"]


# -- enrolments and harvests (from the member's page) ---------------------------------------------


@router.post("/members/{member_id}/enrolments")
def enrol(
    request: Request, db: DbSession, who: Bookkeeper, member_id: uuid.UUID, form: Form
) -> Response:
    """Enrol the member in a scheme from a date (monthly or per harvest)."""
    from app.schemes import enrolments
    from app.schemes.schemas import EnrolmentCreate

    member = members.get_member(db, member_id)
    values = forms.values_of(form, "scheme_code", "starts_on", "declared_income")
    data: dict[str, Any] = {
        "member_id": member.id,
        "scheme_code": values["scheme_code"],
        "starts_on": values["starts_on"] or None,
    }
    errors: dict[str, str] = {}
    if values["declared_income"]:
        from app.core.money import MoneyError, format_minor
        from app.web.i18n import parse_amount_input

        try:
            minor = parse_amount_input(values["declared_income"], who.currency, who.locale)
            data["declared_income"] = format_minor(minor, who.currency)
        except MoneyError as exc:
            errors["declared_income"] = forms.say(request, exc.message)
    if not errors:
        try:
            enrolments.create_enrolment(db, who.actor, EnrolmentCreate.model_validate(data))
        except ValidationError as exc:
            errors = forms.pydantic_errors(request, exc)
        except DomainError as exc:
            db.rollback()
            errors = forms.domain_errors(
                request,
                exc,
                {
                    "scheme_code": "scheme_code",
                    "starts_on": "starts_on",
                    "declared_income": "declared_income",
                },
                "scheme_code",
            )
    if errors:
        return _member_page(request, db, who, member_id, enrol_errors=errors, enrol_values=values)
    from app.web.session import load_session

    load_session(request).add_flash(
        "info",
        translate(
            request,
            N_("Enrolled in %(scheme)s. Generate the dues (Schemes and funds) to see them."),
            scheme=values["scheme_code"],
        ),
    )
    return redirect(request, f"{PREFIX}/members/{member.id}")


@router.post("/members/{member_id}/harvests")
def harvest(
    request: Request, db: DbSession, who: Bookkeeper, member_id: uuid.UUID, form: Form
) -> Response:
    """Record a harvest: it creates the member's per-harvest due."""
    from app.core.money import MoneyError, format_minor
    from app.schemes.service import record_harvest
    from app.web.i18n import parse_amount_input

    member = members.get_member(db, member_id)
    values = forms.values_of(form, "harvest_scheme", "harvested_on", "declared_value")
    errors: dict[str, str] = {}
    harvested_on = forms.parse_date(values["harvested_on"])
    if harvested_on is None:
        errors["harvested_on"] = translate(request, N_("Enter a date."))
    declared: str | None = None
    if values["declared_value"]:
        try:
            declared = format_minor(
                parse_amount_input(values["declared_value"], who.currency, who.locale), who.currency
            )
        except MoneyError as exc:
            errors["declared_value"] = forms.say(request, exc.message)
    if not errors and harvested_on is not None:
        try:
            record_harvest(
                db,
                who.actor,
                member_id=member.id,
                scheme_code=values["harvest_scheme"],
                harvested_on=harvested_on,
                declared_value=declared,
            )
        except DomainError as exc:
            db.rollback()
            errors = forms.domain_errors(
                request,
                exc,
                {
                    "scheme_code": "harvest_scheme",
                    "harvested_on": "harvested_on",
                    "declared_value": "declared_value",
                },
                "harvest_scheme",
            )
    if errors:
        return _member_page(
            request, db, who, member_id, harvest_errors=errors, harvest_values=values
        )
    from app.web.session import load_session

    load_session(request).add_flash(
        "info", translate(request, N_("The harvest and its due were recorded."))
    )
    return redirect(request, f"{PREFIX}/members/{member.id}")

"""Transport units with their crews (who drives, who collects, whose coverage they count for)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import Response

from app.collections.models import Receipt
from app.core.errors import DomainError
from app.members import units as unit_service
from app.members.models import CrewRole, Member, TransportUnit
from app.members.schemas import CrewMember, UnitCreate, UnitUpdate
from app.members.units import CREW_FIELDS
from app.schemes.models import Due, Enrolment, Scheme
from app.schemes.service import schemes_enrolling
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, Reader, WebUser
from app.web.routes.dashboard import today
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)


@router.get("/units")
def list_units(request: Request, db: DbSession, who: Reader, q: str | None = None) -> Response:
    q = (q or "").strip()[:40] or None
    rows, _ = unit_service.search_units(db, q=q, member_id=None, limit=200, after=None)
    crews = unit_service.crews_of(db, [u.id for u in rows])
    people = {
        m.id: m
        for m in db.scalars(
            select(Member).where(Member.id.in_({c.member_id for cs in crews.values() for c in cs}))
        )
    }
    return render(
        request, "units/list.html", {"rows": rows, "crews": crews, "people": people, "q": q or ""}
    )


def _numbers(text: str) -> list[str]:
    return [n.strip() for n in text.replace(";", ",").split(",") if n.strip()][:20]


def _crew_numbers(values: dict[str, str]) -> dict[CrewRole, list[str]]:
    """{role: member numbers} as the form names them (one field per role)."""
    return {role: _numbers(values[field]) for role, field in unit_service.CREW_FIELDS.items()}


def _unit_form(request: Request, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("form_key", forms.new_form_key())
    return render(request, "units/form.html", ctx, status=422 if ctx["errors"] else 200)


@router.get("/units/new")
def new_unit(request: Request, who: Bookkeeper) -> Response:
    return _unit_form(request, values={"kind": "minibus"})


@router.post("/units/new")
def create_unit(request: Request, db: DbSession, who: Bookkeeper, form: Form) -> Response:
    """A unit with its owner and crew, named by member numbers."""
    values = forms.values_of(form, "registration", "kind", "owner", "drivers", "conductors")
    errors: dict[str, str] = {}
    try:
        owner, crew = unit_service.crew_by_numbers(db, _crew_numbers(values))
    except DomainError as exc:
        errors = forms.domain_errors(request, exc, {f: f for f in CREW_FIELDS.values()}, "owner")
    if not errors:
        try:
            parsed = UnitCreate.model_validate(
                {
                    "registration": values["registration"],
                    "kind": values["kind"],
                    "owner_member_id": owner,
                    "crew": [c.model_dump() for c in crew],
                }
            )
            result = forms.run_once(
                db,
                who,
                forms.text(form, forms.FORM_KEY, 64),
                "units/new",
                parsed.model_dump(mode="json"),
                lambda: {"id": str(unit_service.create_unit(db, who.actor, parsed).id)},
            )
            return redirect(request, f"{PREFIX}/units/{result['id']}")
        except ValidationError as exc:
            errors = forms.pydantic_errors(request, exc, {"owner_member_id": "owner"})
        except DomainError as exc:
            errors = forms.domain_errors(
                request,
                exc,
                {"registration": "registration", "owner_member_id": "owner", "crew": "drivers"},
                "registration",
            )
    return _unit_form(request, values=values, errors=errors)


@router.post("/units/{unit_id}/enrolments")
def enrol_unit(
    request: Request, db: DbSession, who: Bookkeeper, unit_id: uuid.UUID, form: Form
) -> Response:
    """Enrol the unit in a daily scheme from a date."""
    from app.schemes import enrolments
    from app.schemes.schemas import EnrolmentCreate

    unit = unit_service.get_unit(db, unit_id)
    values = forms.values_of(form, "scheme_code", "starts_on")
    session = load_session(request)
    try:
        enrolments.create_enrolment(
            db,
            who.actor,
            EnrolmentCreate.model_validate(
                {
                    "unit_id": unit.id,
                    "scheme_code": values["scheme_code"],
                    "starts_on": values["starts_on"] or None,
                }
            ),
        )
    except ValidationError as exc:
        for message in forms.pydantic_errors(request, exc).values():
            session.add_flash("error", message)
        return redirect(request, f"{PREFIX}/units/{unit.id}")
    except DomainError as exc:
        db.rollback()
        session.add_flash("error", forms.refusal(request, exc))
        return redirect(request, f"{PREFIX}/units/{unit.id}")
    session.add_flash(
        "info",
        translate(
            request,
            N_("Enrolled in %(scheme)s. Generate the dues (Schemes and funds) to see them."),
            scheme=values["scheme_code"],
        ),
    )
    return redirect(request, f"{PREFIX}/units/{unit.id}")


@router.get("/units/{unit_id}")
def unit_page(request: Request, db: DbSession, who: Reader, unit_id: uuid.UUID) -> Response:
    return _unit_page(request, db, who, unit_id)


def _crew_values(crew: list[CrewMember], people: dict[uuid.UUID, Member]) -> dict[str, str]:
    def numbers(role: str) -> str:
        return ", ".join(
            people[c.member_id].member_number
            for c in crew
            if c.role == role and c.member_id in people
        )

    return {field: numbers(role) for role, field in CREW_FIELDS.items()}


def _unit_page(
    request: Request, db: DbSession, who: WebUser, unit_id: uuid.UUID, **extra: Any
) -> Response:
    unit: TransportUnit = unit_service.get_unit(db, unit_id)
    crew = unit_service.crews_of(db, [unit.id]).get(unit.id, [])
    people = {
        m.id: m
        for m in db.scalars(select(Member).where(Member.id.in_([c.member_id for c in crew])))
    }
    dues = list(
        db.scalars(
            select(Due).where(Due.unit_id == unit.id).order_by(Due.period_start.desc()).limit(31)
        )
    )
    receipts = list(
        db.scalars(
            select(Receipt)
            .where(Receipt.unit_id == unit.id)
            .order_by(Receipt.receipt_number.desc())
            .limit(20)
        )
    )
    errors = {k: extra.get(k) or {} for k in ("crew_errors", "end_errors")}
    return render(
        request,
        "units/page.html",
        {
            "unit": unit,
            "crew": crew,
            "people": people,
            "dues": dues,
            "receipts": receipts,
            "daily_schemes": schemes_enrolling(db, units=True),
            "enrolments": list(
                db.execute(
                    select(Enrolment, Scheme)
                    .join(
                        Scheme,
                        (Scheme.organisation_id == Enrolment.organisation_id)
                        & (Scheme.id == Enrolment.scheme_id),
                    )
                    .where(Enrolment.unit_id == unit.id)
                    .order_by(Enrolment.starts_on)
                ).all()
            ),
            "today_iso": today(who).isoformat(),
            "crew_values": extra.get("crew_values") or _crew_values(crew, people),
            "end_values": extra.get("end_values") or {},
            **errors,
        },
        status=422 if any(errors.values()) else 200,
    )


@router.post("/units/{unit_id}/crew")
def change_crew(
    request: Request, db: DbSession, who: Bookkeeper, unit_id: uuid.UUID, form: Form
) -> Response:
    """Replace the unit's owner, drivers and conductors (named by member numbers). A member
    who stays keeps whether the unit's contributions count for their coverage."""
    unit = unit_service.get_unit(db, unit_id)
    values = forms.values_of(form, "owner", "drivers", "conductors")
    covered = {
        c.member_id: c.covered for c in unit_service.crews_of(db, [unit.id]).get(unit.id, [])
    }
    try:
        owner, crew = unit_service.crew_by_numbers(db, _crew_numbers(values), covered)
    except DomainError as exc:
        errors = forms.domain_errors(request, exc, {f: f for f in CREW_FIELDS.values()}, "drivers")
        return _unit_page(request, db, who, unit.id, crew_errors=errors, crew_values=values)
    try:
        unit_service.update_unit(
            db, who.actor, unit.id, UnitUpdate(crew=crew, owner_member_id=owner)
        )
    except DomainError as exc:
        db.rollback()
        errors = forms.domain_errors(
            request, exc, {"owner_member_id": "owner", "crew": "drivers"}, "drivers"
        )
        return _unit_page(request, db, who, unit_id, crew_errors=errors, crew_values=values)
    load_session(request).add_flash("info", translate(request, N_("The crew was saved.")))
    return redirect(request, f"{PREFIX}/units/{unit.id}")

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
from app.members.models import Enrolment, Member, TransportUnit
from app.members.schemas import UnitCreate
from app.schemes.models import Due, Scheme
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, Reader
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


def _members_by_number(db: DbSession, numbers: list[str]) -> dict[str, Member]:
    if not numbers:
        return {}
    return {
        m.member_number: m
        for m in db.scalars(select(Member).where(Member.member_number.in_(numbers)))
    }


def _numbers(text: str) -> list[str]:
    return [n.strip() for n in text.replace(";", ",").split(",") if n.strip()][:20]


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
    wanted = {
        "owner": _numbers(values["owner"])[:1],
        "drivers": _numbers(values["drivers"]),
        "conductors": _numbers(values["conductors"]),
    }
    found = _members_by_number(db, [n for ns in wanted.values() for n in ns])
    for name, numbers in wanted.items():
        unknown = [n for n in numbers if n not in found]
        if unknown:
            errors[name] = translate(
                request, N_("No member with number %(numbers)s."), numbers=", ".join(unknown)
            )
    crew: list[dict[str, Any]] = []
    for role, name in (("driver", "drivers"), ("conductor", "conductors")):
        crew += [{"member_id": found[n].id, "role": role} for n in wanted[name] if n in found]
    owner = found.get(wanted["owner"][0]) if wanted["owner"] else None
    if not errors:
        try:
            parsed = UnitCreate.model_validate(
                {
                    "registration": values["registration"],
                    "kind": values["kind"],
                    "owner_member_id": owner.id if owner else None,
                    "crew": crew,
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
    from app.members import enrolments
    from app.members.schemas import EnrolmentCreate

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
        session.add_flash("error", exc.detail)
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
    return render(
        request,
        "units/page.html",
        {
            "unit": unit,
            "crew": crew,
            "people": people,
            "dues": dues,
            "receipts": receipts,
            "daily_schemes": list(
                db.scalars(
                    select(Scheme).where(Scheme.kind == "daily_per_unit").order_by(Scheme.code)
                )
            ),
            "enrolments": list(
                db.execute(
                    select(Enrolment, Scheme)
                    .join(
                        Scheme,
                        (Scheme.organisation_id == Enrolment.organisation_id)
                        & (Scheme.id == Enrolment.scheme_id),
                    )
                    .where(Enrolment.unit_id == unit.id)
                ).all()
            ),
            "today_iso": today().isoformat(),
        },
    )

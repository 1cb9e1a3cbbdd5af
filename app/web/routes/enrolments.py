"""Ending an enrolment (or moving or removing its end), from the member's or the unit's page."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from app.core.errors import DomainError
from app.schemes import enrolments
from app.schemes.models import Enrolment
from app.schemes.schemas import EnrolmentUpdate
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, WebUser
from app.web.i18n import format_date
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)


def _subject_page(
    request: Request,
    db: DbSession,
    who: WebUser,
    e: Enrolment,
    errors: dict[str, str],
    values: dict[str, str],
) -> Response:
    """The member's or unit's page again, the error next to this enrolment's end."""
    from app.web.routes.members import _member_page
    from app.web.routes.units import _unit_page

    if e.member_id is not None:
        return _member_page(request, db, who, e.member_id, end_errors=errors, end_values=values)
    assert e.unit_id is not None  # an enrolment has a member or a unit
    return _unit_page(request, db, who, e.unit_id, end_errors=errors, end_values=values)


def _back(e: Enrolment) -> str:
    if e.member_id is not None:
        return f"{PREFIX}/members/{e.member_id}"
    return f"{PREFIX}/units/{e.unit_id}"


@router.post("/enrolments/{enrolment_id}/end")
def end_enrolment(
    request: Request, db: DbSession, who: Bookkeeper, enrolment_id: uuid.UUID, form: Form
) -> Response:
    """End the enrolment on a date (its last day covered), or remove its end (`action=reopen`).
    The service refuses an end that would rewrite dues already generated."""
    e = enrolments.get_enrolment(db, enrolment_id)
    key = str(e.id)
    typed = forms.text(form, "ends_on", 20)
    reopen = forms.text(form, "action", 20) == "reopen"
    ends_on = None if reopen else forms.parse_date(typed)
    if not reopen and ends_on is None:
        message = translate(request, N_("Enter the last day of the enrolment."))
        return _subject_page(request, db, who, e, {key: message}, {key: typed})
    if ends_on == e.ends_on:
        return redirect(request, _back(e))
    try:
        change = EnrolmentUpdate(ends_on=ends_on)
    except ValidationError as exc:
        message = next(iter(forms.pydantic_errors(request, exc).values()))
        return _subject_page(request, db, who, e, {key: message}, {key: typed})
    try:
        enrolments.update_enrolment(db, who.actor, e.id, change)
    except DomainError as exc:
        db.rollback()
        e = enrolments.get_enrolment(db, enrolment_id)
        message = forms.domain_errors(request, exc, {"ends_on": key}, key)[key]
        return _subject_page(request, db, who, e, {key: message}, {key: typed})
    load_session(request).add_flash(
        "info",
        translate(request, N_("The enrolment now has no end."))
        if ends_on is None
        else translate(
            request,
            N_("The enrolment ends on %(day)s."),
            day=format_date(ends_on, who.locale),
        ),
    )
    return redirect(request, _back(e))

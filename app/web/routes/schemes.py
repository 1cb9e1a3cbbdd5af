"""Schemes and funds: each scheme with its versions, the funds, and a contribution quote for a
prospective member (writes nothing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from app.core.errors import DomainError
from app.core.money import MoneyError, format_minor, parse_minor
from app.funds import service as funds
from app.schemes import generation
from app.schemes import quote as quotes
from app.schemes import service as schemes
from app.schemes.models import Scheme
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, Reader
from app.web.i18n import format_date, parse_amount_input
from app.web.routes.dashboard import today
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)


def _to_minor(text: str, currency: str) -> int | None:
    try:
        return parse_minor(text, currency, allow_negative=True)
    except MoneyError:
        return None


@router.get("/schemes")
def schemes_page(
    request: Request,
    db: DbSession,
    who: Reader,
    scheme: str | None = None,
    declared_income: str | None = None,
    months: str | None = None,
) -> Response:
    rows = list(db.scalars(select(Scheme).order_by(Scheme.code)))
    versions = {s.id: schemes.list_versions(db, s) for s in rows}
    values = {
        "scheme": (scheme or "")[:64],
        "declared_income": (declared_income or "")[:40],
        "months": (months or "12")[:3],
    }
    errors: dict[str, str] = {}
    quote: Any = None
    if scheme is not None:
        chosen = next((s for s in rows if s.code == values["scheme"]), None)
        count = int(values["months"]) if values["months"].isdigit() else 0
        if chosen is None:
            errors["scheme"] = translate(request, N_("Choose a scheme."))
        income: str | None = None
        if chosen is not None and values["declared_income"]:
            try:
                minor = parse_amount_input(values["declared_income"], chosen.currency, who.locale)
                income = format_minor(minor, chosen.currency)
            except MoneyError as exc:
                errors["declared_income"] = forms.say(request, exc.message)
        if chosen is not None and not errors:
            try:
                quote = quotes.quote(
                    chosen,
                    versions[chosen.id],
                    declared_income=income,
                    months=count,
                    as_of=today(who),
                )
            except DomainError as exc:
                errors = forms.domain_errors(
                    request,
                    exc,
                    {"declared_income": "declared_income", "months": "months"},
                    "scheme",
                )
    return render(
        request,
        "schemes/index.html",
        {
            "schemes": rows,
            "versions": versions,
            "funds": funds.list_funds(db),
            "values": values,
            "errors": errors,
            "quote": quote,
            "to_minor": _to_minor,
            "today_iso": today(who).isoformat(),
            "max_months": str(quotes.MAX_MONTHS),
        },
        status=422 if errors else 200,
    )


@router.post("/dues/generate")
def generate(request: Request, db: DbSession, who: Bookkeeper, form: Form) -> Response:
    """Make every due of every daily and monthly enrolment for periods ending by a date.
    Running it again creates nothing new (the service's rule), so a double click is harmless."""
    through = forms.parse_date(forms.text(form, "through", 10))
    session = load_session(request)
    if through is None:
        session.add_flash("error", translate(request, N_("Enter a date.")))
        return redirect(request, f"{PREFIX}/schemes")
    try:
        result = generation.generate_dues(db, who.actor, through)
    except DomainError as exc:
        db.rollback()
        session.add_flash("error", forms.refusal(request, exc))
        return redirect(request, f"{PREFIX}/schemes")
    session.add_flash(
        "info",
        translate(
            request,
            N_("%(count)s dues were created for periods ending by %(day)s."),
            count=result.created,
            day=format_date(through, who.locale),
        ),
    )
    return redirect(request, f"{PREFIX}/schemes")

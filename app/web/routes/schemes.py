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
from app.schemes import quote as quotes
from app.schemes import service as schemes
from app.schemes.models import Scheme
from app.web import forms
from app.web.deps import DbSession, Reader
from app.web.i18n import parse_amount_input
from app.web.routes.dashboard import today
from app.web.templating import PREFIX, render, translate
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
        if not 1 <= count <= 120:
            errors["months"] = translate(request, N_("Enter a number of months from 1 to 120."))
        income: str | None = None
        if chosen is not None and values["declared_income"]:
            try:
                minor = parse_amount_input(values["declared_income"], chosen.currency, who.locale)
                income = format_minor(minor, chosen.currency)
            except MoneyError as exc:
                errors["declared_income"] = str(exc)
        if chosen is not None and not errors:
            try:
                quote = quotes.quote(
                    chosen, versions[chosen.id], declared_income=income, months=count, as_of=today()
                )
            except DomainError as exc:
                errors = forms.domain_errors(exc, {"declared_income": "declared_income"}, "scheme")
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
        },
        status=422 if errors else 200,
    )

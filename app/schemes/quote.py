"""Contribution quotes: what a prospective member would pay per period, and to which funds.

Funds give cooperatives these simulations to recruit members. A quote writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from app.core.errors import ValidationFailed
from app.core.messages import N_, Template
from app.core.money import format_minor
from app.schemes.models import Scheme, SchemeKind, SchemeVersion
from app.schemes.rules import split_payment
from app.schemes.schedule import declared_amount
from app.schemes.schemas import FundPart, QuoteAmounts, QuotePeriod, QuoteRead
from app.schemes.terms import terms

PERIOD = {
    SchemeKind.daily_per_unit: QuotePeriod.day,
    SchemeKind.monthly: QuotePeriod.month,
    SchemeKind.per_harvest: QuotePeriod.harvest,
}

MAX_MONTHS = 120
"""A quote totals at most this many months (ten years)."""
MONTHS_OUT_OF_RANGE = Template(
    "quote.months_out_of_range", N_("Enter a number of months from 1 to 120.")
)
NO_VERSION = Template("scheme.no_version", N_("%(scheme)s has no version"))
MONTHLY_INCOME_MISSING = Template(
    "quote.income_missing", N_("%(scheme)s takes a share of the monthly income: give it")
)
EXPECTED_VALUE_MISSING = Template(
    "quote.expected_value_missing",
    N_("%(scheme)s takes a share of the expected harvest value: give it"),
)


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(y, m + 1, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def _amounts(version: SchemeVersion, amount: int, times: int, currency: str) -> QuoteAmounts:
    fee, parts = split_payment(version.rules, amount)
    return QuoteAmounts(
        amount=format_minor(amount * times, currency),
        fee=format_minor(fee * times, currency),
        funds=[FundPart(fund_code=f, amount=format_minor(p * times, currency)) for f, p in parts],
    )


def quote(
    scheme: Scheme,
    versions: list[SchemeVersion],
    *,
    declared_income: str | None,
    months: int,
    as_of: date,
) -> QuoteRead:
    """The amount per period (rounded half-up once, as a due would be), its split, and the
    total over `months` months from `as_of`, under the version in force on `as_of`.

    `declared_income` is the monthly income (monthly) or the expected harvest value (per
    harvest); required where the scheme takes a share of it.
    """
    kind = SchemeKind(scheme.kind)
    if not 1 <= months <= MAX_MONTHS:
        raise ValidationFailed.field("months", MONTHS_OUT_OF_RANGE())
    if not versions:
        raise ValidationFailed.field("code", NO_VERSION(scheme=scheme.code))
    in_force = [v for v in versions if v.effective_from <= as_of]
    version = in_force[-1] if in_force else versions[0]
    t = terms(version.rules, scheme.currency)
    base = declared_amount(declared_income, scheme.currency, "declared_income")
    if t.income_based and base is None:
        missing = MONTHLY_INCOME_MISSING if kind == SchemeKind.monthly else EXPECTED_VALUE_MISSING
        raise ValidationFailed.field("declared_income", missing(scheme=scheme.code))
    per_period = t.amount(base)
    if kind == SchemeKind.daily_per_unit:
        end = _add_months(as_of, months)
        days = (end - as_of).days
        periods = sum(
            1
            for i in range(days)
            if ((as_of + timedelta(days=i)).isoweekday() % 7) not in t.rest_weekdays
        )
    elif kind == SchemeKind.monthly:
        periods = months
    else:
        every = t.every_months or 1
        periods = -(-months // every)
    return QuoteRead(
        scheme_code=scheme.code,
        scheme_name=scheme.name,
        kind=kind,
        version=version.version,
        currency=scheme.currency,
        declared_income=None if base is None else format_minor(base, scheme.currency),
        period=PERIOD[kind],
        per_period=_amounts(version, per_period, 1, scheme.currency),
        months=months,
        periods=periods,
        total=_amounts(version, per_period, periods, scheme.currency),
    )

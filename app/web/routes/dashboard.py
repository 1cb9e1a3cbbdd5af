"""The dashboard and the books (accounts, balances, account history)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.collections.models import Collector, Receipt
from app.core import clock
from app.ledger import service as ledger
from app.ledger.models import Account, AccountType
from app.schemes.models import Due
from app.schemes.standing import BUCKETS, overdue_by_age
from app.web import i18n
from app.web.chart import daily_bars
from app.web.deps import AnyUser, DbSession, Reader, WebUser
from app.web.templating import PREFIX, render

router = APIRouter(prefix=PREFIX)

CHART_DAYS = 30


def today(who: WebUser) -> date:
    """The organisation's date now (its time zone): the pages' "today"."""
    return clock.today(who.time_zone)


def collected_by_day(
    session: Session, since: date, until: date, tz: clock.Zone
) -> dict[str, dict[date, int]]:
    """Posted (not reversed) receipts per currency and day of the organisation (in `tz`)."""
    rows = session.execute(
        select(Receipt.currency, Receipt.received_at, Receipt.amount).where(
            Receipt.status == "posted",
            Receipt.received_at >= clock.day_start(since, tz),
            Receipt.received_at < clock.day_start(until + timedelta(days=1), tz),
        )
    )
    out: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for currency, at, amount in rows:
        out[currency][clock.local_date(at, tz)] += amount
    return out


def due_between(session: Session, first: date, last: date) -> dict[str, tuple[int, int]]:
    """(amount due, paid) per currency for dues falling due in [first, last]."""
    rows = session.execute(
        select(Due.currency, func.sum(Due.amount), func.sum(Due.paid))
        .where(Due.due_on >= first, Due.due_on <= last)
        .group_by(Due.currency)
    )
    return {c: (int(a or 0), int(p or 0)) for c, a, p in rows}


def collectors_cash(session: Session) -> list[dict[str, Any]]:
    collectors = list(session.scalars(select(Collector).order_by(Collector.name)))
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_([c.cash_account_id for c in collectors]))
        )
    }
    raw = ledger.balances(session, accounts.keys())
    out = []
    for c in collectors:
        account = accounts.get(c.cash_account_id)
        if account is None:
            continue
        out.append(
            {
                "name": c.name,
                "group": c.group,
                "currency": account.currency,
                "balance": raw.get(account.id, 0),
            }
        )
    return out


def batches_waiting(session: Session) -> list[dict[str, Any]]:
    """Remittance batches not yet settled, per fund and status (once remittances exist)."""
    try:
        from app.remittances import models as remittance_models
    except ImportError:  # pragma: no cover - the package is always there
        return []
    batch = getattr(remittance_models, "RemittanceBatch", None)
    if batch is None:
        return []
    from app.funds.models import Fund

    rows = session.execute(
        select(Fund.code, batch.status, func.count(), func.sum(batch.control_sum), batch.currency)
        .join(Fund, Fund.id == batch.fund_id)
        .where(batch.status.in_(("draft", "sealed", "submitted", "acknowledged")))
        .group_by(Fund.code, batch.status, batch.currency)
        .order_by(Fund.code, batch.status)
    )
    return [
        {"fund": f, "status": s, "count": int(n), "sum": int(t or 0), "currency": c}
        for f, s, n, t, c in rows
    ]


@router.get("/")
def dashboard(request: Request, db: DbSession, who: AnyUser) -> Response:
    if not who.can("admin", "treasurer", "auditor"):
        # Collectors and fund offices see no organisation-wide figures: their own start page.
        return render(request, "home.html", {})
    now = today(who)
    month_first = now.replace(day=1)
    next_month = (month_first + timedelta(days=32)).replace(day=1)
    since = now - timedelta(days=CHART_DAYS - 1)
    by_day = collected_by_day(db, min(since, month_first), now, who.time_zone)
    currency = who.currency
    days = [since + timedelta(days=i) for i in range(CHART_DAYS)]
    chart_values = by_day.get(currency, {})
    chart = daily_bars(
        days,
        chart_values,
        lambda v: i18n.format_money(v, currency, who.locale),
        lambda d: i18n.format_date(d, who.locale, "d MMM"),
    )
    currencies = sorted(set(by_day) | {currency})
    due_month = due_between(db, month_first, next_month - timedelta(days=1))
    due_today = due_between(db, now, now)
    totals = [
        {
            "currency": c,
            "today": by_day.get(c, {}).get(now, 0),
            "month": sum(v for d, v in by_day.get(c, {}).items() if d >= month_first),
            "due_today": due_today.get(c, (0, 0))[0],
            "due_month": due_month.get(c, (0, 0))[0],
            "paid_month": due_month.get(c, (0, 0))[1],
        }
        for c in currencies
    ]
    return render(
        request,
        "dashboard.html",
        {
            "today": now,
            "totals": totals,
            "arrears": overdue_by_age(db, now),
            "buckets": BUCKETS,
            "collectors": collectors_cash(db),
            "batches": batches_waiting(db),
            "chart": chart,
            "chart_currency": currency,
        },
    )


@router.get("/accounts")
def accounts(request: Request, db: DbSession, who: Reader) -> Response:
    rows = list(db.scalars(select(Account).order_by(Account.code)))
    raw = ledger.balances(db, [a.id for a in rows])
    items = [
        {"account": a, "balance": raw.get(a.id, 0) * AccountType(a.type).normal_sign} for a in rows
    ]
    return render(request, "accounts.html", {"items": items})


@router.get("/accounts/{account_id}")
def account_history(
    request: Request, db: DbSession, who: Reader, account_id: uuid.UUID
) -> Response:
    account, lines, _next = ledger.history(db, account_id, limit=200)
    sign = AccountType(account.type).normal_sign
    items = [
        {
            "effective_on": ln.posting.effective_on,
            "description": ln.description,
            "kind": ln.kind,
            "debit": ln.posting.amount if ln.posting.amount > 0 else None,
            "credit": -ln.posting.amount if ln.posting.amount < 0 else None,
            "balance": ln.balance_after * sign,
        }
        for ln in lines
    ]
    return render(
        request, "account.html", {"account": account, "items": items, "more": _next is not None}
    )

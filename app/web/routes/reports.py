"""Reports: arrears, collections by day / collector / fund / scheme, and the funds' owed, in
transit and settled; each on a page and as a CSV download."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.collections.reports import collections_report
from app.collections.vocabulary import ReportGrouping
from app.core.money import format_minor, parse_minor
from app.remittances.reports import funds_report
from app.schemes.standing import BUCKETS, arrears_page, overdue_by_age
from app.web import forms
from app.web.csvfile import csv_response
from app.web.deps import DbSession, Reader
from app.web.routes.dashboard import today
from app.web.templating import PREFIX, render

router = APIRouter(prefix=PREFIX)

GROUPS = ReportGrouping.values()
MAX_ARREARS_ROWS = 5000


def _day(value: str | None, default: date) -> date:
    return forms.parse_date((value or "")[:10]) or default


@router.get("/reports")
def reports_index(request: Request, who: Reader) -> Response:
    return render(request, "reports/index.html", {})


@router.get("/reports/arrears")
def arrears(
    request: Request, db: DbSession, who: Reader, as_of: str | None = None, format: str = "html"
) -> Response:
    day = _day(as_of, today(who))
    lines, _ = arrears_page(db, day, limit=MAX_ARREARS_ROWS)
    c = who.currency
    if format == "csv":
        return csv_response(
            f"arrears-{day}.csv",
            [
                "member_number",
                "full_name",
                "arrears",
                "own_arrears",
                "through_units",
                *BUCKETS,
                "oldest_overdue_on",
                "penalty",
                "credit",
                "currency",
            ],
            (
                [
                    ln.member.member_number,
                    ln.member.full_name,
                    format_minor(ln.standing.arrears, c),
                    format_minor(ln.own_arrears, c),
                    " ".join(
                        f"{u.registration}:{format_minor(u.arrears, c)}" for u in ln.through_units
                    ),
                    *(format_minor(ln.standing.aging[b], c) for b in BUCKETS),
                    ln.standing.oldest_overdue_on or "",
                    format_minor(ln.standing.penalty, c),
                    format_minor(ln.standing.credit, c),
                    c,
                ]
                for ln in lines
            ),
        )
    # what is owed in all counts a unit's dues once, not once per covered crew member
    total = sum(overdue_by_age(db, day).get(c, {}).values())
    return render(
        request,
        "reports/arrears.html",
        {"lines": lines, "as_of": day, "buckets": BUCKETS, "currency": c, "total": total},
    )


@router.get("/reports/collections")
def collections(
    request: Request,
    db: DbSession,
    who: Reader,
    from_: str | None = None,
    to: str | None = None,
    group_by: str = "day",
    format: str = "html",
) -> Response:
    end = _day(to, today(who))
    start = _day(from_, end.replace(day=1))
    if start > end:
        start, end = end, start
    group = group_by if group_by in GROUPS else "day"
    data = collections_report(db, group, start, end)
    c = who.currency
    if format == "csv":
        return csv_response(
            f"collections-{group}-{start}-{end}.csv",
            [group, "label", "receipts", "amount", "currency"],
            ([r.key, r.label, r.receipts, format_minor(r.amount, c), c] for r in data.rows),
        )
    return render(
        request,
        "reports/collections.html",
        {"data": data, "start": start, "end": end, "group": group, "groups": GROUPS, "currency": c},
    )


def _minor(text: str | None, currency: str) -> int | None:
    return None if text is None else parse_minor(text, currency, allow_negative=True)


@router.get("/reports/funds")
def funds(
    request: Request, db: DbSession, who: Reader, as_of: str | None = None, format: str = "html"
) -> Response:
    day = _day(as_of, today(who))
    report = funds_report(db, as_of=day, fund_code=None)
    if format == "csv":
        return csv_response(
            f"funds-{day}.csv",
            [
                "fund_code",
                "name",
                "owed",
                "in_transit",
                "settled",
                "custody_balance",
                "settlement_difference",
                "flagged_batches",
                "currency",
            ],
            (
                [
                    f.fund_code,
                    f.name,
                    f.owed,
                    f.in_transit,
                    f.settled,
                    f.custody_balance or "",
                    f.settlement_difference,
                    " ".join(f.flagged_batches),
                    f.currency,
                ]
                for f in report.funds
            ),
        )
    rows: list[dict[str, Any]] = [
        {
            "fund": f,
            "owed": _minor(f.owed, f.currency),
            "in_transit": _minor(f.in_transit, f.currency),
            "settled": _minor(f.settled, f.currency),
            "custody": _minor(f.custody_balance, f.currency),
            "difference": _minor(f.settlement_difference, f.currency),
        }
        for f in report.funds
    ]
    return render(request, "reports/funds.html", {"rows": rows, "as_of": day})


__all__ = ["router", "timedelta"]

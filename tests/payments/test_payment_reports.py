"""The report of a payment channel per day (issue 14): per day of the organisation (its time
zone), what was received and where each payment stands; the figures add up. Over HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from tests.collections.test_reversal_and_credit import clean_books
from tests.payments.test_generic_json import payment, send, till
from tests.payments.test_statements import upload

__all__ = ["till"]

REPORT = "/api/v1/payment-channels/TILL-1/report"
FIGURES = (
    "received",
    "matched",
    "suspense",
    "refunded",
    "pending",
    "refused",
    "duplicates",
    "from_statement",
    "unreconciled",
)


def cents(text: str) -> int:
    return int(text.replace(".", ""))


def figures(day: dict) -> dict[str, tuple[int, str]]:
    return {k: (day[k]["count"], day[k]["amount"]) for k in FIGURES}


def test_a_days_figures_add_up_in_the_organisations_day(
    client, org, till, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    _, channel = till
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organisation SET time_zone = 'America/Santo_Domingo' WHERE id = :id"
            ).bindparams(sa.bindparam("id", type_=sa.Uuid())),
            {"id": org.id},
        )
    said = {}
    for txid, ref, amount, at, extra in (
        ("TX8", "M-001", "5.00", "2026-11-20T03:30:00Z", {}),  # the 19th in Santo Domingo
        ("TX1", "M-001", "150.00", "2026-11-20T08:00:00-04:00", {}),
        ("TX2", "ZZ-404", "40.00", "2026-11-20T09:00:00-04:00", {}),
        ("TX3", "ZZ-405", "25.00", "2026-11-20T10:00:00-04:00", {}),
        ("TX4", "M-001", "60.00", "2026-11-20T11:00:00-04:00", {"status": "pending"}),
        ("TX5", "M-001", "10.00", "2026-11-20T12:00:00-04:00", {"status": "failed"}),
        ("TX1", "M-001", "15.00", "2026-11-20T08:00:00-04:00", {}),  # other figures: flagged
        ("TX7", "M-001", "20.00", "2026-11-21T00:30:00-04:00", {}),
    ):
        r = send(client, channel, payment(txid, ref, amount, occurred_at=at, **extra))
        assert r.status_code == 200, r.text
        said.setdefault(txid, r.json())
    assert send(client, channel, payment("TX9", "M-001"), secret="pcs_forged").status_code == 401
    refund = client.post(
        f"/api/v1/payment-notifications/{said['TX2']['notification_id']}/refund",
        json={"reason": "the payer asked for it back"},
        headers=org.headers("treasurer"),
    )
    assert refund.status_code == 200, refund.text
    # the callback that never came: 22:30 in Santo Domingo is the 21st in UTC
    statement = (
        "transaction_id,amount,occurred_at,account_reference\n"
        "TX6,75.00,2026-11-20T22:30:00-04:00,M-002\n"
    )
    made = upload(client, org, statement)
    assert made.status_code == 200 and made.json()["created"][0]["status"] == "matched"
    clean_books(session_factory, org)

    r = client.get(
        REPORT, params={"from": "2026-11-19", "to": "2026-11-21"}, headers=org.headers("auditor")
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["channel"], report["currency"], report["time_zone"]) == (
        "TILL-1",
        "DOP",
        "America/Santo_Domingo",
    )
    assert [d["day"] for d in report["days"]] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    zero = (0, "0.00")
    nineteenth, twentieth, twenty_first = (figures(d) for d in report["days"])
    assert nineteenth == {
        **dict.fromkeys(FIGURES, zero),
        "received": (1, "5.00"),
        "matched": (1, "5.00"),
    }
    assert twentieth == {
        "received": (4, "290.00"),
        "matched": (2, "225.00"),
        "suspense": (1, "25.00"),
        "refunded": (1, "40.00"),
        "pending": (1, "60.00"),
        "refused": (1, "10.00"),
        "duplicates": (1, "15.00"),
        "from_statement": (1, "75.00"),
        "unreconciled": (2, "75.00"),
    }
    assert twenty_first == {
        **dict.fromkeys(FIGURES, zero),
        "received": (1, "20.00"),
        "matched": (1, "20.00"),
    }
    for day in [*report["days"], report["totals"]]:
        parts = ("matched", "suspense", "refunded")
        assert day["received"]["count"] == sum(day[p]["count"] for p in parts)
        assert cents(day["received"]["amount"]) == sum(cents(day[p]["amount"]) for p in parts)
        assert day["unreconciled"]["count"] == day["pending"]["count"] + day["duplicates"]["count"]
    for name in FIGURES:
        assert report["totals"][name]["count"] == sum(d[name]["count"] for d in report["days"])
        assert cents(report["totals"][name]["amount"]) == sum(
            cents(d[name]["amount"]) for d in report["days"]
        )
    assert report["totals"]["received"] == {"count": 6, "amount": "315.00"}
    assert report["totals"]["day"] is None

    # the suspense account holds what the report says is in suspense, through every day
    accounts = client.get("/api/v1/accounts", params={"limit": 500}, headers=org.headers()).json()
    (acc,) = [a for a in accounts["items"] if a["code"] == "PAYCH:TILL-1:SUSPENSE"]
    held = client.get(f"/api/v1/accounts/{acc['id']}/balance", headers=org.headers()).json()
    assert held["balance"] == report["totals"]["suspense"]["amount"]


def test_the_reports_period_and_readers(client, org, till) -> None:  # type: ignore[no-untyped-def]
    week = client.get(REPORT, headers=org.headers("treasurer"))
    assert week.status_code == 200, week.text
    days = [date.fromisoformat(d["day"]) for d in week.json()["days"]]
    assert len(days) == 7 and days == [days[0] + timedelta(days=i) for i in range(7)]
    assert week.json()["totals"]["received"] == {"count": 0, "amount": "0.00"}
    assert client.get(REPORT, headers=org.headers("admin")).status_code == 200
    for role in ("collector", "fund_office"):
        assert client.get(REPORT, headers=org.headers(role)).status_code == 403
    backwards = client.get(
        REPORT, params={"from": "2026-11-21", "to": "2026-11-20"}, headers=org.headers()
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["code"] == "payment_report.bad_period"
    too_long = client.get(
        REPORT, params={"from": "2025-01-01", "to": "2026-11-20"}, headers=org.headers()
    )
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["code"] == "payment_report.long_period"
    assert (
        client.get(REPORT, params={"from": "yesterday"}, headers=org.headers()).status_code == 422
    )
    assert (
        client.get("/api/v1/payment-channels/NOPE/report", headers=org.headers()).status_code == 404
    )

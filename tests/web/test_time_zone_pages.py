"""Pages take and show times on the organisation's clock (America/Santo_Domingo, UTC-4), in
its language, labelled with the zone: a receipt typed at 21:00 is 01:00 UTC the next day,
and is shown back at 21:00 on the day it was typed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.core import clock
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.identity.models import Organisation
from app.identity.service import set_time_zone
from tests.web.book import make_book
from tests.web.test_pages import form_key

ZONE = "America/Santo_Domingo"


@pytest.fixture
def dr_org(make_web_org, session_factory):  # type: ignore[no-untyped-def]
    org = make_web_org("AMUSSOL", locale="es", roles=("treasurer",))
    with unit_of_work(session_factory, org.id) as s:
        found = s.get(Organisation, org.id)
        assert found is not None
        set_time_zone(s, CLI_ACTOR, found, ZONE)
    make_book(session_factory, org.id)
    return org


def test_a_receipt_typed_at_21_00_local_is_stored_in_utc_and_shown_at_21_00(  # type: ignore[no-untyped-def]
    web, dr_org, engine, session_factory
) -> None:
    web.sign_in(dr_org)
    form = web.get("/web/receipts/new")
    assert f"Recibido el ({ZONE})" in form.text
    assert "(UTC)" not in form.text
    shown = re.search(r'name="received_at"[^>]*value="([^"]+)"', form.text) or re.search(
        r'value="([^"]+)"[^>]*name="received_at"', form.text
    )
    assert shown is not None
    prefilled = datetime.fromisoformat(shown.group(1))
    local_now = clock.now_local(ZONE).replace(tzinfo=None)
    assert abs(prefilled - local_now) < timedelta(minutes=2)  # the local wall clock, not UTC

    r = web.post(
        "/web/receipts/new",
        {
            "form_key": form_key(form),
            "payer": "M-0001",
            "amount": "100.00",
            "received_at": "2026-11-20T21:00",
            "channel": "cash",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with engine.connect() as conn:
        at, on = conn.execute(
            sa.text(
                "SELECT r.received_at, j.effective_on FROM receipt r JOIN journal_entry j "
                "ON j.organisation_id = r.organisation_id AND j.id = r.journal_id"
            )
        ).one()
    stored = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
    assert stored == datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    assert (on if isinstance(on, date) else date.fromisoformat(str(on))) == date(2026, 11, 20)

    # the dashboard's "collected by day" counts it on the 20th
    from app.web.routes.dashboard import collected_by_day

    with unit_of_work(session_factory, dr_org.id) as s:
        by_day = collected_by_day(s, date(2026, 11, 19), date(2026, 11, 21), ZONE)
    assert {c: dict(days) for c, days in by_day.items()} == {"DOP": {date(2026, 11, 20): 10000}}

    slip = web.get(r.headers["location"])
    assert "20 nov 2026, 21:00" in slip.text, slip.text
    assert f'data-testid="time-zone">{ZONE}<' in slip.text
    listed = web.get("/web/receipts")
    assert f"Horas de la zona horaria {ZONE}." in listed.text
    assert "21:00" in listed.text and "1:00" not in listed.text.replace("21:00", "")


def test_a_wall_time_skipped_by_a_clock_change_is_refused(  # type: ignore[no-untyped-def]
    web, make_web_org, session_factory, engine
) -> None:
    org = make_web_org("NYC", roles=("treasurer",))
    with unit_of_work(session_factory, org.id) as s:
        found = s.get(Organisation, org.id)
        assert found is not None
        set_time_zone(s, CLI_ACTOR, found, "America/New_York")
    make_book(session_factory, org.id)
    web.sign_in(org)
    form = web.get("/web/receipts/new")
    assert "Received at (America/New_York)" in form.text
    r = web.post(
        "/web/receipts/new",
        {
            "form_key": form_key(form),
            "payer": "M-0001",
            "amount": "100.00",
            "received_at": "2026-03-08T02:30",  # clocks go from 02:00 to 03:00 that night
            "channel": "cash",
        },
    )
    assert r.status_code == 422
    assert "Enter the date and time it was received." in r.text
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM receipt")).scalar_one() == 0


def test_a_hand_over_typed_at_21_00_local_is_dated_that_day(  # type: ignore[no-untyped-def]
    web, make_web_org, session_factory, engine
) -> None:
    from tests.web.test_pages_month import ROLES, give_cash, handover_form

    org = make_web_org("AMUSSOL", roles=ROLES)
    with unit_of_work(session_factory, org.id) as s:
        found = s.get(Organisation, org.id)
        assert found is not None
        set_time_zone(s, CLI_ACTOR, found, ZONE)
    book = make_book(session_factory, org.id)
    ids = give_cash(session_factory, org, book, 100000)
    web.sign_in(org)
    page = web.get("/web/handovers")
    assert f"Handed over at ({ZONE})" in page.text
    data = handover_form(page, ids, counted_amount="1000.00", handed_over_at="2026-11-21T21:00")
    r = web.post("/web/handovers", data, follow_redirects=False)
    assert r.status_code == 303, r.text
    with engine.connect() as conn:
        at, on = conn.execute(
            sa.text(
                "SELECT h.handed_over_at, j.effective_on FROM handover h JOIN journal_entry j "
                "ON j.organisation_id = h.organisation_id AND j.id = h.journal_id"
            )
        ).one()
    stored = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
    assert stored == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    assert (on if isinstance(on, date) else date.fromisoformat(str(on))) == date(2026, 11, 21)
    shown = web.get(r.headers["location"])
    assert "Nov 21, 2026, 9:00:00" in shown.text and ZONE in shown.text, shown.text

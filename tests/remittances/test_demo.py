from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.core.database import unit_of_work
from app.demo import DEMO_STEPS
from app.identity.models import Organisation
from app.remittances.models import RemittanceBatch
from tests.remittances.factories import make_fund, make_member, owe


def test_demo_step_seals_one_batch_for_the_first_fund_owed(org, books, session_factory) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        make_fund(s, "AAA")  # owed nothing: skipped
        fund = make_fund(s, "BBB")
        owe(s, make_member(s, "M-1"), fund, 5000, date(2026, 1, 1), date(2026, 1, 31))
    with unit_of_work(session_factory, org.id) as s:
        organisation = s.scalar(select(Organisation).where(Organisation.id == org.id))
        DEMO_STEPS[-1](s, organisation)
    with unit_of_work(session_factory, org.id) as s:
        batches = s.scalars(select(RemittanceBatch)).all()
        assert [(b.status, b.control_sum) for b in batches] == [("sealed", 5000)]

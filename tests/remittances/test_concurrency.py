"""The database, not only the code, keeps a share in at most one live batch."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.core.errors import Conflict
from app.remittances import service
from tests.remittances.conftest import count
from tests.remittances.factories import make_fund, make_member, owe


def test_a_second_live_link_for_a_share_is_refused_by_the_database(org, books, engine) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "FUND")
        owe(s, make_member(s, "M-1"), fund, 100, date(2026, 11, 1), date(2026, 11, 30))
    with books() as s:
        first = service.create_batch(s, CLI_ACTOR, fund_code="FUND", through=date(2026, 11, 30))
        second_number = service.next_number(s, "remittance")
        s.execute(
            sa.text(
                "INSERT INTO remittance_batch (organisation_id, id, number, fund_id, through, status, currency, "
                "line_count, control_sum, accepted_count, accepted_sum, rejected_count, rejected_sum, created_at, "
                "created_by, updated_at) SELECT organisation_id, :id, :n, fund_id, through, 'draft', currency, 0, 0, "
                "0, 0, 0, 0, created_at, 'x', updated_at FROM remittance_batch WHERE id = :first"
            ).bindparams(
                sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("first", type_=sa.Uuid())
            ),
            {"id": uuid.uuid4(), "n": second_number, "first": first.id},
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO remittance_share (organisation_id, batch_id, share_id) "
                "SELECT b.organisation_id, b.id, l.share_id FROM remittance_batch b, remittance_share l "
                "WHERE b.number = :n"
            ),
            {"n": second_number},
        )
    assert count(engine, "remittance_share") == 1


@pytest.mark.postgres_only
def test_concurrent_batches_for_one_fund_never_share_a_contribution(
    org, books, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "FUND")
        for n in range(40):
            owe(s, make_member(s, f"M-{n}"), fund, 100 + n, date(2026, 11, 1), date(2026, 11, 30))
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def make() -> None:
        barrier.wait()
        try:
            with unit_of_work(session_factory, org.id) as s:
                service.create_batch(s, CLI_ACTOR, fund_code="FUND", through=date(2026, 11, 30))
            outcomes.append("created")
        except Conflict:
            outcomes.append("nothing owed")

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "nothing owed", "nothing owed", "nothing owed"]
    assert count(engine, "remittance_share", "released_at IS NULL") == 40
    assert count(engine, "remittance_line") == 40

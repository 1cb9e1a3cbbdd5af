"""The bulk tables' references are checked by the database once per statement (migration
0007) instead of per-row foreign keys: what a foreign key refused is still refused."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.ids import uuid7
from app.remittances import service
from tests.remittances.factories import make_fund, make_member, owe

NOV = (date(2026, 11, 1), date(2026, 11, 30))


def _run(engine: sa.Engine, sql: str, **params: object) -> None:
    stmt = sa.text(sql).bindparams(
        *(sa.bindparam(k, type_=sa.Uuid()) for k in params if not isinstance(params[k], str))
    )
    with engine.begin() as conn:
        conn.execute(stmt, params)


def test_references_of_links_and_lines_are_refused_like_foreign_keys(engine, books) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "CNSS")
        ana = make_member(s, "M-001")
        luis = make_member(s, "M-002")
        share = owe(s, ana, fund, 1000, *NOV)
        share_id, ana_id, luis_id, org = share.id, ana.id, luis.id, fund.organisation_id
    with books() as s:
        batch_id = service.create_batch(s, CLI_ACTOR, fund_code="CNSS", through=NOV[1]).id
    line = {"org": org, "batch": batch_id}
    refused = [
        # a link to a share or a batch that does not exist
        (
            "INSERT INTO remittance_share (organisation_id, batch_id, share_id) "
            "VALUES (:org, :batch, :other)",
            {**line, "other": uuid7()},
        ),
        (
            "INSERT INTO remittance_share (organisation_id, batch_id, share_id) "
            "VALUES (:org, :other, :share)",
            {"org": org, "other": uuid7(), "share": share_id},
        ),
        # a line for a member who does not exist, or moved to another member
        (
            "INSERT INTO remittance_line (organisation_id, id, batch_id, line_number, "
            "end_to_end_id, member_id, period_start, period_end, amount, status) VALUES "
            "(:org, :id, :batch, 2, 'X-2', :other, '2026-12-01', '2026-12-31', 5, 'pending')",
            {**line, "id": uuid7(), "other": uuid7()},
        ),
        (
            "UPDATE remittance_line SET member_id = :luis WHERE organisation_id = :org "
            "AND batch_id = :batch",
            {**line, "luis": luis_id},
        ),
        (
            "UPDATE remittance_line SET acknowledgement_id = :other WHERE organisation_id = :org "
            "AND batch_id = :batch",
            {**line, "other": uuid7()},
        ),
        ("UPDATE remittance_share SET share_id = :other", {"other": uuid7()}),
        # what a line or a link names stays
        ("DELETE FROM contribution_share WHERE id = :share", {"share": share_id}),
        ("DELETE FROM remittance_batch WHERE id = :batch", {"batch": batch_id}),
        ("DELETE FROM member WHERE id = :ana", {"ana": ana_id}),
    ]
    for sql, params in refused:
        with pytest.raises(sa.exc.IntegrityError):
            _run(engine, sql, **params)
    # ... while what may change, changes
    _run(
        engine,
        "UPDATE remittance_line SET reason = 'note' WHERE organisation_id = :org "
        "AND batch_id = :batch",
        **line,
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM remittance_share")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM remittance_line")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM contribution_share")).scalar_one() == 1
    # Ana's dues keep her whatever the triggers do; a member whom only a remittance line
    # names is kept by the line (and one named by nothing may go: the control)
    with books() as s:
        nobody = make_member(s, "M-003").id
    _run(
        engine,
        "INSERT INTO remittance_line (organisation_id, id, batch_id, line_number, "
        "end_to_end_id, member_id, period_start, period_end, amount, status) VALUES "
        "(:org, :id, :batch, 2, 'X-2', :luis, '2026-11-01', '2026-11-30', 5, 'pending')",
        **line,
        id=uuid7(),
        luis=luis_id,
    )
    with pytest.raises(sa.exc.IntegrityError):
        _run(engine, "DELETE FROM member WHERE id = :luis", luis=luis_id)
    _run(engine, "DELETE FROM member WHERE id = :nobody", nobody=nobody)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM member")).scalar_one() == 2

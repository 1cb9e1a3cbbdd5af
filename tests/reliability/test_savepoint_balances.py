"""A failed step in a savepoint (one bad item of a sheet) must not lose the stored balances of
the entries posted before it in the same transaction (found while building the audit chain:
the ledger forgot its pending balances on any rollback, savepoints included)."""

from __future__ import annotations

from datetime import date

from app.core import verify
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.ledger import service as ledger


def test_savepoint_rollback_keeps_earlier_entries_balances(org, session_factory) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org.id) as s:
        cash = ledger.open_account(
            s, CLI_ACTOR, code="CASH", name="Cash", type="asset", currency="DOP"
        )
        owed = ledger.open_account(
            s, CLI_ACTOR, code="OWED", name="Owed", type="liability", currency="DOP"
        )
    day = date(2026, 11, 20)
    with unit_of_work(session_factory, org.id) as s:
        ledger.post(
            s,
            CLI_ACTOR,
            description="kept",
            effective_on=day,
            lines=[ledger.Line.debit(cash.id, 15000), ledger.Line.credit(owed.id, 15000)],
        )
        try:
            with s.begin_nested():
                ledger.post(
                    s,
                    CLI_ACTOR,
                    description="undone",
                    effective_on=day,
                    lines=[ledger.Line.debit(cash.id, 700), ledger.Line.credit(owed.id, 700)],
                )
                raise ValueError("this item of the sheet is refused")
        except ValueError:
            pass
        with s.begin_nested():
            ledger.post(
                s,
                CLI_ACTOR,
                description="kept too",
                effective_on=day,
                lines=[ledger.Line.debit(cash.id, 50), ledger.Line.credit(owed.id, 50)],
            )
    with unit_of_work(session_factory, org.id) as s:
        assert ledger.balance(s, cash.id).signed == 15050
        assert ledger.balance(s, owed.id).signed == 15050
        assert verify.run(s) == []
    # and a whole transaction that rolls back still leaves nothing behind
    try:
        with unit_of_work(session_factory, org.id) as s:
            ledger.post(
                s,
                CLI_ACTOR,
                description="lost",
                effective_on=day,
                lines=[ledger.Line.debit(cash.id, 1), ledger.Line.credit(owed.id, 1)],
            )
            raise RuntimeError("crash")
    except RuntimeError:
        pass
    with unit_of_work(session_factory, org.id) as s:
        assert ledger.balance(s, cash.id).signed == 15050 and verify.run(s) == []

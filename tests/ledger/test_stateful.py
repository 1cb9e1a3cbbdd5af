"""The ledger against a model of it: random sequences of posts, refusals, reversals and retries.

A Hypothesis state machine drives the ledger's verbs (`open_account`, `post`, `reverse`,
`balance`, `history`) and `run_idempotent` on a real database, each step in its own unit of
work as a request would be, and keeps an in-memory model: a list of postings per account.
After every step each account's balance (now and as of several dates) and history must
equal the model's, the rows written must be exactly the model's, and `coopledger verify`
must find nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm import Session, sessionmaker

from app.core import verify
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.core.errors import Conflict, IdempotencyConflict, ValidationFailed
from app.core.idempotency import IdempotencyRecord, KeyOwner, fingerprint, run_idempotent
from app.identity.service import create_organisation
from app.ledger import service
from app.ledger.models import AccountType, JournalEntry, Posting

FIRST_DAY = date(2026, 1, 1)
DAYS = 60
AS_OF_DATES = [FIRST_DAY - timedelta(days=1), date(2026, 1, 20), date(2026, 2, 10)]

# code, type, currency
ACCOUNTS = [
    ("DOP-CASH", AccountType.asset, "DOP"),
    ("DOP-BANK", AccountType.asset, "DOP"),
    ("DOP-OWED", AccountType.liability, "DOP"),
    ("DOP-FEES", AccountType.income, "DOP"),
    ("XOF-CASH", AccountType.asset, "XOF"),
    ("XOF-OWED", AccountType.liability, "XOF"),
]
CURRENCIES = ("DOP", "XOF")

amounts = st.integers(min_value=-(10**9), max_value=10**9).filter(bool)
days = st.integers(min_value=0, max_value=DAYS).map(lambda n: FIRST_DAY + timedelta(days=n))


@st.composite
def balanced_lines(draw: st.DrawFn) -> list[tuple[int, int]]:
    """(account index, signed minor units) lines balancing per currency, in one or two currencies."""
    lines: list[tuple[int, int]] = []
    for currency in draw(
        st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=2, unique=True)
    ):
        pool = [i for i, (_, _, c) in enumerate(ACCOUNTS) if c == currency]
        part = draw(st.lists(st.tuples(st.sampled_from(pool), amounts), min_size=1, max_size=4))
        rest = -sum(a for _, a in part)
        if rest:
            part.append((draw(st.sampled_from(pool)), rest))
        lines.extend(part)
    return draw(st.permutations(lines))


@dataclass
class ModelEntry:
    id: uuid.UUID
    lines: list[tuple[int, int]]  # account index, signed minor units
    effective_on: date
    is_reversal: bool = False
    reversed: bool = False


@dataclass
class ModelKey:
    key: str
    payload: dict
    status: int
    body: bytes


@dataclass
class Model:
    postings: dict[int, list[tuple[date, int]]] = field(
        default_factory=lambda: {i: [] for i in range(len(ACCOUNTS))}
    )
    entries: list[ModelEntry] = field(default_factory=list)

    def apply(self, entry: ModelEntry) -> None:
        self.entries.append(entry)
        for account, amount in entry.lines:
            self.postings[account].append((entry.effective_on, amount))

    def balance(self, account: int, as_of: date | None = None) -> int:
        return sum(a for d, a in self.postings[account] if as_of is None or d <= as_of)


def payload_of(description: str, effective_on: date, lines: list[tuple[int, int]]) -> dict:
    return {
        "description": description,
        "effective_on": effective_on.isoformat(),
        "lines": [list(line) for line in lines],
    }


class LedgerMachine(RuleBasedStateMachine):
    factory: sessionmaker[Session]
    posted = Bundle("posted")
    keys = Bundle("keys")

    @initialize()
    def open_books(self) -> None:
        self.model = Model()
        self.key_serial = 0
        code = "T" + uuid.uuid4().hex[:12].upper()
        with unit_of_work(self.factory) as session:
            self.org = create_organisation(session, code=code, name=code, currency="DOP").id
            self.caller = KeyOwner(self.org, "key", uuid.uuid4())  # one caller sends every key
            self.accounts = [
                service.open_account(
                    session, CLI_ACTOR, code=c, name=c.title(), type=t, currency=cur
                ).id
                for c, t, cur in ACCOUNTS
            ]

    # -- the verbs --------------------------------------------------------------------------------

    def _lines(self, lines: list[tuple[int, int]]) -> list[service.Line]:
        return [service.Line(self.accounts[i], amount) for i, amount in lines]

    def _post(
        self, session: Session, description: str, on: date, lines: list[tuple[int, int]]
    ) -> uuid.UUID:
        return service.post(
            session, CLI_ACTOR, description=description, effective_on=on, lines=self._lines(lines)
        )

    @rule(target=posted, lines=balanced_lines(), on=days)
    def post_balanced(self, lines: list[tuple[int, int]], on: date) -> ModelEntry:
        with unit_of_work(self.factory, self.org) as session:
            entry_id = self._post(session, "balanced", on, lines)
        entry = ModelEntry(entry_id, lines, on)
        self.model.apply(entry)
        return entry

    @rule(
        lines=balanced_lines(),
        flaw=st.sampled_from(["unbalanced", "one line", "zero line"]),
        extra=st.tuples(st.integers(0, len(ACCOUNTS) - 1), amounts),
        on=days,
    )
    def post_a_broken_entry(
        self, lines: list[tuple[int, int]], flaw: str, extra: tuple[int, int], on: date
    ) -> None:
        """Refused by the ledger itself (422), and nothing is written: the invariants check."""
        if flaw == "unbalanced":  # one more non-zero line unbalances its currency
            broken, why = [*lines, extra], "do not balance"
        elif flaw == "one line":
            broken, why = [extra], "at least two postings"
        else:
            broken, why = [*lines, (extra[0], 0)], "must not be zero"
        with (
            pytest.raises(ValidationFailed, match=why),
            unit_of_work(self.factory, self.org) as session,
        ):
            self._post(session, flaw, on, broken)

    @rule(target=posted, entry=posted, on=days)
    def reverse(self, entry: ModelEntry, on: date) -> MultipleResults[ModelEntry] | ModelEntry:
        """The exact mirror, once: reversing a reversed entry or a reversal is a conflict."""
        if entry.is_reversal or entry.reversed:
            with pytest.raises(Conflict), unit_of_work(self.factory, self.org) as session:
                service.reverse(session, CLI_ACTOR, entry.id, reason="again", effective_on=on)
            return multiple()
        with unit_of_work(self.factory, self.org) as session:
            reversal_id = service.reverse(
                session, CLI_ACTOR, entry.id, reason="mistake", effective_on=on
            )
        entry.reversed = True
        mirror = [(account, -amount) for account, amount in entry.lines]
        reversal = ModelEntry(reversal_id, mirror, on, is_reversal=True)
        self.model.apply(reversal)
        return reversal

    # -- retries with an Idempotency-Key ----------------------------------------------------------

    def _idempotent(self, key: str, payload: dict) -> tuple[int, bytes]:
        lines = [tuple(line) for line in payload["lines"]]
        on = date.fromisoformat(payload["effective_on"])
        request_hash = fingerprint("POST", "/journal", payload)
        with unit_of_work(self.factory, self.org) as session:

            def operation() -> tuple[int, dict]:
                entry_id = self._post(session, payload["description"], on, lines)
                return 201, {"id": entry_id, "lines": payload["lines"]}

            response = run_idempotent(session, self.caller, key, request_hash, operation)
        return response.status_code, bytes(response.body)

    @rule(target=keys, lines=balanced_lines(), on=days, unbalance=st.booleans())
    def first_request_with_a_key(
        self, lines: list[tuple[int, int]], on: date, unbalance: bool
    ) -> ModelKey:
        self.key_serial += 1
        key = f"sheet-{self.key_serial}"
        if unbalance:
            lines = [*lines, (lines[0][0], 1)]
        payload = payload_of("keyed", on, lines)
        status, body = self._idempotent(key, payload)
        if unbalance:
            # a refused request is answered (and stored) as a problem, and writes no money
            assert status == 422
            assert json.loads(body)["type"] == "/problems/validation-error"
        else:
            assert status == 201
            posted = json.loads(body)
            self.model.apply(ModelEntry(uuid.UUID(posted["id"]), lines, on))
        return ModelKey(key, payload, status, body)

    @rule(key=keys)
    def retry_the_same_request(self, key: ModelKey) -> None:
        status, body = self._idempotent(key.key, key.payload)
        assert (status, body) == (key.status, key.body)

    @rule(key=keys, lines=balanced_lines())
    def reuse_a_key_for_another_request(self, key: ModelKey, lines: list[tuple[int, int]]) -> None:
        other = payload_of("keyed", date.fromisoformat(key.payload["effective_on"]), lines)
        if other == key.payload:
            other["description"] = "another"
        with pytest.raises(IdempotencyConflict):
            self._idempotent(key.key, other)

    # -- what must hold after every step ----------------------------------------------------------

    @invariant()
    def books_match_the_model(self) -> None:
        if not hasattr(self, "org"):
            return
        with unit_of_work(self.factory, self.org) as session:
            for i, account in enumerate(self.accounts):
                now = service.balance(session, account)
                assert now.raw == self.model.balance(i), ACCOUNTS[i]
                assert now.signed == self.model.balance(i) * ACCOUNTS[i][1].normal_sign
                for as_of in AS_OF_DATES:
                    got = service.balance(session, account, as_of).raw
                    assert got == self.model.balance(i, as_of), (ACCOUNTS[i], as_of)
            entries = session.scalar(sa.select(sa.func.count()).select_from(JournalEntry))
            postings = session.scalar(sa.select(sa.func.count()).select_from(Posting))
            assert entries == len(self.model.entries)
            assert postings == sum(len(e.lines) for e in self.model.entries)
            assert (
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.organisation_id == self.org,
                        IdempotencyRecord.status_code.is_(None),
                    )
                )
                == 0
            )
            assert verify.run(session) == []

    @invariant()
    def history_matches_the_model(self) -> None:
        if not hasattr(self, "org"):
            return
        with unit_of_work(self.factory, self.org) as session:
            for i, account in enumerate(self.accounts):
                lines: list[service.HistoryLine] = []
                before = None
                while True:  # small pages, to walk the cursor too
                    _, page, before = service.history(session, account, limit=10, before=before)
                    lines.extend(page)
                    if before is None:
                        break
                amounts_seen = Counter(ln.posting.amount for ln in lines)
                assert amounts_seen == Counter(a for _, a in self.model.postings[i])
                running = self.model.balance(i)
                previous_day = None
                for ln in lines:  # newest first, each with the balance after it
                    assert ln.balance_after == running
                    running -= ln.posting.amount
                    assert previous_day is None or ln.posting.effective_on <= previous_day
                    previous_day = ln.posting.effective_on
                assert running == 0


def test_ledger_behaves_like_its_model(session_factory) -> None:  # type: ignore[no-untyped-def]
    machine = type("Ledger", (LedgerMachine,), {"factory": session_factory})
    run_state_machine_as_test(
        machine,
        settings=settings(
            # bounded for `make test`; `make soak` runs more (COOPLEDGER_STATEFUL_EXAMPLES)
            max_examples=int(os.environ.get("COOPLEDGER_STATEFUL_EXAMPLES", "6")),
            stateful_step_count=12,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

"""The invariant itself: no sequence of API calls, by any role, leaves `coopledger verify` failing.

A Hypothesis state machine sends random requests over HTTP (the app in process, a real
database) as every role (admin, treasurer, two collectors, auditor, fund_office): the
generic ledger endpoints (manual accounts; manual entries between ANY two accounts,
service-owned ones included; reversals of ANY entry, with real and blank reasons), receipts
and their reversal, hand-overs to ANY account with any count, and the remittance lifecycle
(create, seal, cancel, submit, acknowledge, settle into any account). After every step:
- no request answered 5xx;
- a call by a role the API does not allow it (ALLOWED) answered 403 or 404, and any request
  refused for the caller's role or scope (401/403/404) changed nothing;
- `coopledger verify` (app.core.verify, every invariant) finds nothing in the organisation;
- a manual entry or a hand-over that went through touched no account a service table points
  at (a fund's, a collector's cash, a member's or unit's credit).

On main before issue 11 this machine failed within a few steps: the journal reversed a
receipt's entry or a batch's seal entry (201), or took a manual entry into a fund's account,
and verify then reported the receipt or the fund as broken; a manual entry into a member's
credit or a collector's cash, or a hand-over into another collector's cash, broke the last
rule above.

`make test` runs a short run per database; `make soak` a long one
(COOPLEDGER_STATEFUL_EXAMPLES examples; COOPLEDGER_STATEFUL_STEPS steps each).
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from datetime import date
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.core import verify
from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.identity.service import create_api_key
from tests.collections.factories import add_dues, standard_book

SEEN: Counter[str] = Counter()  # what the runs did, printed with COOPLEDGER_STATEFUL_SHOW=1
ROLES = ("admin", "treasurer", "collector", "rosa", "auditor", "fund_office")
FUNDS = ("PENSION", "HEALTH", "ACCIDENT")
PAYERS = ("M-001", "M-002", "BUS-1")
REASONS = ("typo", "typo", "  bounced  ", "   ", "")
AT = "2026-11-20T13:30:00Z"

# the treasurer may do most, so it is drawn most; every role is drawn
roles = st.sampled_from(("treasurer", "treasurer", "treasurer", *ROLES))
picks = st.integers(min_value=0, max_value=10_000)  # an index into what exists now
amounts = st.integers(min_value=1, max_value=80_000)  # minor units (DOP cents)


ALLOWED = [  # (path pattern, roles that may call it); a collector's key is "collector" or "rosa"
    (r"/accounts$", ("admin", "treasurer")),
    (r"/journal(/[^/]+/reverse)?$", ("treasurer",)),
    (r"/receipts$", ("treasurer", "collector", "rosa")),
    (r"/receipts/[^/]+/reverse$", ("treasurer",)),
    (r"/handovers$", ("treasurer", "collector", "rosa")),
    (r"/remittances(/[^/]+/(seal|cancel|submit))?$", ("admin", "treasurer")),
    (r"/remittances/[^/]+/(acknowledgement|settlement)$", ("treasurer", "fund_office")),
]


def allowed(path: str) -> tuple[str, ...]:
    for pattern, roles in ALLOWED:
        if re.search(pattern, path):
            return roles
    raise AssertionError(f"no roles listed for {path}")


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


class BooksMachine(RuleBasedStateMachine):
    client: Any
    make_org: Any
    session_factory: Any
    engine: sa.Engine

    @initialize()
    def open_books(self) -> None:
        code = "S" + uuid.uuid4().hex[:10].upper()
        self.org = self.make_org(code, "DOP", fund_code="PENSION")
        self.book = standard_book(self.session_factory, self.org)
        for number in ("M-001", "M-002"):
            for month in (9, 10, 11):
                add_dues(
                    self.session_factory,
                    self.book,
                    "monthly-fee",
                    ("member", self.book.members[number]),
                    date(2026, month, 1),
                    1,
                    30000,
                )
        with unit_of_work(self.session_factory) as session:
            bind_organisation(session, self.org.id)
            self.org.keys["rosa"] = create_api_key(
                session, CLI_ACTOR, name="rosa", role="collector"
            ).secret
        self.serial = 0
        self.last = ""
        bank = self.call("treasurer", "POST", "/api/v1/accounts", json=self._account("BANK:MAIN"))
        assert bank.status_code == 201, bank.text
        # every kind of service entry exists from the first step: receipts by both collectors
        # and at the desk, a hand-over with a shortfall, a sealed batch and a draft one
        m1, m2 = (str(self.book.members[n]) for n in ("M-001", "M-002"))
        for role, payer, amount, channel in [
            ("collector", m1, "900.00", "cash"),
            ("rosa", m2, "450.00", "cash"),
            ("treasurer", m2, "120.00", "bank"),
        ]:
            body = {"member_id": payer, "amount": amount, "currency": "DOP", "received_at": AT}
            r = self.call(role, "POST", "/api/v1/receipts", json={**body, "channel": channel})
            assert r.status_code == 201, self.last
        handover = {
            "collector_id": self.collector(0),
            "amount": "100.00",
            "counted_amount": "90.00",
            "currency": "DOP",
            "to_account_id": bank.json()["id"],
            "handed_over_at": "2026-11-21T17:00:00-04:00",
            "reference": "slip-0",
        }
        assert self.call("treasurer", "POST", "/api/v1/handovers", json=handover).status_code == 201
        for fund, through in (("PENSION", "2026-09-30"), ("HEALTH", "2026-09-30")):
            body = {"fund_code": fund, "through": through}
            r = self.call("treasurer", "POST", "/api/v1/remittances", json=body)
            assert r.status_code == 201, self.last
        sealed = self.call("treasurer", "POST", f"/api/v1/remittances/{self.batch(0)}/seal")
        assert sealed.status_code == 200, self.last

    # -- helpers ----------------------------------------------------------------------------------

    def _account(self, code: str, type_: str = "asset") -> dict[str, str]:
        return {"code": code, "name": code.title(), "type": type_, "currency": "DOP"}

    def _q(self, sql: str) -> Any:
        return sa.text(sql).bindparams(sa.bindparam("org", self.org.id, type_=sa.Uuid()))

    def _ids(self, sql: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._q(sql)).scalars().all()
        return [str(uuid.UUID(str(r))) for r in rows]

    def _pick(self, sql: str, i: int) -> str | None:
        ids = self._ids(sql)
        return ids[i % len(ids)] if ids else None

    def account(self, i: int) -> str:
        """Any account: the organisation's own or one a service keeps. An odd pick takes one of
        the accounts opened through POST /accounts (so that some manual entries and hand-overs
        go through), an even one any account at all."""
        if i % 2:
            mine = self._pick(
                "SELECT id FROM account WHERE organisation_id = :org AND created_by LIKE 'key:%' "
                "ORDER BY code",
                i // 2,
            )
            if mine is not None:
                return mine
        found = self._pick(
            "SELECT id FROM account WHERE organisation_id = :org ORDER BY code", i // 2
        )
        assert found is not None
        return found

    def entry(self, i: int) -> str | None:
        """Any entry; an odd pick one of the five newest (a manual entry just made, say)."""
        ids = self._ids(
            "SELECT id FROM journal_entry WHERE organisation_id = :org ORDER BY recorded_at, id"
        )
        if not ids:
            return None
        return ids[-1 - (i // 2) % min(5, len(ids))] if i % 2 else ids[(i // 2) % len(ids)]

    def receipt(self, i: int) -> str | None:
        return self._pick(
            "SELECT id FROM receipt WHERE organisation_id = :org ORDER BY receipt_number", i
        )

    def batch(self, i: int) -> str | None:
        return self._pick(
            "SELECT id FROM remittance_batch WHERE organisation_id = :org ORDER BY number", i
        )

    def collector(self, i: int) -> str:
        found = self._pick("SELECT id FROM collector WHERE organisation_id = :org ORDER BY name", i)
        assert found is not None
        return found

    def kept_by_services(self) -> set[str]:
        """The accounts the service tables point at (read from them, not from the ledger's
        owner column: the oracle holds on code that has no such column)."""
        ids: set[str] = set()
        for sql in (
            "SELECT owed_account_id FROM fund WHERE organisation_id = :org",
            "SELECT transit_account_id FROM fund WHERE organisation_id = :org",
            "SELECT custody_account_id FROM fund WHERE organisation_id = :org "
            "AND custody_account_id IS NOT NULL",
            "SELECT cash_account_id FROM collector WHERE organisation_id = :org",
            "SELECT credit_account_id FROM member WHERE organisation_id = :org",
            "SELECT credit_account_id FROM transport_unit WHERE organisation_id = :org",
        ):
            ids.update(self._ids(sql))
        return ids

    def fingerprint(self) -> tuple[Any, ...]:
        """What any write would change: row counts, balances' sum, statuses."""
        queries = [
            "SELECT count(*) FROM journal_entry WHERE organisation_id = :org",
            "SELECT count(*) FROM posting WHERE organisation_id = :org",
            "SELECT count(*) FROM account WHERE organisation_id = :org",
            "SELECT count(*) FROM receipt WHERE organisation_id = :org AND status = 'reversed'",
            "SELECT count(*) FROM receipt WHERE organisation_id = :org",
            "SELECT count(*) FROM handover WHERE organisation_id = :org",
            "SELECT count(*) FROM allocation WHERE organisation_id = :org",
            "SELECT count(*) FROM remittance_batch WHERE organisation_id = :org",
            "SELECT coalesce(sum(length(status) * number), 0) FROM remittance_batch "
            "WHERE organisation_id = :org",
            "SELECT coalesce(sum(accepted_count + 7 * rejected_count), 0) FROM remittance_batch "
            "WHERE organisation_id = :org",
        ]
        with self.engine.connect() as conn:
            return tuple(conn.execute(self._q(q)).scalar() for q in queries)

    def call(self, role: str, method: str, path: str, **kw: Any) -> Any:
        before = self.fingerprint()
        r = self.client.request(method, path, headers=self.org.headers(role), **kw)
        self.last = f"{role} {method} {path} {kw.get('json')} -> {r.status_code} {r.text[:300]}"
        assert r.status_code < 500, self.last
        if role not in allowed(path):  # the roles the API documents for the call
            assert r.status_code in (403, 404), self.last
        what = path.split("/")[3] + ("/" + path.split("/")[-1] if path.count("/") > 4 else "")
        event(f"{method} {what} -> {r.status_code}")
        SEEN[f"{method} {what} {role} -> {r.status_code}"] += 1
        if r.status_code in (401, 403, 404):
            assert self.fingerprint() == before, f"refused but wrote: {self.last}"
        return r

    # -- the generic ledger -----------------------------------------------------------------------

    @rule(role=roles, type_=st.sampled_from(["asset", "liability", "expense", "income"]))
    def open_a_manual_account(self, role: str, type_: str) -> None:
        self.serial += 1
        r = self.call(
            role, "POST", "/api/v1/accounts", json=self._account(f"M{self.serial}", type_)
        )
        assert r.status_code in (201, 403, 404), self.last

    @rule(role=roles, debit=picks, credit=picks, amount=amounts)
    def post_a_manual_entry(self, role: str, debit: int, credit: int, amount: int) -> None:
        body = {
            "description": "by hand",
            "effective_on": "2026-11-20",
            "postings": [
                {"account_id": self.account(debit), "amount": money(amount), "direction": "debit"},
                {
                    "account_id": self.account(credit),
                    "amount": money(amount),
                    "direction": "credit",
                },
            ],
        }
        r = self.call(role, "POST", "/api/v1/journal", json=body)
        assert r.status_code in (201, 403, 422, 404), self.last
        if r.status_code == 201:  # a manual entry never touches what a service keeps
            touched = {p["account_id"] for p in body["postings"]}
            assert not touched & self.kept_by_services(), self.last

    @rule(role=roles, which=picks, reason=st.sampled_from(REASONS))
    def reverse_any_entry(self, role: str, which: int, reason: str) -> None:
        entry = self.entry(which)
        if entry is None:
            return
        r = self.call(role, "POST", f"/api/v1/journal/{entry}/reverse", json={"reason": reason})
        assert r.status_code in (201, 403, 409, 422, 404), self.last
        if not reason.strip():
            assert r.status_code in (403, 422, 404), self.last

    # the treasurer is the one role the journal is for: the holes of issue 11 were its calls
    @rule(which=picks)
    def treasurer_reverses_any_entry(self, which: int) -> None:
        self.reverse_any_entry("treasurer", which, "mistake")

    @rule(debit=picks, credit=picks, amount=amounts)
    def treasurer_posts_between_any_accounts(self, debit: int, credit: int, amount: int) -> None:
        self.post_a_manual_entry("treasurer", debit, credit, amount)

    # -- receipts ---------------------------------------------------------------------------------

    @rule(
        role=roles,
        payer=st.sampled_from(PAYERS),
        amount=amounts,
        channel=st.sampled_from(["cash", "bank", "mobile_money"]),
    )
    def take_a_receipt(self, role: str, payer: str, amount: int, channel: str) -> None:
        if payer in self.book.members:
            who = {"member_id": str(self.book.members[payer])}
        else:
            who = {"unit_id": str(self.book.units[payer])}
        body = {**who, "amount": money(amount), "currency": "DOP", "received_at": AT}
        r = self.call(role, "POST", "/api/v1/receipts", json={**body, "channel": channel})
        assert r.status_code in (201, 403, 409, 422, 404), self.last

    @rule(role=roles, which=picks, reason=st.sampled_from(REASONS))
    def reverse_a_receipt(self, role: str, which: int, reason: str) -> None:
        receipt = self.receipt(which)
        if receipt is None:
            return
        r = self.call(role, "POST", f"/api/v1/receipts/{receipt}/reverse", json={"reason": reason})
        assert r.status_code in (201, 403, 409, 422, 404), self.last

    # -- hand-overs -------------------------------------------------------------------------------

    @rule(
        role=roles,
        collector=picks,
        to=picks,
        amount=amounts,
        counted=st.one_of(st.none(), st.integers(min_value=0, max_value=400_000)),
    )
    def hand_over(
        self, role: str, collector: int, to: int, amount: int, counted: int | None
    ) -> None:
        self.serial += 1
        body: dict[str, Any] = {
            "collector_id": self.collector(collector),
            "amount": money(amount),
            "currency": "DOP",
            "to_account_id": self.account(to),
            "handed_over_at": "2026-11-21T17:00:00-04:00",
            "reference": f"slip-{self.serial}",
        }
        if counted is not None:
            body["counted_amount"] = money(counted)
        r = self.call(role, "POST", "/api/v1/handovers", json=body)
        assert r.status_code in (201, 403, 422, 404), self.last
        if r.status_code == 201:  # cash goes to a bank or treasury, never to a service's account
            assert body["to_account_id"] not in self.kept_by_services(), self.last

    # -- remittances ------------------------------------------------------------------------------

    @rule(role=roles, fund=st.sampled_from(FUNDS))
    def create_a_batch(self, role: str, fund: str) -> None:
        body = {"fund_code": fund, "through": "2026-12-31"}
        r = self.call(role, "POST", "/api/v1/remittances", json=body)
        assert r.status_code in (201, 403, 409, 404), self.last

    @rule(role=roles, which=picks, step=st.sampled_from(["seal", "cancel", "submit"]))
    def move_a_batch(self, role: str, which: int, step: str) -> None:
        batch = self.batch(which)
        if batch is None:
            return
        kw: dict[str, Any] = {"json": {"reason": "again"}} if step == "cancel" else {}
        r = self.call(role, "POST", f"/api/v1/remittances/{batch}/{step}", **kw)
        assert r.status_code in (200, 403, 409, 422, 404), self.last

    @rule(
        role=roles,
        which=picks,
        decisions=st.lists(st.booleans(), min_size=1, max_size=6),
        into=st.one_of(st.none(), picks),
        short=st.integers(min_value=0, max_value=500),
    )
    def advance_a_batch(
        self, role: str, which: int, decisions: list[bool], into: int | None, short: int
    ) -> None:
        """The next step of a batch's life for its status, so that runs reach settlement."""
        batch = self.batch(which)
        if batch is None:
            return
        h = self.org.headers("treasurer")
        status = self.client.get(f"/api/v1/remittances/{batch}", headers=h).json()["status"]
        if status in ("draft", "sealed"):
            step = "seal" if status == "draft" else "submit"
            r = self.call(role, "POST", f"/api/v1/remittances/{batch}/{step}")
        elif status == "submitted":
            self.acknowledge_a_batch(role, which, decisions)
            return
        elif status == "acknowledged":
            accepted = self.client.get(f"/api/v1/remittances/{batch}", headers=h).json()
            minor = int(accepted["accepted_sum"].replace(".", "")) - short
            self.settle_a_batch(role, which, into, max(minor, 1))
            return
        else:
            return
        assert r.status_code in (200, 403, 409, 404), self.last

    @rule(role=roles, which=picks, decisions=st.lists(st.booleans(), min_size=1, max_size=6))
    def acknowledge_a_batch(self, role: str, which: int, decisions: list[bool]) -> None:
        batch = self.batch(which)
        if batch is None:
            return
        lines = self.client.get(
            f"/api/v1/remittances/{batch}/lines", headers=self.org.headers("treasurer")
        ).json()["items"]
        answers = [
            {"end_to_end_id": ln["end_to_end_id"], "status": "accepted"}
            if ok
            else {"end_to_end_id": ln["end_to_end_id"], "status": "rejected", "reason": "no"}
            for ln, ok in zip(lines, decisions, strict=False)
        ]
        if not answers:
            return
        r = self.call(
            role, "POST", f"/api/v1/remittances/{batch}/acknowledgement", json={"lines": answers}
        )
        assert r.status_code in (200, 403, 409, 422, 404), self.last

    @rule(role=roles, which=picks, into=st.one_of(st.none(), picks), amount=amounts)
    def settle_a_batch(self, role: str, which: int, into: int | None, amount: int) -> None:
        batch = self.batch(which)
        if batch is None:
            return
        body: dict[str, Any] = {
            "amount": money(amount),
            "settled_on": "2026-12-05",
            "reference": "TRF",
        }
        if into is not None:
            body["bank_account_id"] = self.account(into)
        r = self.call(role, "POST", f"/api/v1/remittances/{batch}/settlement", json=body)
        assert r.status_code in (200, 403, 409, 422, 404), self.last

    # -- what must hold after every step ----------------------------------------------------------

    @invariant()
    def verify_finds_nothing(self) -> None:
        if not hasattr(self, "org"):
            return
        with unit_of_work(self.session_factory, self.org.id) as session:
            found = [f"{b.invariant}: {b.detail}" for b in verify.run(session)]
        assert found == [], f"after {self.last}: {found}"


def test_no_api_call_by_any_role_leaves_verify_failing(
    client, make_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    machine = type(
        "Books",
        (BooksMachine,),
        {
            "client": client,
            "make_org": staticmethod(make_org),
            "session_factory": session_factory,
            "engine": engine,
        },
    )
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        machine,
        settings=settings(
            # a short run for `make test`; `make soak` sets COOPLEDGER_STATEFUL_EXAMPLES
            max_examples=int(os.environ.get("COOPLEDGER_STATEFUL_EXAMPLES", "5")),
            stateful_step_count=int(os.environ.get("COOPLEDGER_STATEFUL_STEPS", "40")),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    if os.environ.get("COOPLEDGER_STATEFUL_SHOW"):
        for line, n in sorted(SEEN.items()):
            print(f"{n:5d}  {line}")

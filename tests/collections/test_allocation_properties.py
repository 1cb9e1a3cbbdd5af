"""Money properties of allocation (Hypothesis): never over- or under-allocated, oldest first,
allocations plus credit equal the receipt exactly; the same through the API and the books."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.collections.allocation import DueQueue, OpenDue, attribute
from app.core import verify
from tests.collections.factories import add_dues, bound, standard_book
from tests.collections.test_receipts_api import receipt

SPLITS = [
    [{"fund": "A", "percent": "100"}],
    [{"fund": "A", "percent": "60"}, {"fund": "B", "percent": "35"}, {"fund": "C", "percent": "5"}],
    [
        {"fund": "A", "percent": "33.3"},
        {"fund": "B", "percent": "33.3"},
        {"fund": "C", "percent": "33.4"},
    ],
]
rules_st = st.builds(
    lambda fee, split: {"split": split, **({"fee": {"percent": fee}} if fee else {})},
    st.sampled_from([None, "5", "2.5", "12.75"]),
    st.sampled_from(SPLITS),
)


@settings(max_examples=150, deadline=None)
@given(
    outstanding=st.lists(st.integers(1, 10**7), max_size=12),
    rules=st.lists(rules_st, min_size=12, max_size=12),
    payments=st.lists(st.integers(0, 3 * 10**7), min_size=1, max_size=6),
)
def test_take_never_over_or_under_allocates_and_pays_oldest_first(
    outstanding, rules, payments
) -> None:  # type: ignore[no-untyped-def]
    day = date(2026, 1, 1)
    dues = [
        OpenDue(
            uuid.UUID(int=i + 1),
            day + timedelta(days=i),
            day + timedelta(days=i),
            day + timedelta(days=i),
            amt,
            rules[i],
        )
        for i, amt in enumerate(outstanding)
    ]
    queue = DueQueue(list(reversed(dues)))
    queue.sort()
    before = {d.id: d.outstanding for d in dues}
    paid: dict[uuid.UUID, int] = {d.id: 0 for d in dues}
    for amount in payments:
        owed_before = sum(before[d.id] - paid[d.id] for d in dues)
        taken, left = queue.take(amount)
        assert sum(p.amount for p in taken) + left == amount  # exact, nothing lost or made
        assert left == max(0, amount - owed_before)  # credit only once every due is paid
        for p in taken:
            assert 0 < p.amount <= before[p.due.id] - paid[p.due.id]  # never over a due
            assert p.fee >= 0 and all(part >= 0 for _, part in p.parts)
            assert p.fee + sum(part for _, part in p.parts) == p.amount
            paid[p.due.id] += p.amount
        # oldest first: no due is paid anything while an older one is still open
        open_seen = False
        for d in dues:
            if open_seen:
                assert paid[d.id] == 0
            if paid[d.id] < before[d.id]:
                open_seen = True
    assert all(d.outstanding == before[d.id] - paid[d.id] for d in dues)


@settings(max_examples=100, deadline=None)
@given(part=st.integers(-(10**9), 10**9), n=st.integers(1, 9))
def test_attribute_shares_sum_exactly_and_differ_by_at_most_one(part, n) -> None:  # type: ignore[no-untyped-def]
    members = [uuid.UUID(int=i * 7919 + 3) for i in range(n)]
    shares = attribute(part, members)
    assert sum(a for _, a in shares) == part
    amounts = [a for _, a in shares] + [0] * (n - len(shares))
    assert max(amounts) - min(amounts) <= 1
    assert [m for m, _ in shares] == sorted(m for m, _ in shares)  # stable order: by member id


_orgs = itertools.count()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    dues=st.lists(st.integers(1, 50_000), min_size=0, max_size=4),
    amounts=st.lists(st.integers(1, 120_000), min_size=1, max_size=5),
    reverse=st.lists(st.booleans(), min_size=5, max_size=5),
    late_dues=st.lists(st.integers(1, 50_000), max_size=2),
)
def test_receipts_through_the_api_keep_the_books_exact(
    client, make_org, session_factory, dues, amounts, reverse, late_dues
) -> None:  # type: ignore[no-untyped-def]
    org = make_org(f"P{next(_orgs)}", "DOP")
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    for i, amount in enumerate(dues):
        add_dues(
            session_factory,
            book,
            "monthly-fee",
            ("member", m1),
            date(2026, 10, 1 + i),
            1,
            amount,
        )
    posted = []
    for amount in amounts:
        r = client.post(
            "/api/v1/receipts",
            json=receipt({"member_id": str(m1)}, f"{amount // 100}.{amount % 100:02d}"),
            headers=org.headers("collector"),
        )
        assert r.status_code == 201, r.text
        body = r.json()
        allocated = sum(int(a["amount"].replace(".", "")) for a in body["allocations"])
        assert allocated + int(body["credit"].replace(".", "")) == amount
        posted.append(body)
    for i, amount in enumerate(late_dues):
        add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 11, 1 + i), 1, amount)
    for body, undo in zip(posted, reverse, strict=False):
        if undo:
            r = client.post(
                f"/api/v1/receipts/{body['id']}/reverse",
                json={"reason": "p"},
                headers=org.headers("treasurer"),
            )
            assert r.status_code == 201, r.text
    with bound(session_factory, org.id) as session:
        assert verify.run(session, org.id) == []
    # what the member owes, by the statement, is the open dues minus the prepaid credit
    st_body = client.get(f"/api/v1/members/{m1}/statement", headers=org.headers("auditor")).json()
    kept = sum(a for a, undo in zip(amounts, reverse + [False] * 5, strict=False) if not undo)
    expected = sum(dues) + sum(late_dues) - kept
    assert int(st_body["closing_balance"].replace(".", "")) == expected

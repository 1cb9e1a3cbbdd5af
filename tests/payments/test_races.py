"""Two treasurers, or a callback and a poll, on one payment at the same moment (PostgreSQL:
rows are locked, and a row a session read before must be read again under the lock)."""

from __future__ import annotations

import threading
import uuid

import pytest

from app.core.audit import Actor
from app.core.errors import Conflict
from app.payments import service
from tests.collections.factories import bound
from tests.collections.test_reversal_and_credit import clean_books
from tests.payments.test_generic_json import payment, send, suspense_balance, till

__all__ = ["till"]

pytestmark = pytest.mark.postgres_only


def test_a_refund_racing_a_match_resolves_the_payment_once(
    client, org, till, session_factory
) -> None:  # type: ignore[no-untyped-def]
    book, channel = till
    held = send(client, channel, payment("TX-R", "ZZ-1", "40.00")).json()
    assert held["status"] == "suspense"
    nid = uuid.UUID(held["notification_id"])
    actor = Actor("user:test")
    later = bound(session_factory, org.id)
    try:
        later.begin()
        # the second treasurer's page read the payment before the first one acted
        assert service.get_notification(later, nid).status == "suspense"
        with bound(session_factory, org.id) as first:
            service.refund(first, actor, nid, "asked for it back")
            first.commit()
        with pytest.raises(Conflict):
            service.match(later, actor, nid, ("member", book.members["M-001"]))
    finally:
        later.rollback()
        later.close()
    assert suspense_balance(client, org) == "0.00"
    clean_books(session_factory, org)


def test_two_final_callbacks_of_a_pending_payment_book_it_once(
    client, org, till, session_factory
) -> None:  # type: ignore[no-untyped-def]
    _, channel = till
    pending = send(client, channel, payment("TX-P", "ZZ-2", "40.00", status="pending")).json()
    assert pending["status"] == "pending"
    final = payment("TX-P", "ZZ-2", "40.00", status="successful")
    answers: list[int] = []
    start = threading.Barrier(4)

    def deliver() -> None:
        start.wait()
        answers.append(send(client, channel, final).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * 4
    assert suspense_balance(client, org) == "40.00"
    clean_books(session_factory, org)

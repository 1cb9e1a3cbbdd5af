"""The audit trail is a per-organisation hash chain: verify finds an edited, deleted or
inserted event; appends stay ordered under concurrency; rolled-back work leaves no event."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app.core import audit, verify
from app.core.audit import CLI_ACTOR, GENESIS_HASH, AuditEvent, event_hash
from app.core.database import unit_of_work

CHAIN = "the audit trail is an unbroken hash chain"


def chain_breaches(session_factory, org_id=None) -> list[str]:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as session:
        return [b.detail for b in verify.run(session, org_id) if b.invariant == CHAIN]


def events(engine, org_id) -> list[dict]:  # type: ignore[no-untyped-def]
    table = AuditEvent.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table).where(table.c.organisation_id == org_id).order_by(table.c.seq)
        )
        return [dict(r._mapping) for r in rows]


@contextmanager
def tampering(engine):  # type: ignore[no-untyped-def]
    """A connection that bypasses the append-only triggers, as someone with the database's
    owner rights (or a text editor on the SQLite file) could."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_update"))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
        yield conn


def record_some(session_factory, org_id, n: int, action: str = "test.event") -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org_id) as session:
        for i in range(n):
            audit.record(session, CLI_ACTOR, action, "thing", i, {"i": i, "name": "Zoë ٱلمدينة"})


def test_events_are_chained_in_order(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    record_some(session_factory, org.id, 3)
    rows = events(engine, org.id)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    prev = GENESIS_HASH
    for row in rows:
        assert row["prev_hash"] == prev and row["hash"] == event_hash(prev, row)
        prev = row["hash"]
    with unit_of_work(session_factory) as session:
        assert audit.head(session, org.id) == (len(rows), prev)
    assert chain_breaches(session_factory) == []


def test_the_database_refuses_editing_or_deleting_an_event(org, engine) -> None:  # type: ignore[no-untyped-def]
    for statement in (
        "UPDATE audit_event SET actor = 'nobody'",
        "DELETE FROM audit_event",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert len(events(engine, org.id)) > 0


def test_verify_finds_an_edited_event(org, make_org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    other = make_org("OTHER", "XOF")
    record_some(session_factory, org.id, 4)
    target = events(engine, org.id)[3]
    with tampering(engine) as conn:
        conn.execute(
            sa.update(AuditEvent.__table__)
            .where(AuditEvent.__table__.c.id == target["id"])
            .values(actor="user:someone-else")
        )
    found = chain_breaches(session_factory)
    assert len(found) == 1 and f"event {target['seq']} " in found[0] and "edited" in found[0]
    assert chain_breaches(session_factory, other.id) == []  # the other organisation is clean


def test_verify_finds_a_deleted_event_in_the_middle_and_at_the_end(
    org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    record_some(session_factory, org.id, 4)
    rows = events(engine, org.id)
    with tampering(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq = :s"), {"s": rows[2]["seq"]})
    found = chain_breaches(session_factory)
    assert any("deleted" in f for f in found), found
    # deleting the newest events leaves a chain that links, but the head says more existed
    with tampering(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq >= :s"), {"s": rows[2]["seq"]})
    found = chain_breaches(session_factory)
    assert len(found) == 1 and "chain head is event" in found[0], found


def test_verify_finds_an_inserted_event(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    record_some(session_factory, org.id, 2)
    rows = events(engine, org.id)
    forged = dict(rows[1])
    forged.update(id=__import__("uuid").uuid4(), seq=len(rows) + 1, action="journal.post")
    # the forger even computes a valid-looking hash, but cannot move the chain head
    forged["prev_hash"] = rows[-1]["hash"]
    forged["hash"] = event_hash(forged["prev_hash"], forged)
    with tampering(engine) as conn:
        conn.execute(sa.insert(AuditEvent.__table__).values(forged))
    found = chain_breaches(session_factory)
    assert found and "chain head" in found[0], found


def test_rolled_back_work_records_no_event(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    before = len(events(engine, org.id))
    with pytest.raises(RuntimeError), unit_of_work(session_factory, org.id) as session:
        audit.record(session, CLI_ACTOR, "doomed", "thing")
        raise RuntimeError("the business action failed")
    with unit_of_work(session_factory, org.id) as session:
        audit.record(session, CLI_ACTOR, "kept.before", "thing")
        try:
            with session.begin_nested():
                audit.record(session, CLI_ACTOR, "doomed.savepoint", "thing")
                raise ValueError("one item of a sheet failed")
        except ValueError:
            pass
        with session.begin_nested():
            audit.record(session, CLI_ACTOR, "kept.savepoint", "thing")
    actions = [r["action"] for r in events(engine, org.id)[before:]]
    assert actions == ["kept.before", "kept.savepoint"]
    assert chain_breaches(session_factory) == []


@pytest.mark.postgres_only
def test_concurrent_appends_keep_one_unbroken_chain(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    before = len(events(engine, org.id))
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(25):
                with unit_of_work(session_factory, org.id) as session:
                    audit.record(session, CLI_ACTOR, "concurrent", "thing", f"{w}-{i}")
                    audit.record(session, CLI_ACTOR, "concurrent.2", "thing", f"{w}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = events(engine, org.id)
    assert len(rows) == before + 6 * 25 * 2
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert chain_breaches(session_factory) == []


def test_auditor_reads_the_trail_with_filters_and_cursor(
    client, org, make_org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    other = make_org("OTHER", "XOF")
    record_some(session_factory, org.id, 5, action="member.update")
    record_some(session_factory, other.id, 2, action="member.update")
    h = org.headers("auditor")
    first = client.get("/api/v1/audit-events?action=member.update&limit=3", headers=h)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [e["object_id"] for e in body["items"]] == ["4", "3", "2"]
    assert body["items"][0]["details"] == {"i": 4, "name": "Zoë ٱلمدينة"}
    second = client.get(
        f"/api/v1/audit-events?action=member.update&limit=3&cursor={body['next_cursor']}",
        headers=h,
    ).json()
    assert [e["object_id"] for e in second["items"]] == ["1", "0"] and second["next_cursor"] is None
    everything = client.get("/api/v1/audit-events?limit=500", headers=h).json()["items"]
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    assert {e["action"] for e in everything} >= {"organisation.create", "api_key.create"}
    assert client.get("/api/v1/audit-events?actor=nobody", headers=h).json()["items"] == []
    assert client.get("/api/v1/audit-events?from=2099-01-01", headers=h).json()["items"] == []
    head = client.get("/api/v1/audit-events/head", headers=h).json()
    assert head == {"seq": everything[0]["seq"], "hash": everything[0]["hash"]}
    assert client.get("/api/v1/audit-events", headers=org.headers("treasurer")).status_code == 403
    bad = client.get("/api/v1/audit-events?cursor=WzFd1", headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_verify_endpoint_reports_breaches_to_the_auditor(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("auditor")
    clean = client.get("/api/v1/verify", headers=h)
    assert clean.status_code == 200 and clean.json()["ok"] is True, clean.text
    names = {i["name"] for i in clean.json()["invariants"]}
    assert CHAIN in names and "every entry balances per currency" in names
    record_some(session_factory, org.id, 2)
    with tampering(engine) as conn:
        conn.execute(
            sa.update(AuditEvent.__table__)
            .where(AuditEvent.__table__.c.action == "test.event")
            .values(details={"i": 999})
        )
    broken = client.get("/api/v1/verify", headers=org.headers("admin")).json()
    assert broken["ok"] is False
    chain = next(i for i in broken["invariants"] if i["name"] == CHAIN)
    assert chain["ok"] is False and len(chain["breaches"]) == 2
    assert client.get("/api/v1/verify", headers=org.headers("collector")).status_code == 403

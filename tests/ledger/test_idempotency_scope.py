"""Idempotency keys belong to the caller who sent them (issue 11), as in Stripe's API and the
IETF idempotency-key draft: the same key from another caller is another request. Before, a
key was the organisation's: a second collector reusing another's key with the same body got
the first collector's receipt (201) and could not read it (404).

Also: a key stored before migration 0011 (no known caller) still answers a retry, so a
request sent before the upgrade and retried after it is never posted twice; and the
migration keeps such records and refuses duplicate affiliation numbers before changing
anything."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from alembic import command

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.identity.service import create_api_key
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_receipts_api import count, receipt
from tests.core.test_migrations import config, empty_url  # noqa: F401 - the fixture
from tests.ledger.test_journal_api import entry, open_accounts


def _collector_key(session_factory, org, name: str) -> str:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org.id) as s:
        return create_api_key(s, CLI_ACTOR, name=name, role="collector").secret


def test_two_collectors_with_one_key_make_two_receipts(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    member = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", member), date(2026, 9, 1), 2, 30000)
    first = {"Authorization": f"Bearer {org.keys['collector']}"}
    second = {"Authorization": f"Bearer {_collector_key(session_factory, org, 'second')}"}
    body = receipt({"member_id": str(member)}, "100.00", reference="slip 1")
    key = {"Idempotency-Key": "sheet-1-item-1"}  # a key a phone app could well repeat

    a = client.post("/api/v1/receipts", json=body, headers={**first, **key})
    b = client.post("/api/v1/receipts", json=body, headers={**second, **key})
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert "Idempotency-Replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["collector_id"] != b.json()["collector_id"]
    assert count(engine, "receipt") == 2 and count(engine, "idempotency_record") == 2
    # each reads its own receipt
    for who, answer in ((first, a), (second, b)):
        mine = client.get(f"/api/v1/receipts/{answer.json()['id']}", headers=who)
        assert mine.status_code == 200 and mine.json()["id"] == answer.json()["id"], mine.text

    # the same caller's retry: the first answer byte for byte, nothing written
    for who, answer in ((first, a), (second, b)):
        again = client.post("/api/v1/receipts", json=body, headers={**who, **key})
        assert (again.status_code, again.content) == (201, answer.content)
        assert again.headers["Idempotency-Replayed"] == "true"
    # the same caller, another body: 409; another caller's key is no reason for one
    other = receipt({"member_id": str(member)}, "250.00")
    refused = client.post("/api/v1/receipts", json=other, headers={**first, **key})
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("idempotency-key-reused")
    assert count(engine, "receipt") == 2


def test_a_user_and_an_api_key_have_their_own_keys(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    from app.identity.service import create_user

    with unit_of_work(session_factory, org.id) as s:
        create_user(
            s, CLI_ACTOR, username="tesorera", password="a long passw0rd!", role="treasurer"
        )
    token = client.post(
        "/api/v1/auth/token",
        data={"username": f"{org.code}/tesorera", "password": "a long passw0rd!"},
    ).json()["access_token"]
    h = org.headers("treasurer")
    bank, income = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    fee = entry("bank fee", bank, income, "5.00")
    key = {"Idempotency-Key": "fee-2026-11"}
    by_key = client.post("/api/v1/journal", json=fee, headers={**h, **key})
    by_user = client.post(
        "/api/v1/journal", json=fee, headers={"Authorization": f"Bearer {token}", **key}
    )
    assert by_key.status_code == by_user.status_code == 201, (by_key.text, by_user.text)
    assert by_key.json()["id"] != by_user.json()["id"]
    assert count(engine, "journal_entry") == 2


def test_a_key_from_before_the_upgrade_still_answers_its_retry(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    member = book.members["M-001"]
    first = {"Authorization": f"Bearer {org.keys['collector']}"}
    second = {"Authorization": f"Bearer {_collector_key(session_factory, org, 'second')}"}
    body = receipt({"member_id": str(member)}, "100.00")
    key = {"Idempotency-Key": "queued-before-the-upgrade"}
    a = client.post("/api/v1/receipts", json=body, headers={**first, **key})
    assert a.status_code == 201, a.text
    with engine.begin() as conn:  # as migration 0011 leaves a record it found: caller unknown
        conn.execute(sa.text("UPDATE idempotency_record SET caller = ''"))
    for who in (first, second):  # the caller is unknown: any caller's retry is answered
        again = client.post("/api/v1/receipts", json=body, headers={**who, **key})
        assert (again.status_code, again.content) == (201, a.content)
    other = receipt({"member_id": str(member)}, "200.00")
    assert client.post("/api/v1/receipts", json=other, headers={**second, **key}).status_code == 409
    assert count(engine, "receipt") == 1 and count(engine, "idempotency_record") == 1


@pytest.mark.parametrize("duplicates", [False, True])
def test_migration_0011_keeps_old_keys_and_stops_on_a_shared_number(
    empty_url: str,  # noqa: F811 - the imported fixture
    duplicates: bool,
) -> None:
    cfg = config(empty_url)
    command.upgrade(cfg, "0010")
    engine = sa.create_engine(empty_url, poolclass=sa.pool.NullPool)
    org, fund, now = uuid.uuid4(), uuid.uuid4(), "2026-11-30 10:00:00+00:00"
    members = [uuid.uuid4(), uuid.uuid4()]

    def uid(value: uuid.UUID) -> str:
        return value.hex if empty_url.startswith("sqlite") else str(value)

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO organisation (id, code, name, currency, created_at) "
                "VALUES (:id, 'OLD', 'Old', 'DOP', :now)"
            ),
            {"id": uid(org), "now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO idempotency_record (organisation_id, key, request_hash, "
                "status_code, response_body, content_type, created_at) "
                "VALUES (:org, 'k-1', :hash, 201, :body, 'application/json', :now)"
            ),
            {"org": uid(org), "hash": "0" * 64, "body": b'{"id":1}', "now": now},
        )
        if duplicates:
            accounts = [uuid.uuid4() for _ in range(4)]
            for i, account in enumerate(accounts):
                conn.execute(
                    sa.text(
                        "INSERT INTO account (organisation_id, id, code, name, type, currency, "
                        "created_at, created_by) VALUES (:org, :id, :code, 'a', 'liability', "
                        "'DOP', :now, 'test')"
                    ),
                    {"org": uid(org), "id": uid(account), "code": f"A{i}", "now": now},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO fund (organisation_id, id, code, name, kind, currency, adapter, "
                    "adapter_config, custody, owed_account_id, transit_account_id, created_at, "
                    "updated_at) VALUES (:org, :id, 'CNSS', 'CNSS', 'social_security', 'DOP', "
                    "'csv', '{}', false, :owed, :transit, :now, :now)"
                ),
                {
                    "org": uid(org),
                    "id": uid(fund),
                    "owed": uid(accounts[0]),
                    "transit": uid(accounts[1]),
                    "now": now,
                },
            )
            for i, member in enumerate(members):
                conn.execute(
                    sa.text(
                        "INSERT INTO member (organisation_id, id, member_number, full_name, "
                        "status, joined_on, credit_account_id, search_text, created_at, "
                        "updated_at) VALUES (:org, :id, :number, 'x', 'active', '2026-01-01', "
                        ":account, '', :now, :now)"
                    ),
                    {
                        "org": uid(org),
                        "id": uid(member),
                        "number": f"M-{i}",
                        "account": uid(accounts[2 + i]),
                        "now": now,
                    },
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO member_affiliation (organisation_id, id, member_id, fund_id, "
                        "affiliation_number, updated_at) VALUES (:org, :id, :member, :fund, "
                        "'SS-1', :now)"
                    ),
                    {
                        "org": uid(org),
                        "id": uid(uuid.uuid4()),
                        "member": uid(member),
                        "fund": uid(fund),
                        "now": now,
                    },
                )
    try:
        if duplicates:
            with pytest.raises(RuntimeError, match="OLD CNSS 'SS-1': members M-0, M-1"):
                command.upgrade(cfg, "0011")
            with engine.connect() as conn:  # nothing changed: still at 0010
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert version.scalar_one() == "0010"
            return
        command.upgrade(cfg, "0011")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT caller, key FROM idempotency_record")).all()
        assert [tuple(row) for row in kept] == [("", "k-1")]
        command.downgrade(cfg, "0010")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM idempotency_record")).scalar() == 1
    finally:
        engine.dispose()

"""The database itself guards dues (both databases): a due's references must agree, nothing
of a due changes but what is paid on it, versions never change, and what dues come from stays."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests.schemes.books import (
    TRANSPORT_FUNDS,
    add_member,
    add_unit,
    all_dues,
    enrol,
    generate,
    load_file,
    make_funds,
)


def _setup(client, org):  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    unit = add_unit(client, org, "A-1")
    other = add_unit(client, org, "B-2")
    e = enrol(
        client, org, unit_id=unit["id"], scheme_code="transport-daily", starts_on="2026-03-02"
    )
    generate(client, org, "2026-03-03")
    return unit, other, e, all_dues(client, org)


def _u(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def _run(engine, sql: str, **params) -> None:  # type: ignore[no-untyped-def]
    stmt = sa.text(sql).bindparams(
        *(sa.bindparam(k, type_=sa.Uuid()) for k, v in params.items() if isinstance(v, uuid.UUID))
    )
    with engine.begin() as conn:
        conn.execute(stmt, params)


def test_a_due_must_agree_with_its_enrolment_and_version(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    unit, other, e, dues = _setup(client, org)
    with engine.connect() as conn:
        version_id, scheme_id = conn.execute(
            sa.text("SELECT id, scheme_id FROM scheme_version WHERE version = 1")
        ).one()
    insert = (
        "INSERT INTO due (organisation_id, id, member_id, unit_id, enrolment_id, harvest_id, scheme_id, "
        "scheme_version_id, period_start, period_end, due_on, currency, amount, paid, created_at) VALUES "
        "(:org, :id, NULL, :unit, :enrolment, NULL, :scheme, :version, '2026-03-10', '2026-03-10', "
        "'2026-03-10', 'DOP', 100, 0, '2026-03-10 00:00:00')"
    )
    good = {
        "org": org.id,
        "id": uuid.uuid4(),
        "unit": _u(unit["id"]),
        "enrolment": _u(e["id"]),
        "scheme": scheme_id,
        "version": version_id,
    }
    bad_cases = [
        {**good, "unit": _u(other["id"])},  # another unit than the enrolment's
        {**good, "enrolment": uuid.uuid4()},  # no such enrolment
        {**good, "version": uuid.uuid4()},  # no such version
    ]
    for params in bad_cases:
        with pytest.raises(sa.exc.IntegrityError):
            _run(engine, insert, **params)
    with pytest.raises(sa.exc.IntegrityError):  # neither from an enrolment nor a harvest
        _run(
            engine,
            insert.replace(":enrolment", "NULL"),
            **{k: v for k, v in good.items() if k != "enrolment"},
        )
    _run(engine, insert, **good)  # the same, right, is accepted
    assert len(all_dues(client, org)) == len(dues) + 1


def test_only_what_is_paid_on_a_due_changes(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    _unit, _other, e, dues = _setup(client, org)
    due_id = _u(dues[0]["id"])
    _run(engine, "UPDATE due SET paid = 1000 WHERE id = :id", id=due_id)
    for change in ("amount = 1", "due_on = '2027-01-01'", "period_start = '2026-03-09'"):
        with pytest.raises(sa.exc.DatabaseError):
            _run(engine, f"UPDATE due SET {change} WHERE id = :id", id=due_id)
    assert (
        all_dues(client, org)[0]["amount"] == "50.00"
        and all_dues(client, org)[0]["paid"] == "10.00"
    )
    with pytest.raises(sa.exc.DatabaseError):
        _run(engine, "UPDATE scheme_version SET rules = rules")
    with pytest.raises(sa.exc.DatabaseError):
        _run(engine, "DELETE FROM scheme_version")
    with pytest.raises(sa.exc.DatabaseError):
        _run(engine, "DELETE FROM enrolment WHERE id = :id", id=_u(e["id"]))
    with pytest.raises(sa.exc.DatabaseError):
        _run(
            engine,
            "UPDATE enrolment SET scheme_id = scheme_id, unit_id = NULL, member_id = :m WHERE id = :id",
            m=_u(add_member(client, org, "X")["id"]),
            id=_u(e["id"]),
        )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM enrolment")).scalar_one() == 1

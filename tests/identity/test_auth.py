"""Sign-in and bearer tokens: who gets in, who is refused (401), and what is stored."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.core.security import issue_access_token
from app.identity.models import ApiKey, User
from app.identity.service import create_user

PASSWORD = "correct horse battery"


def add_user(
    session_factory, org_id: uuid.UUID, username: str, role: str = "treasurer"
) -> uuid.UUID:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org_id) as session:
        return create_user(session, CLI_ACTOR, username=username, password=PASSWORD, role=role).id


@pytest.fixture
def people(make_org, session_factory):  # type: ignore[no-untyped-def]
    """AMUSSOL has ana (treasurer) and luis (auditor); OTHER has another ana (admin)."""
    amussol, other = make_org("AMUSSOL", "DOP"), make_org("OTHER", "XOF")
    ids = {
        "ana": add_user(session_factory, amussol.id, "ana"),
        "luis": add_user(session_factory, amussol.id, "luis", "auditor"),
        "other-ana": add_user(session_factory, other.id, "ana", "admin"),
    }
    return amussol, other, ids


def sign_in(client, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/token", data={"username": username, "password": password, **extra}
    )


def me(client, token: str):  # type: ignore[no-untyped-def]
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def assert_401(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and body["type"] == "/problems/unauthorized"


def test_sign_in_names_the_organisation_or_a_unique_username(client, people, app) -> None:  # type: ignore[no-untyped-def]
    r = sign_in(client, "AMUSSOL/ana")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == app.state.settings.access_token_minutes * 60
    who = me(client, body["access_token"])
    assert who.status_code == 200
    assert who.json() == {
        "organisation": "AMUSSOL",
        "currency": "DOP",
        "role": "treasurer",
        "name": "ana",
        "kind": "user",
        "fund_code": None,
    }

    # the `organisation` form field names it too
    r = sign_in(client, "ana", organisation="OTHER")
    assert r.status_code == 200
    assert me(client, r.json()["access_token"]).json()["organisation"] == "OTHER"
    assert me(client, r.json()["access_token"]).json()["role"] == "admin"

    # a plain username works where it is unique...
    r = sign_in(client, "luis")
    assert r.status_code == 200
    assert me(client, r.json()["access_token"]).json()["role"] == "auditor"
    # ...and not where two organisations have it
    assert_401(sign_in(client, "ana"))
    # nor in an organisation that does not have it
    assert_401(sign_in(client, "OTHER/luis"))


def test_wrong_password_and_unknown_user_are_refused_alike(client, people) -> None:  # type: ignore[no-untyped-def]
    wrong = sign_in(client, "AMUSSOL/ana", "not the password")
    unknown = sign_in(client, "AMUSSOL/nobody")
    no_org = sign_in(client, "NOWHERE/ana")
    for r in (wrong, unknown, no_org):
        assert_401(r)
        assert r.json()["detail"] == "wrong username or password"
        assert "access_token" not in r.text
    r = client.post("/api/v1/auth/token", data={"username": "AMUSSOL/ana"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"


def test_tokens_that_are_expired_forged_or_malformed_are_refused(client, people, app) -> None:  # type: ignore[no-untyped-def]
    amussol, _, ids = people
    secret = app.state.settings.secret_key

    def token(key: str, minutes: int) -> str:
        return issue_access_token(
            key, user_id=ids["ana"], organisation_id=amussol.id, role="treasurer", minutes=minutes
        )

    assert me(client, token(secret, 5)).status_code == 200  # the control: same user, good token
    assert_401(me(client, token(secret, -1)))  # expired a minute ago
    assert_401(me(client, token("another-secret-that-is-long-enough-for-hs256", 5)))
    assert_401(me(client, "not-a-token"))
    assert_401(me(client, token(secret, 5)[:-4] + "AAAA"))  # signature tampered with
    assert_401(client.get("/api/v1/auth/me"))
    assert_401(client.get("/api/v1/auth/me", headers={"Authorization": "Basic YW5hOnB3"}))
    # genuine signature, but the user is of another organisation than the token says
    forged = issue_access_token(
        secret, user_id=ids["other-ana"], organisation_id=amussol.id, role="admin", minutes=5
    )
    assert_401(me(client, forged))


def test_a_disabled_user_is_refused(client, people, session_factory) -> None:  # type: ignore[no-untyped-def]
    amussol, _, ids = people
    token = sign_in(client, "AMUSSOL/ana").json()["access_token"]
    assert me(client, token).status_code == 200
    with unit_of_work(session_factory, amussol.id) as session:
        session.execute(sa.update(User).where(User.id == ids["ana"]).values(is_active=False))
    assert_401(me(client, token))  # a token issued before is no good any more
    assert_401(sign_in(client, "AMUSSOL/ana"))


def test_api_keys_work_until_revoked(client, people, session_factory) -> None:  # type: ignore[no-untyped-def]
    amussol, _, _ = people
    key = amussol.keys["collector"]
    who = me(client, key)
    assert who.status_code == 200
    assert who.json()["kind"] == "key" and who.json()["role"] == "collector"
    assert who.json()["name"] == "collector key"
    with unit_of_work(session_factory, amussol.id) as session:
        session.execute(
            sa.update(ApiKey)
            .where(ApiKey.name == "collector key")
            .values(revoked_at=datetime.now(UTC))
        )
    assert_401(me(client, key))
    assert_401(me(client, key[:-1] + ("A" if key[-1] != "A" else "B")))  # one character off
    assert me(client, amussol.keys["auditor"]).status_code == 200  # the others still work


def test_passwords_are_argon2id_and_api_keys_are_stored_only_hashed(
    engine, people, session_factory
) -> None:  # type: ignore[no-untyped-def]
    amussol, _, ids = people
    with unit_of_work(session_factory, amussol.id) as session:
        ana = session.scalars(sa.select(User).where(User.id == ids["ana"])).one()
        assert ana.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert PASSWORD not in ana.password_hash
        keys = session.scalars(sa.select(ApiKey)).all()
    assert len(keys) == len(amussol.keys)
    with engine.connect() as conn:
        stored = "\n".join(
            "|".join(str(value) for value in row)
            for row in conn.execute(sa.text("SELECT * FROM api_key")).all()
        )
    for role, secret in amussol.keys.items():
        assert secret not in stored, role
        assert secret[len("clk_") :] not in stored, role
        (row,) = [k for k in keys if k.name == f"{role} key"]
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.prefix == secret[:12]  # enough to recognise a key, nowhere near enough to use it

"""One rule for a collector, on the pages and in the API: it posts and sees its own receipts
only. The same user is refused the same way (the same message of the same code) by the
receipt form and by POST /api/v1/receipts, since both ask `app.collections.access`."""

from __future__ import annotations

import uuid

import pytest

from app.collections.access import OWN_RECEIPTS_ONLY
from tests.web.book import make_book
from tests.web.conftest import PASSWORD
from tests.web.test_pages import count, form_key


@pytest.fixture
def crew(make_web_org, session_factory):  # type: ignore[no-untyped-def]
    org = make_web_org(roles=("treasurer", "collector"))
    return org, make_book(session_factory, org.id)


def test_the_form_and_the_api_refuse_another_collector_alike(web, client, crew, engine) -> None:  # type: ignore[no-untyped-def]
    crew, book = crew
    someone_else = str(uuid.uuid4())
    web.sign_in(crew, "collector")
    page = web.get("/web/receipts/new")
    data = {
        "form_key": form_key(page),
        "payer": "M-0001",
        "amount": "10.00",
        "received_at": "2026-11-20T09:30",
        "channel": "cash",
        "collector_id": someone_else,
    }
    refused = web.post("/web/receipts/new", data)
    assert refused.status_code == 422
    assert OWN_RECEIPTS_ONLY.text in refused.text

    token = client.post(
        "/api/v1/auth/token",
        data={"username": f"{crew.code}/{crew.users['collector']}", "password": PASSWORD},
    ).json()["access_token"]
    member_id = str(book.members["M-0001"])
    api = client.post(
        "/api/v1/receipts",
        json={
            "member_id": member_id,
            "amount": "10.00",
            "currency": "DOP",
            "received_at": "2026-11-20T09:30:00-04:00",
            "channel": "cash",
            "collector_id": someone_else,
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 403
    assert api.json()["code"] == OWN_RECEIPTS_ONLY.code
    assert api.json()["detail"] == OWN_RECEIPTS_ONLY.text
    assert count(engine, "receipt") == 0

    # the collector's own: the form names nobody, and the receipt is its
    ok = web.post(
        "/web/receipts/new",
        {**data, "collector_id": "", "form_key": form_key(web.get("/web/receipts/new"))},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    assert count(engine, "receipt", "WHERE collector_id IS NOT NULL") == 1

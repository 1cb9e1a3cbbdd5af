"""The API and the pages ask the same services who may see a batch and its file: a fund office
meets the same 404 for another fund's batch on both, and a draft batch's file is refused with
the same message on both."""

from __future__ import annotations

import html

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.remittances import affiliations, service
from tests.remittances.factories import Books, make_fund, make_member, owe
from tests.remittances.test_rules import NOV


def _setup(session_factory, make_web_org):  # type: ignore[no-untyped-def]
    from app.identity.service import create_api_key

    org = make_web_org(roles=("treasurer", "fund_office"))  # the fund office's fund is FUND
    books = Books(session_factory, org.id)
    with books() as s:
        own, other = make_fund(s, "FUND"), make_fund(s, "OTHER")
        m = make_member(s, "M-1", affiliations={"FUND": "F-1", "OTHER": "O-1"})
        newcomer = make_member(s, "M-2")
        owe(s, m, own, 10000, *NOV)
        owe(s, m, other, 20000, *NOV)
        theirs = service.create_batch(s, CLI_ACTOR, fund_code="OTHER", through=NOV[1]).id
        draft = service.create_batch(s, CLI_ACTOR, fund_code="FUND", through=NOV[1]).id
        their_affiliations = affiliations.create_affiliation_batch(
            s, CLI_ACTOR, fund_code="OTHER", member_ids=[newcomer.id]
        ).id
    with unit_of_work(session_factory) as s:
        bind_organisation(s, org.id)
        key = create_api_key(s, CLI_ACTOR, name="fo", role="fund_office", fund_code="FUND")
    return org, {"Authorization": f"Bearer {key.secret}"}, theirs, draft, their_affiliations


def test_a_fund_office_meets_the_same_404_on_the_api_and_the_pages(
    web, client, session_factory, make_web_org
) -> None:  # type: ignore[no-untyped-def]
    org, fo, theirs, draft, their_affiliations = _setup(session_factory, make_web_org)
    web.sign_in(org, "fund_office")
    pairs = [
        (f"/api/v1/remittances/{theirs}", f"/web/remittances/{theirs}"),
        (f"/api/v1/remittances/{theirs}/file", f"/web/remittances/{theirs}/file"),
        (f"/api/v1/affiliations/{their_affiliations}", f"/web/affiliations/{their_affiliations}"),
        (
            f"/api/v1/affiliations/{their_affiliations}/file",
            f"/web/affiliations/{their_affiliations}/file",
        ),
    ]
    for api, page in pairs:
        r = client.get(api, headers=fo)
        assert r.status_code == 404, api
        code = r.json()["code"]
        assert code in ("batch.not_found", "affiliation_batch.not_found")
        assert web.get(page).status_code == 404, page
    # its own fund's batch it sees on both
    assert client.get(f"/api/v1/remittances/{draft}", headers=fo).status_code == 200
    assert web.get(f"/web/remittances/{draft}").status_code == 200
    # another fund's page and list: 404 on both
    assert client.get("/api/v1/funds/OTHER/remittances", headers=fo).status_code == 404
    assert web.get("/web/funds/OTHER").status_code == 404
    # lists hold only its fund's batches, on both
    listed = client.get("/api/v1/remittances", headers=fo).json()["items"]
    assert [b["id"] for b in listed] == [str(draft)]
    page = web.get("/web/remittances").text
    assert str(draft) in page and str(theirs) not in page
    assert str(their_affiliations) not in web.get("/web/affiliations").text
    assert client.get("/api/v1/affiliations", headers=fo).json()["items"] == []


def test_a_draft_batchs_file_is_refused_the_same_way_on_both(
    web, client, session_factory, make_web_org
) -> None:  # type: ignore[no-untyped-def]
    org, fo, _, draft, _ = _setup(session_factory, make_web_org)
    r = client.get(f"/api/v1/remittances/{draft}/file", headers=fo)
    assert r.status_code == 409 and r.json()["code"] == "batch.no_file"
    said = r.json()["detail"]
    assert said == "batch RB000002 is draft: seal it to have its file"
    web.sign_in(org, "fund_office")
    page = web.get(f"/web/remittances/{draft}/file", follow_redirects=False)
    assert page.status_code == 303
    shown = web.get(page.headers["location"]).text
    assert said in html.unescape(shown)

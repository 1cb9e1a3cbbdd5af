"""The rest of the month in a real browser (Debian's chromium): a collector's hand-over counted
short (a double click records it once), an affiliation batch created and answered by the fund,
the fund's page, and an enrolment ended in French, where the service's refusal reads in French
too. Screenshots are saved to docs/screenshots/ when COOPLEDGER_SCREENSHOTS=1."""

from __future__ import annotations

import sqlalchemy as sa

from tests.web.book import make_book
from tests.web.conftest import shoot, sign_in_browser
from tests.web.test_pages_month import ROLES, give_cash


def count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_handover_affiliations_and_an_enrolment_ended_in_french(
    page, make_web_org, session_factory, engine, backend
) -> None:  # type: ignore[no-untyped-def]
    org = make_web_org(roles=ROLES)
    book = make_book(session_factory, org.id)
    give_cash(session_factory, org, book, 100000)
    snap = backend == "sqlite"  # one set of pictures
    sign_in_browser(page, org)

    # a hand-over counted 50.00 short, sent with a double click: recorded once, shown
    page.get_by_role("link", name="Hand-overs", exact=True).click()
    assert "DOP\u00a01,000.00" in page.get_by_test_id("cash-held").inner_text()
    page.get_by_label("Collector").select_option(label="cobra")
    page.get_by_label("Amount counted (DOP)").fill("950.00")
    page.get_by_label("Paid into").select_option(label="BANK:MAIN")
    page.get_by_label("Reference").fill("DEP-0042")
    if snap:
        shoot(page, "handovers")
    page.get_by_role("button", name="Record the hand-over").dblclick()
    page.wait_for_url("**/web/handovers/*")
    assert "Shortfall of DOP\u00a050.00 recorded" in page.get_by_test_id("outcome").inner_text()
    assert page.get_by_test_id("counted").inner_text() == "DOP\u00a0950.00"
    assert count(engine, "handover") == 1
    if snap:
        shoot(page, "handover-shortfall")

    # an affiliation batch with HEALTH for both members, answered one yes, one no
    page.goto("/web/remittances")
    page.get_by_role("link", name="Affiliations with the funds").click()
    page.get_by_label("Fund").select_option("HEALTH")
    page.get_by_role("button", name="Show the members to register").click()
    page.get_by_label("M-0001 · María Pérez").check()
    page.get_by_label("M-0002 · Juan Rodríguez").check()
    page.get_by_role("button", name="Create the affiliation batch").dblclick()
    page.wait_for_url("**/web/affiliations/*-*")
    assert count(engine, "affiliation_batch") == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="Download csv").click()
    assert "María Pérez" in download.value.path().read_text(encoding="utf-8")
    page.get_by_label("Decision for M-0001").select_option("accepted")
    page.get_by_label("Affiliation number").first.fill("HL-77")
    page.get_by_label("Decision for M-0002").select_option("rejected")
    page.get_by_label("Reason, if rejected").nth(1).fill("national id missing")
    if snap:
        shoot(page, "affiliation-answer")
    page.get_by_role("button", name="Record the fund's answer").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("accepted-count").inner_text() == "1"
    assert page.get_by_test_id("rejected-count").inner_text() == "1"
    assert page.get_by_test_id("batch-status").inner_text() == "acknowledged"
    if snap:
        shoot(page, "affiliation-answered")

    # the fund's own page, from the batch
    page.get_by_role("link", name="Seguro de salud").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Seguro de salud")
    assert page.get_by_test_id("owed").is_visible()
    if snap:
        shoot(page, "fund")

    # in French: ending Juan's enrolment in September would rewrite dues; refused, in French
    with page.expect_navigation():
        page.get_by_label("Language").select_option("fr")
    page.goto(f"/web/members/{book.members['M-0002']}")
    page.get_by_label("Prend fin le").fill("2026-09-15")
    page.get_by_role("button", name="Mettre fin à l\u2019inscription").click()
    error = page.locator(".inline-form .field-error").inner_text()
    assert "des échéances de cette inscription existent pour des périodes jusqu" in error
    assert page.get_by_label("Prend fin le").input_value() == "2026-09-15"
    if snap:
        shoot(page, "enrolment-refused-fr")
    page.get_by_label("Prend fin le").fill("2027-03-31")
    page.get_by_role("button", name="Mettre fin à l\u2019inscription").click()
    page.wait_for_load_state()
    assert page.get_by_text("L\u2019inscription prend fin le 31 mars 2027.").is_visible()
    assert "jusqu\u2019au 31 mars 2027" in page.get_by_test_id("enrolments").inner_text()

    # the hand-over page on a phone, in French
    if snap:
        page.set_viewport_size({"width": 360, "height": 740})
        page.goto("/web/handovers")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(page, "handovers-phone-fr")

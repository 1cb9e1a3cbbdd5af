"""The treasurer's month in a real browser (Debian's chromium): sign in, create a member,
post a receipt (a double click posts once), upload a CSV with a bad row, create and seal a
batch and download its pain.001, then read it all in French. Screenshots of the main pages
are saved to docs/screenshots/ when COOPLEDGER_SCREENSHOTS=1."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tests.web.book import make_book
from tests.web.conftest import shoot, sign_in_browser


def count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_treasurers_month_in_the_browser(
    page, web_org, session_factory, engine, backend, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    make_book(session_factory, web_org.id)
    snap = backend == "sqlite"  # one set of pictures
    sign_in_browser(page, web_org)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Dashboard")

    # create a member: a mistake first, shown next to its field, what was typed kept
    page.get_by_role("link", name="Members", exact=True).click()
    if snap:
        shoot(page, "members")
    page.get_by_role("link", name="New member").click()
    page.get_by_label("Member number").fill("M-0042")
    page.get_by_label("Full name").fill("Altagracia Báez")
    page.get_by_label("Phone").fill("not a phone")
    page.get_by_role("button", name="Create member").click()
    assert "not allowed" in page.locator("#e-phone").inner_text()
    assert page.get_by_label("Full name").input_value() == "Altagracia Báez"
    if snap:
        shoot(page, "member-form-error")
    page.get_by_label("Phone").fill("+1 809 555 0142")
    page.get_by_label("Affiliation number at PENSION").fill("SS-0042")
    page.get_by_role("button", name="Create member").click()
    page.wait_for_url("**/web/members/*")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Altagracia Báez")
    assert count(engine, "member") == 3

    # a receipt for María, submitted with a double click: one receipt
    page.goto("/web/members")
    page.get_by_role("link", name="M-0001").click()
    if snap:
        shoot(page, "member")
    page.get_by_role("link", name="Record a receipt").click()
    assert page.get_by_label("Member number or unit registration").input_value() == "M-0001"
    page.get_by_label("Amount (DOP)").fill("450.50")
    page.get_by_label("Channel").select_option("cash")
    if snap:
        shoot(page, "receipt-form")
    page.get_by_role("button", name="Post receipt").dblclick()
    page.wait_for_url("**/web/receipts/*")
    assert page.get_by_test_id("receipt-number").inner_text() == "#1"
    assert page.get_by_test_id("receipt-amount").inner_text() == "DOP\u00a0450.50"
    assert count(engine, "receipt") == 1
    if snap:
        shoot(page, "receipt")
    # the browser's back button and the same form sent again: still one receipt
    page.go_back()
    page.wait_for_url("**/web/receipts/new*")
    if page.get_by_label("Amount (DOP)").input_value() == "":
        page.get_by_label("Amount (DOP)").fill("450.50")
    page.get_by_role("button", name="Post receipt").click()
    page.wait_for_url("**/web/receipts/*")
    assert count(engine, "receipt") == 1
    assert page.get_by_test_id("receipt-number").inner_text() == "#1"

    # a collection sheet with a bad row: checked first, nothing written, then the good rows
    sheet = tmp_path / "sheet.csv"
    today = datetime.now(UTC).date().isoformat()  # this month's collections, whatever the date
    sheet.write_text(
        "client_id,member_number,amount,received_at,channel\n"
        f"day-1,M-0002,600.00,{today},cash\n"
        f"day-2,M-0404,50.00,{today},cash\n",
        encoding="utf-8",
    )
    page.goto("/web/uploads/receipts")
    page.get_by_label("CSV file").set_input_files(str(sheet))
    page.get_by_role("button", name="Check the file (nothing is written)").click()
    assert " ".join(page.get_by_test_id("upload-summary").inner_text().split()) == (
        "Rows that can be written: 1 · Rows already there: 0 · Rows with errors: 1"
    )
    assert page.locator("tr.row-rejected").count() == 1
    assert count(engine, "receipt") == 1
    if snap:
        shoot(page, "upload-dry-run")
    page.get_by_role("button", name="Write the good row").click()
    assert "Rows written: 1" in page.get_by_test_id("upload-summary").inner_text()
    assert count(engine, "receipt") == 2

    # a batch for PENSION: create, review, seal, download its pain.001
    page.goto("/web/remittances")
    page.get_by_label("Fund").select_option("PENSION")
    page.get_by_label("Periods ending on or before").fill("2026-11-30")
    page.get_by_role("button", name="Create draft batch").click()
    page.wait_for_url("**/web/remittances/*")
    assert page.get_by_test_id("batch-status").inner_text() == "draft"
    assert page.get_by_test_id("line-count").inner_text() == "4"
    page.get_by_role("button", name="Seal the batch").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("batch-status").inner_text() == "sealed"
    if snap:
        shoot(page, "remittance")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download pain.001").click()
    path = download.value.path()
    xml = path.read_text(encoding="utf-8")
    assert download.value.suggested_filename.endswith(".xml")
    assert "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09" in xml
    assert "<NbOfTxs>4</NbOfTxs>" in xml

    # French: labels and amounts as a French reader expects them
    with page.expect_navigation():
        page.get_by_label("Language").select_option("fr")
    assert page.get_by_role("link", name="Versements", exact=True).is_visible()
    assert page.get_by_role("button", name="Transmettre à la caisse").is_visible()
    page.get_by_role("link", name="Tableau de bord", exact=True).click()
    assert page.get_by_text("Encaissé ce mois-ci").is_visible()
    assert page.get_by_test_id("collected-month-DOP").inner_text() == "1\u202f050,50\u00a0DOP"
    if snap:
        shoot(page, "dashboard-fr")
    page.goto("/web/reports/arrears")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Arriérés")
    if snap:
        shoot(page, "arrears-fr")
    page.goto("/web/schemes?scheme=monthly-dop&months=12")
    assert "3\u202f600,00\u00a0DOP" in page.get_by_test_id("quote").inner_text()
    if snap:
        shoot(page, "schemes-quote-fr")
        page.set_viewport_size({"width": 360, "height": 740})
        page.goto("/web/receipts/new")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(page, "receipt-form-phone-fr")

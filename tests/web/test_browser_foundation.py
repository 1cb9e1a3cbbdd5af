"""In a real browser: sign in, the dashboard, French, a phone-sized screen, the keyboard."""

from __future__ import annotations

import pytest

from tests.web.conftest import PASSWORD, shoot


@pytest.fixture
def backend() -> str:
    # Nothing here depends on the database: SQLite is enough (the flows test both).
    return "sqlite"


def no_sideways_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_sign_in_switch_to_french_and_sign_out(page, web_org) -> None:  # type: ignore[no-untyped-def]
    page.goto("/web/accounts")
    assert "/web/sign-in" in page.url
    shoot(page, "sign-in")
    page.get_by_label("Organisation code").fill(web_org.code)
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    # the error sits next to the field, the username stays typed, focus goes to the summary
    error = page.locator("#e-password")
    assert "Wrong organisation, username or password" in error.inner_text()
    assert page.get_by_label("Username").input_value() == "ana"
    assert page.evaluate("document.activeElement.id") == "error-summary"

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web/accounts")
    assert page.get_by_role("heading", level=1).inner_text() == "Books"

    # the language menu changes the language at once (and remembers it for the user)
    with page.expect_navigation():
        page.get_by_label("Language").select_option("fr")
    assert page.get_by_role("heading", level=1).inner_text() == "Comptabilité"
    assert page.get_by_role("link", name="Tableau de bord").is_visible()
    page.get_by_role("link", name="Tableau de bord").click()
    assert page.get_by_text("Encaissé aujourd\u2019hui").is_visible()
    assert page.locator("[data-testid=collected-today-DOP]").inner_text() == "0,00\u00a0DOP"
    assert page.locator("svg.bars rect").count() == 30

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/web/sign-in")
    assert page.get_by_text("Vous êtes déconnecté.").is_visible()
    page.goto("/web/")
    assert "/web/sign-in" in page.url


def test_phone_width_and_keyboard(browser, live_server, web_org) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": 360, "height": 740},
        locale="es-DO",
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    try:
        page.goto("/web/")
        # before sign-in the language comes from the browser: Spanish
        assert page.get_by_role("heading", level=1).inner_text() == "Iniciar sesión"
        assert no_sideways_scroll(page)
        # keyboard only: the skip link first, then the form's fields in order
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Ir al contenido"
        page.get_by_label("Código de la organización").focus()
        page.keyboard.type(web_org.code)
        page.keyboard.press("Tab")
        page.keyboard.type("ana")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/web/")
        # ana's own language (English) wins once she is signed in
        assert page.get_by_role("heading", level=1).inner_text().startswith("Dashboard")
        assert no_sideways_scroll(page)
        shoot(page, "dashboard-phone")
        page.set_viewport_size({"width": 1280, "height": 860})
        shoot(page, "dashboard")
    finally:
        context.close()

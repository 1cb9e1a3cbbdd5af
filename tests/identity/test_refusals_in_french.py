"""Identity's refusals are codes: the API says them in English with their code, the
administrator's pages in the reader's language (here French) from the same message."""

from __future__ import annotations

import html

from tests.web.conftest import make_web_org, web  # noqa: F401 - fixtures of the pages


def test_the_api_says_an_unknown_time_zone_with_its_code(client, org) -> None:  # type: ignore[no-untyped-def]
    r = client.patch(
        "/api/v1/organisation", json={"time_zone": "Mars/Olympus"}, headers=org.headers("admin")
    )
    assert r.status_code == 422, r.text
    error = r.json()["errors"][0]
    assert (error["field"], error["code"]) == ("time_zone", "time_zone.unknown")
    assert error["params"] == {"name": "'Mars/Olympus'"}
    assert error["message"] == (
        "unknown time zone 'Mars/Olympus': give an IANA name such as America/Santo_Domingo"
    )


def test_a_french_administrator_reads_the_refusal_in_french(make_web_org, web) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org = make_web_org(code="COOPFR", roles=("admin", "treasurer"), locale="fr")
    web.sign_in(org, "admin")
    page = web.get("/web/admin/users")
    assert page.status_code == 200
    r = web.post(
        "/web/admin/users",
        {
            "form_key": "k-taken",
            "username": "ana",
            "password": "correct-horse-battery",
            "role": "treasurer",
            "locale": "fr",
        },
    )
    assert r.status_code == 422, r.text
    text = html.unescape(r.text)
    assert "l\u2019utilisateur ana existe déjà dans cette organisation" in text
    assert "already exists" not in text

    r = web.post(
        "/web/admin/users",
        {
            "form_key": "k-short",
            "username": "bruno",
            "password": "short",
            "role": "auditor",
            "locale": "fr",
        },
    )
    assert r.status_code == 422, r.text
    assert "au moins 10 caractères" in html.unescape(r.text)
    # the roles are listed by their French labels, made from the Role vocabulary
    assert "administrateur" in html.unescape(page.text).lower()


def test_the_sign_in_page_says_a_wrong_password_in_french(make_web_org, web) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org = make_web_org(code="COOPFR", roles=("treasurer",))
    fr = {"Accept-Language": "fr"}
    web.get("/web/sign-in", headers=fr)
    r = web.post(
        "/web/sign-in",
        {"organisation": org.code, "username": "ana", "password": "not-the-password"},
        headers=fr,
    )
    assert r.status_code == 422, r.text
    text = html.unescape(r.text)
    assert "Organisation, identifiant ou mot de passe incorrect." in text
    r = web.post("/web/sign-in", {"organisation": org.code, "username": "", "password": ""})
    assert "Enter your username." in html.unescape(r.text)

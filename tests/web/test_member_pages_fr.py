"""A member's and a unit's pages say the services' refusals in the reader's language, their
parameters said for the reader too: a date formatted, a scheme kind by its translated name."""

from __future__ import annotations

import pytest

from tests.web.book import make_book
from tests.web.conftest import WebClient
from tests.web.test_pages import field_errors


@pytest.fixture
def french(make_web_org):  # type: ignore[no-untyped-def]
    return make_web_org("MUFEDE", roles=("treasurer",), locale="fr")


def test_enrolment_and_harvest_refusals_in_french(client, french, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = make_book(session_factory, french.id)
    web = WebClient(client)
    web.sign_in(french)
    url = f"/web/members/{book.members['M-0001']}"
    # enrolled from September already: the service's refusal names the date, said in French
    twice = web.post(url + "/enrolments", {"scheme_code": "monthly-dop", "starts_on": "2026-10-01"})
    assert twice.status_code == 422, twice.text
    said = field_errors(twice)["scheme_code"]
    assert said.startswith("déjà inscrit à monthly-dop depuis le 1 sept. 2026"), said
    # a monthly scheme takes no harvest: its kind is said by its French name
    harvest = web.post(
        url + "/harvests", {"harvest_scheme": "monthly-dop", "harvested_on": "2026-10-01"}
    )
    assert harvest.status_code == 422, harvest.text
    said = field_errors(harvest)["harvest_scheme"]
    assert said == "le régime monthly-dop est mensuel, pas par récolte", said


def test_a_crew_refusal_in_french(client, french, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = make_book(session_factory, french.id)
    web = WebClient(client)
    web.sign_in(french)
    url = f"/web/units/{book.units['A123456']}/crew"
    bad = web.post(url, {"owner": "M-0001, M-0002", "drivers": "M-0999, M-0998"})
    assert bad.status_code == 422, bad.text
    errors = field_errors(bad)
    assert errors["owner"] == "un véhicule a un seul propriétaire", errors
    # the unknown numbers, a list, joined with the language's "and"
    assert errors["drivers"] == "Aucun adhérent avec le numéro M-0999 et M-0998.", errors


def test_a_quote_for_too_many_months_is_refused_by_the_service_in_french(
    client, french, session_factory
) -> None:  # type: ignore[no-untyped-def]
    make_book(session_factory, french.id)
    web = WebClient(client)
    web.sign_in(french)
    for months in ("0", "121", "x"):
        page = web.get(f"/web/schemes?scheme=monthly-dop&months={months}")
        assert page.status_code == 422, (months, page.text)
        assert field_errors(page)["months"] == "Saisissez un nombre de mois de 1 à 120.", months
    assert web.get("/web/schemes?scheme=monthly-dop&months=120").status_code == 200

"""Languages: negotiation, exact Babel formatting from minor units, input parsing, catalogues."""

from __future__ import annotations

from datetime import date

import pytest

from app.core.money import MAX_MINOR_UNITS, MoneyError
from app.web import catalogues, i18n

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,es;q=0.8,fr;q=0.5", "es"),
        ("en;q=0.1, es-DO;q=0.9", "es"),
        ("pt-BR", "en"),
        ("fr;q=0, es", "es"),
        ("fr;q=abc", "en"),
        ("*", "en"),
    ],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "text"),
    [
        (15050, "DOP", "en", "DOP\u00a0150.50"),
        (15050, "DOP", "fr", f"150,50{NBSP}DOP"),
        (15050, "DOP", "es", f"150,50{NBSP}DOP"),
        (5000, "XOF", "fr", f"5{NNBSP}000{NBSP}F\u202fCFA"),
        (5000, "RWF", "en", "RWF\u00a05,000"),
        (-1, "KES", "en", "-KES\u00a00.01"),
        (MAX_MINOR_UNITS, "DOP", "fr", f"9{NNBSP}999{NNBSP}999{NNBSP}999{NNBSP}999,99{NBSP}DOP"),
        (MAX_MINOR_UNITS, "XOF", "en", "F\u202fCFA\u00a0999,999,999,999,999"),
    ],
)
def test_money_is_formatted_exactly_for_the_locale(
    minor: int, currency: str, locale: str, text: str
) -> None:
    assert i18n.format_money(minor, currency, locale) == text


def test_amounts_dates_and_input_values() -> None:
    assert i18n.format_amount(123456789, "DOP", "es") == "1.234.567,89"
    assert i18n.format_amount(7, "XOF", "fr") == "7"
    assert i18n.amount_input_value(15050, "DOP") == "150.50"
    assert i18n.amount_input_value(5000, "XOF") == "5000"
    assert i18n.format_date(date(2026, 11, 22), "fr") == "22 nov. 2026"
    assert i18n.format_date(date(2026, 11, 22), "es") == "22 nov 2026"
    assert i18n.format_date(date(2026, 11, 22), "en") == "Nov 22, 2026"


@pytest.mark.parametrize(
    ("text", "currency", "locale", "minor"),
    [
        ("150.50", "DOP", "fr", 15050),
        ("150,50", "DOP", "fr", 15050),
        ("150,5", "DOP", "es", 15050),
        (" 1 500,00 ", "DOP", "fr", 150000),
        ("1\u202f500", "XOF", "fr", 1500),
        ("150.50", "DOP", "en", 15050),
    ],
)
def test_typed_amounts(text: str, currency: str, locale: str, minor: int) -> None:
    assert i18n.parse_amount_input(text, currency, locale) == minor


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("1.500,00", "DOP", "es"),  # two decimal signs: refused, never guessed
        ("1,500.00", "DOP", "en"),  # grouping commas are not guessed either
        ("1.500", "XOF", "es"),  # XOF has no decimals
        ("150.505", "DOP", "fr"),
        ("", "DOP", "en"),
        ("abc", "DOP", "en"),
        ("-5", "DOP", "en"),
        ("1e3", "DOP", "en"),
    ],
)
def test_ambiguous_or_inexact_amounts_are_refused(text: str, currency: str, locale: str) -> None:
    with pytest.raises(MoneyError):
        i18n.parse_amount_input(text, currency, locale)


def test_every_message_of_the_pages_is_translated_in_french_and_spanish() -> None:
    assert catalogues.missing("fr") == []
    assert catalogues.missing("es") == []
    fr = i18n.translations("fr")
    assert fr.gettext("Sign in") == "Connexion"
    assert i18n.translations("es").gettext("Collected today") == "Cobrado hoy"

"""Languages of the web pages: English, French, Spanish.

Catalogues are standard gettext files (`locale/<lang>/LC_MESSAGES/messages.po`). They are
compiled in memory when the web package first needs them, so a fresh clone runs without a
build step and no `.mo` file is kept in the repository. Amounts and dates are formatted by
Babel for the locale; amounts from integer minor units, exactly (never through a float).
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_decimal_symbol
from babel.support import NullTranslations, Translations

from app.core import clock
from app.core.clock import DEFAULT_ZONE
from app.core.messages import N_, Template
from app.core.money import MoneyError, exponent, parse_minor

LOCALES = ("en", "fr", "es")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "fr": "Français", "es": "Español"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def normalise_locale(value: str | None) -> str:
    """One of LOCALES: `fr_CA`, `fr-fr` and `FR` are all French; anything else English."""
    if not value:
        return DEFAULT_LOCALE
    lang = value.strip().replace("_", "-").split("-")[0].lower()
    return lang if lang in LOCALES else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The best of LOCALES for an Accept-Language header (q-values honoured), else English."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        q = 1.0
        for param in pieces[1:]:
            name, _, val = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if not tag or q <= 0:
            continue
        lang = tag.replace("_", "-").split("-")[0].lower()
        if lang in LOCALES:
            ranked.append((-q, i, lang))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LOCALE


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of a locale (English is the source language)."""
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == DEFAULT_LOCALE or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


# -- formatting ---------------------------------------------------------------------------------


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    """Exact: 15050 DOP -> Decimal('150.50'); 5000 XOF -> Decimal('5000')."""
    return Decimal(int(minor)).scaleb(-exponent(currency))


def format_money(minor: int | None, currency: str, locale: str) -> str:
    """`15050, "DOP", "fr"` -> `150,50 DOP`; `15050, "DOP", "en"` -> `DOP 150.50`."""
    if minor is None:
        return ""
    text = format_currency(
        minor_to_decimal(minor, currency), currency, locale=locale, currency_digits=True
    )
    # CLDR glues a leading code or letter symbol to the number ("DOP150.50"): space it.
    return _GLUED.sub("\\1\u00a0", text)


def format_amount(minor: int | None, currency: str, locale: str) -> str:
    """The number alone, grouped and with the locale's decimal sign, exactly the currency's digits."""
    if minor is None:
        return ""
    exp = exponent(currency)
    pattern = "#,##0" + ("." + "0" * exp if exp else "")
    return format_decimal(minor_to_decimal(minor, currency), format=pattern, locale=locale)


def amount_input_value(minor: int | None, currency: str) -> str:
    """What an amount field shows: plain digits and a '.' (accepted in every locale)."""
    if minor is None:
        return ""
    value = minor_to_decimal(minor, currency)
    return f"{value:f}"


def format_date(
    value: date | datetime | None, locale: str, fmt: str = "medium", tz: str = DEFAULT_ZONE
) -> str:
    """A date; an instant is shown as the day it falls on in the organisation's zone `tz`."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = clock.local_date(value, tz)
    return babel_format_date(value, format=fmt, locale=locale)


def format_datetime(
    value: datetime | None, locale: str, fmt: str = "medium", tz: str = DEFAULT_ZONE
) -> str:
    """An instant on the organisation's wall clock (its zone `tz`)."""
    if value is None:
        return ""
    return babel_format_datetime(value, format=fmt, tzinfo=clock.zone(tz), locale=locale)


def local_input(value: datetime | None, tz: str = DEFAULT_ZONE) -> str:
    """What a datetime-local field shows for an instant: `2026-11-22T21:00`, its wall-clock
    time in the organisation's zone `tz`."""
    if value is None:
        return ""
    return clock.to_local(value, tz).strftime("%Y-%m-%dT%H:%M")


def format_number(value: int | Decimal | None, locale: str) -> str:
    if value is None:
        return ""
    return format_decimal(value, locale=locale)


_GLUED = re.compile(r"^(-?[^\W\d_](?:[^\W\d_]|\u202f)*[^\W\d_])(?=\d)")

_SPACES = {" ", "\u00a0", "\u202f", "\u2009"}

ENTER_AN_AMOUNT = Template("money.empty", N_("enter an amount"))
ONE_DECIMAL_SIGN = Template("money.two_decimal_signs", N_("use one decimal sign, e.g. %(example)s"))


def parse_amount_input(text: str, currency: str, locale: str) -> int:
    """Minor units from what a person typed: `150.50` everywhere, or `150,50` where the locale
    writes a decimal comma. Grouping signs other than spaces are refused rather than guessed,
    so an ambiguous `1.500` never becomes a wrong amount (it is refused as too precise)."""
    cleaned = "".join(ch for ch in (text or "") if ch not in _SPACES)
    if not cleaned:
        raise MoneyError(ENTER_AN_AMOUNT())
    decimal_sign = get_decimal_symbol(Locale.parse(locale))
    if decimal_sign != "." and decimal_sign in cleaned:
        if "." in cleaned:
            raise MoneyError(ONE_DECIMAL_SIGN(example=f"150{decimal_sign}50"))
        cleaned = cleaned.replace(decimal_sign, ".")
    return parse_minor(cleaned, currency)

"""Small helpers the built-in renderers share: amounts and safe text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.core.money import exponent, format_minor

# Characters XML 1.0 cannot carry at all; a member's name typed on a phone may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}$")
_BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")

CHUNK_LINES = 1000  # lines rendered per chunk of bytes handed to the response


def amount(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


def amount_formatter(currency: str) -> Callable[[int], str]:
    """A fast formatter for many amounts of one currency (same output as format_minor)."""
    exp = exponent(currency)
    if exp == 0:
        return str
    scale = 10**exp

    def fmt(minor: int) -> str:
        sign = "-" if minor < 0 else ""
        whole, frac = divmod(abs(minor), scale)
        return f"{sign}{whole}.{frac:0{exp}d}"

    return fmt


def clean(value: object, max_len: int) -> str:
    """Text fit for a bounded field: control characters dropped, whitespace collapsed."""
    text = _NOT_XML.sub("", "" if value is None else str(value))
    text = " ".join(text.split())
    return text[:max_len]


def xml(value: object, max_len: int) -> str:
    """Text for a bounded XML field: cleaned as `clean` does, then escaped."""
    text = "" if value is None else str(value)
    # The common case, plain text with nothing to escape or collapse, is told by a few scans
    # in C (a 100,000-line pain.001 calls this 200,000 times): no control, format or
    # separator character but the space (isprintable), no markup, no doubled or outer space.
    if (
        text.isprintable()
        and "&" not in text
        and "<" not in text
        and ">" not in text
        and '"' not in text
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
    ):
        return text[:max_len]
    text = clean(text, max_len)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def account_parts(account: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(iban, other account id, bic, name) from a fund's settlement_account (text or object)."""
    if account is None:
        return None, None, None, None
    if isinstance(account, str):
        compact = account.replace(" ", "").upper()
        if _IBAN.match(compact):
            return compact, None, None, None
        return None, clean(account, 34) or None, None, None
    if isinstance(account, dict):
        iban = str(account.get("iban") or "").replace(" ", "").upper() or None
        other = account.get("account") or account.get("number")
        bic = str(account.get("bic") or "").replace(" ", "").upper() or None
        name = account.get("name")
        if iban and not _IBAN.match(iban):
            other, iban = other or iban, None
        if bic and not _BIC.match(bic):
            bic = None
        return (
            iban,
            clean(other, 34) or None if other else None,
            bic,
            clean(name, 140) or None if name else None,
        )
    return None, None, None, None


def is_bic(value: str | None) -> bool:
    return bool(value and _BIC.match(value))


def is_iban(value: str | None) -> bool:
    return bool(value and _IBAN.match(value))

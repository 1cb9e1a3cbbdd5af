"""Small helpers the built-in renderers share: amounts and safe text."""

from __future__ import annotations

import re
from typing import Any

from app.core.money import format_minor

# Characters XML 1.0 cannot carry at all; a member's name typed on a phone may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}$")
_BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")

CHUNK_LINES = 1000  # lines rendered per chunk of bytes handed to the response


def amount(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


def clean(value: object, max_len: int) -> str:
    """Text fit for a bounded field: control characters dropped, whitespace collapsed."""
    text = _NOT_XML.sub("", "" if value is None else str(value))
    text = " ".join(text.split())
    return text[:max_len]


def xml(value: object, max_len: int) -> str:
    text = clean(value, max_len)
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

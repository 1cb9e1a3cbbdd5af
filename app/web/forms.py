"""What every form page needs: field errors in the user's language, one-time form keys, and
running a write at most once however often the form is sent."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request

from app.core import clock
from app.core.errors import DomainError
from app.core.idempotency import fingerprint, run_idempotent
from app.core.messages import UNKNOWN, FieldError, Message, Template, from_pydantic
from app.core.money import exponent, format_minor
from app.web import problems
from app.web.deps import WebUser
from app.web.templating import request_locale, translate
from app.web.vocabulary import N_

FORM_KEY = "form_key"

CHOOSE_ONE = Template("form.choose_one", N_("Choose one of the options."))
"""A choice the form did not offer (a tampered or stale select)."""

# Pydantic's error types, said in the user's language.
_PYDANTIC = {
    "missing": N_("This is required."),
    "string_too_short": N_("This is required."),
    "string_too_long": N_("This is too long."),
    "string_pattern_mismatch": N_("This has characters that are not allowed here."),
    "literal_error": N_("Choose one of the options."),
    "enum": N_("Choose one of the options."),
    "date_from_datetime_parsing": N_("Enter a date."),
    "date_parsing": N_("Enter a date."),
    "date_type": N_("Enter a date."),
    "datetime_parsing": N_("Enter a date and time."),
    "datetime_from_date_parsing": N_("Enter a date and time."),
    "uuid_parsing": N_("Choose one of the options."),
    "int_parsing": N_("Enter a whole number."),
    "bool_parsing": N_("Choose yes or no."),
}


def new_form_key() -> str:
    """A one-time key for a form that writes: it becomes the write's Idempotency-Key."""
    return secrets.token_urlsafe(18)


def amount_example(currency: str) -> str:
    """An amount to show in a hint, with the currency's own decimals: 150.00 DOP, 150.000
    KWD, 5000 XOF or XAF (a currency without decimals gets a typical whole amount)."""
    exp = exponent(currency)
    return format_minor(150 * 10**exp, currency) if exp else "5000"


def text(form: FormData | Mapping[str, Any], name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def optional(form: FormData | Mapping[str, Any], name: str, limit: int = 500) -> str | None:
    return text(form, name, limit) or None


def values_of(form: FormData, *names: str) -> dict[str, str]:
    """What was typed, to put back in the form when it is shown again."""
    return {n: text(form, n, 2000) for n in names}


def pydantic_errors(
    request: Request, exc: ValidationError, fields: Mapping[str, str] | None = None
) -> dict[str, str]:
    """{form field: message} from a Pydantic error (`fields` maps model paths to form names)."""
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "form"
        name = (fields or {}).get(loc, loc.split(".")[0])
        kind = str(err.get("type", ""))
        if kind in _PYDANTIC:
            message = translate(request, _PYDANTIC[kind])
        else:
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            message = say(request, from_pydantic(err, msg))
        out.setdefault(name, message)
    return out


def domain_errors(
    request: Request,
    exc: DomainError,
    fields: Mapping[str, str] | None = None,
    default: str = "form",
) -> dict[str, str]:
    """{form field: message} from a service's refusal (its field names mapped to the form's),
    in the user's language."""
    locale = request_locale(request)
    out: dict[str, str] = {}
    for err in exc.errors:
        field = err.field or default
        name = (fields or {}).get(field, field if field in (fields or {}).values() else default)
        out.setdefault(name, problems.say(locale, err.message))
    if not out:
        out[default] = problems.detail(locale, exc)
    return out


def refusal(request: Request, exc: DomainError) -> str:
    """A service's refusal as one sentence in the user's language (for a message at the top)."""
    return problems.detail(request_locale(request), exc)


def say(request: Request, message: Message) -> str:
    """A service's (or the money parser's) message in the user's language."""
    return problems.say(request_locale(request), message)


class Replayed(DomainError):
    """A write this form key already ran, which failed then: the same answer again."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        errors = [FieldError.from_json(e) for e in body.get("errors") or () if isinstance(e, dict)]
        message = Message.of(str(body.get("code", "")), body.get("params"))
        if message is None and not errors:
            message = UNKNOWN(text=str(body.get("detail", "")))
        super().__init__(message, errors=errors)
        self.status = status


def run_once(
    db: Any,
    who: WebUser,
    key: str | None,
    action: str,
    payload: Any,
    operation: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run `operation` once per form key (the form's hidden `form_key`): a double click or a
    page sent again finds the first result and writes nothing. Same ledger mechanism as the
    API's Idempotency-Key, in the request's transaction; keys are namespaced `web:`.

    A refused operation raises its DomainError (the caller shows the form again with a new
    key, so the corrected form is a new request)."""
    usable = key if key and 8 <= len(key) <= 64 and key.isprintable() else None

    def op() -> tuple[int, dict[str, Any]]:
        return 200, operation()

    response = run_idempotent(
        db,
        who.principal,
        f"web:{usable}" if usable else None,
        fingerprint("POST", f"/web/{action}", payload),
        op,
    )
    body = json.loads(bytes(response.body) or b"{}")
    if response.status_code >= 400:
        raise Replayed(response.status_code, body)
    return dict(body)


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def now_input(tz: str) -> str:
    """Now, as a datetime-local field shows it: the organisation's wall clock (`tz`)."""
    return clock.now_local(tz).strftime("%Y-%m-%dT%H:%M")


def parse_local_datetime(value: str, tz: str) -> datetime | None:
    """The instant a datetime-local field (`2026-11-22T21:00`) means: a wall-clock time in the
    organisation's time zone `tz`. None if it is not a date and time, or is a time that a
    clock change skips there."""
    if not value:
        return None
    try:
        return clock.from_local(datetime.fromisoformat(value), tz)
    except ValueError:  # not ISO 8601, or skipped by a clock change (NonexistentLocalTime)
        return None

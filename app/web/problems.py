"""The service's messages in the reader's language.

Services refuse with a `Message` (a code, its English template and parameters; see
`app.core.messages`); the API says it in English, the pages here: the template is the gettext
message id, and each parameter is said for the reader (a date formatted, a vocabulary word by
its translated label, a list joined with the language's "and" or "or").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from babel.lists import format_list

from app.core.errors import DomainError
from app.core.messages import PYDANTIC, UNKNOWN, FieldError, Message, OneOf
from app.web import i18n
from app.web.vocabulary import N_, SCHEME_KINDS, STATUSES

# problem+json titles, by problem type
TITLES = {
    "bad-request": N_("Bad request"),
    "validation-error": N_("The request is not valid"),
    "not-found": N_("Not found"),
    "conflict": N_("Conflict with the current state"),
    "idempotency-key-reused": N_("This form was already sent with other values"),
    "unauthorized": N_("Authentication required"),
    "forbidden": N_("Not allowed for this role"),
    "payload-too-large": N_("Too large"),
    "fund-unreachable": N_("The fund did not take the batch"),
    "affiliation-number-taken": N_("Conflict with the current state"),
}

_CHOICES = (PYDANTIC["literal_error"].code, PYDANTIC["enum"].code)
_WORDS = {**STATUSES, **SCHEME_KINDS}


def _choices(locale: str, expected: str) -> str:
    """Pydantic's `'cash', 'mobile_money' or 'bank'` joined with the language's "or"."""
    choices = re.findall(r"'([^']*)'", expected) or [expected]
    quoted = [f"\u00ab\u00a0{c}\u00a0\u00bb" if locale == "fr" else f"'{c}'" for c in choices]
    return format_list(quoted, style="or", locale=locale)


def word(locale: str, value: Any) -> str:
    """One parameter, said for `locale`."""
    label = getattr(value, "label", None)
    if isinstance(value, Message):
        return say(locale, value)
    if isinstance(value, Enum):
        return i18n.gettext(locale, label) if isinstance(label, str) else str(value.value)
    if isinstance(value, datetime):
        return i18n.format_datetime(value, locale)
    if isinstance(value, date):
        return i18n.format_date(value, locale)
    if isinstance(value, OneOf):
        return format_list([word(locale, v) for v in value], style="or", locale=locale)
    if isinstance(value, list | tuple):
        return format_list([word(locale, v) for v in value], locale=locale)
    text = str(value)
    if text in _WORDS:
        return i18n.gettext(locale, _WORDS[text])
    return text


def say(locale: str, message: Message) -> str:
    """The message in `locale` (English as the API says it)."""
    if locale == i18n.DEFAULT_LOCALE or message.template is UNKNOWN:
        return message.english()
    params: Mapping[str, Any] = message.params
    if message.code in _CHOICES:
        said = {"expected": _choices(locale, str(params.get("expected", "")))}
    else:
        said = {k: word(locale, v) for k, v in params.items()}
    translated = i18n.gettext(locale, message.template.text)
    try:
        return translated % said if said else translated
    except (KeyError, ValueError, TypeError):
        return message.english()


def say_field(locale: str, error: Any) -> str:
    """A field error's message in `locale`: a FieldError, or one as the API answers it (a
    mapping or a schema with `field`, `message`, `code` and `params`)."""
    if not isinstance(error, FieldError):
        data = error if isinstance(error, Mapping) else vars(error)
        error = FieldError.from_json(data)
    return say(locale, error.message)


def title(locale: str, exc: DomainError) -> str:
    """The problem's title in `locale`."""
    msgid = TITLES.get(exc.slug)
    return i18n.gettext(locale, msgid) if msgid else exc.title


def detail(locale: str, exc: DomainError) -> str:
    """What the service said, in `locale`: its field messages (the message otherwise)."""
    messages = [say(locale, e.message) for e in exc.errors]
    if messages:
        return "; ".join(dict.fromkeys(messages))
    return say(locale, exc.message)

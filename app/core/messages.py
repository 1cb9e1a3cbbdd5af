"""What the service says, as a stable code with parameters.

A `Template` is declared once, beside the rule that says it: a code (`receipt.already_reversed`)
and its English text with named parameters (`receipt %(number)s was already reversed`). The
text is also the gettext message id, so the pages' catalogues (en/fr/es) hold its translations;
`python -m app.web.catalogues` extracts every `Template(...)` of `app/`. Calling a template with
its parameters gives a `Message`: the API says it in English (problem+json `detail`, with `code`
and `params` beside it), the pages in the reader's language (`app.web.problems`).

Parameters keep their types until they are said: a date is formatted for the reader, a
vocabulary word (a `Vocabulary` member) shown by its translated label, a list joined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic_core import PydanticCustomError

CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_PARAM = re.compile(r"%\((\w+)\)s")

REGISTRY: dict[str, Template] = {}
"""Every template of the service, by code (filled as the modules that declare them load)."""


def N_(message: str) -> str:
    """Mark a text for the catalogues without translating it (it is translated when shown)."""
    return message


@dataclass(frozen=True, slots=True)
class Template:
    """One thing the service can say: a stable code and its English text (the gettext id)."""

    code: str
    text: str

    def __post_init__(self) -> None:
        if not CODE.match(self.code):
            raise ValueError(f"message code {self.code!r} is not dotted lower_case words")
        known = REGISTRY.setdefault(self.code, self)
        if known.text != self.text:
            raise ValueError(f"message code {self.code} is declared twice with different texts")

    @property
    def names(self) -> frozenset[str]:
        return frozenset(_PARAM.findall(self.text))

    def __call__(self, **params: Any) -> Message:
        missing = self.names - params.keys()
        if missing:
            raise TypeError(f"{self.code} needs {sorted(missing)}")
        return Message(self, params)

    def pydantic(self, **params: Any) -> PydanticCustomError:
        """This message as a Pydantic validator's error: its type is the code, its context
        the parameters, so a request's 422 carries the same code as a service's refusal."""
        message = self(**params)
        return PydanticCustomError(self.code, message.english(), message.plain_params())


@dataclass(frozen=True, slots=True)
class Message:
    """A template said with its parameters."""

    template: Template
    params: Mapping[str, Any] = _field(default_factory=dict)
    wording: str | None = None
    """The English as another library worded it (Pydantic's `Field required`), kept for the
    API; the template's own text is what other languages translate."""

    @property
    def code(self) -> str:
        return self.template.code

    def english(self) -> str:
        if self.wording is not None:
            return self.wording
        return self.template.text % {k: plain(v) for k, v in self.params.items()}

    __str__ = english

    def plain_params(self) -> dict[str, str]:
        return {k: plain(v) for k, v in self.params.items()}

    @classmethod
    def of(
        cls, code: str, params: Mapping[str, Any] | None, wording: str | None = None
    ) -> Message | None:
        """The message a stored answer names (a replayed request), or None for an unknown code."""
        template = REGISTRY.get(code)
        if template is None:
            return None
        given = {k: v for k, v in (params or {}).items() if k in template.names}
        if template.names - given.keys():
            return None
        return cls(template, given, wording)


class OneOf(tuple[Any, ...]):
    """A parameter that is one of several values, said with "or" (`submitted or
    acknowledged`); a plain list or tuple is said with "and" (or commas)."""


def plain(value: Any) -> str:
    """A parameter as the API says it: a word by its code, a date in ISO 8601, a list joined."""
    if isinstance(value, OneOf):
        return " or ".join(plain(v) for v in value)
    if isinstance(value, Message):  # a message inside another (a document's reason)
        return value.english()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain(v) for v in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field (or row, item, column) of a request."""

    field: str
    message: Message
    extra: Mapping[str, Any] = _field(default_factory=dict)
    """More for a program to read (Pydantic's error `type`, a document's `bound`)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.field,
            "message": self.message.english(),
            "code": self.message.code,
        }
        params = self.message.plain_params()
        if params:
            out["params"] = params
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldError:
        """A field error read back from a stored answer; an unknown code keeps its English."""
        text = str(data.get("message", ""))
        message = Message.of(str(data.get("code", "")), data.get("params")) or UNKNOWN(text=text)
        return cls(str(data.get("field", "")), message)


def field_errors(errors: Iterable[FieldError]) -> list[dict[str, Any]]:
    return [e.to_json() for e in errors]


UNKNOWN = Template("message.unknown", "%(text)s")
"""A text read back from an older stored answer whose code this version does not know."""
INTERNAL_CODES = frozenset({UNKNOWN.code})
"""Codes no refusal is made with (texts read back), left out of the documented list."""

# -- the words every feature uses --------------------------------------------------------------

MUST_BE_POSITIVE = Template("field.not_positive", N_("must be greater than zero"))
MUST_NOT_BE_NULL = Template("field.null", N_("must not be null"))
IN_THE_FUTURE = Template("field.in_future", N_("is in the future"))
NEEDS_OFFSET = Template("field.timezone_aware", N_("must carry a UTC offset"))
NOT_BEFORE_DAY = Template("field.too_early", N_("must not be before %(day)s"))
AT_MOST_CHARS = Template("field.max_chars", N_("at most %(count)s characters"))
NO_NUL = Template("field.nul", N_("text must not contain the NUL character (U+0000)"))


def _pydantic_type(kind: str, text: str) -> Template:
    return Template("field." + kind, text)


# Pydantic's own error types (the code is `field.` and the type), for the languages other than
# English: the API keeps Pydantic's English wording.
PYDANTIC: dict[str, Template] = {
    kind: _pydantic_type(kind, text)
    for kind, text in {
        "missing": N_("is required"),
        "string_type": N_("must be text"),
        "string_too_short": N_("at least %(min_length)s characters"),
        "string_too_long": N_("at most %(max_length)s characters"),
        "string_pattern_mismatch": N_("has characters that are not allowed here"),
        "literal_error": N_("must be one of %(expected)s"),
        "enum": N_("must be one of %(expected)s"),
        "date_parsing": N_("enter a date as YYYY-MM-DD"),
        "date_from_datetime_parsing": N_("enter a date as YYYY-MM-DD"),
        "date_from_datetime_inexact": N_("enter a date as YYYY-MM-DD"),
        "date_type": N_("enter a date as YYYY-MM-DD"),
        "datetime_parsing": N_("enter a date and time such as 2026-11-21T09:30-04:00"),
        "datetime_from_date_parsing": N_("enter a date and time such as 2026-11-21T09:30-04:00"),
        "datetime_type": N_("enter a date and time such as 2026-11-21T09:30-04:00"),
        "timezone_aware": N_("must carry a UTC offset"),
        "uuid_parsing": N_("is not a valid id"),
        "uuid_type": N_("is not a valid id"),
        "int_parsing": N_("enter a whole number"),
        "int_type": N_("enter a whole number"),
        "int_from_float": N_("enter a whole number"),
        "greater_than": N_("must be greater than %(gt)s"),
        "greater_than_equal": N_("must be at least %(ge)s"),
        "less_than_equal": N_("must be at most %(le)s"),
        "less_than": N_("must be less than %(lt)s"),
        "bool_parsing": N_("enter true or false"),
        "bool_type": N_("enter true or false"),
        "dict_type": N_("must be an object"),
        "model_attributes_type": N_("must be an object"),
        "list_type": N_("must be a list"),
        "too_long": N_("has more than %(max_length)s items"),
        "too_short": N_("has fewer than %(min_length)s items"),
        "extra_forbidden": N_("is not a field of this request"),
        "json_invalid": N_("is not valid JSON"),
        "value_error": N_("is not valid"),
    }.items()
}
INVALID = PYDANTIC["value_error"]


def from_pydantic(error: Mapping[str, Any], wording: str) -> Message:
    """One Pydantic error (a dict of `ValidationError.errors()`) as a Message: ours when a
    validator raised one of our templates, else its type's template with Pydantic's wording."""
    kind = str(error.get("type", "value_error"))
    context = error.get("ctx") or {}
    ours = REGISTRY.get(kind)
    if ours is not None and ours.names <= context.keys():
        return Message(ours, {k: context[k] for k in ours.names})
    template = PYDANTIC.get(kind, INVALID)
    if not template.names <= context.keys():
        template = INVALID
    return Message(template, {k: context[k] for k in template.names}, wording)

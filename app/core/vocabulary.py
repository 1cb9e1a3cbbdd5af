"""The domain's vocabularies: one enum each, from which everything else is made.

A vocabulary (a batch's status, a receipt's channel, a payer's kind) is one `Vocabulary`:
its values are what the database stores and the API says; `check()` makes the CHECK
constraint, the enum itself is the Pydantic field type (the OpenAPI lists its values), and each
member's `label` is the English word the pages translate (marked for the catalogues).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Vocabulary(StrEnum):
    """Members are `name = "value", N_("label")` (the label defaults to the value's words)."""

    label: str

    def __new__(cls, value: str, label: str | None = None) -> Any:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value.replace("_", " ")
        return member

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)

    @classmethod
    def labels(cls) -> dict[str, str]:
        return {m.value: m.label for m in cls}

    @classmethod
    def check(cls, column: str) -> str:
        """The SQL of a CHECK constraint keeping `column` within this vocabulary."""
        return f"{column} IN ({', '.join(repr(v) for v in cls.values())})"

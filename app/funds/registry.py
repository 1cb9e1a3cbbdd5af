"""Fund adapters: found by name through the entry-point group `coopledger.fund_adapters`.

Shaped like SQLAlchemy dialects and stevedore drivers: a small Protocol, an entry-point
group, `get(name)` that names an unknown adapter clearly, and `register()` for tests.
Built-ins are declared in pyproject.toml like any third party's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.metadata import entry_points
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from app.core.errors import ValidationFailed
from app.core.messages import N_, Message, Template

GROUP = "coopledger.fund_adapters"


# -- what an adapter is handed: a batch, its header and its lines streamed from the database --


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """What a fund needs to know about a batch, whatever the format it takes."""

    kind: Literal["remittance", "affiliation"]
    batch_id: uuid.UUID
    reference: str  # RB000012 (remittance) or AF000003 (affiliation): unique per organisation
    message_id: str  # at most 35 characters: the ISO 20022 MsgId
    organisation_code: str
    organisation_name: str
    fund_code: str
    fund_name: str
    currency: str
    created_at: datetime
    line_count: int
    control_sum: int  # minor units; 0 for an affiliation batch
    through: date | None = None
    settlement_account: Any = None  # the fund's: free text or {iban, bic, name}
    time_zone: str = "UTC"  # the organisation's: its documents are dated in its day


class ContributionLine(NamedTuple):
    """One remittance line: a member's contributions to the fund for one period. (A named
    tuple: a 100,000-line export makes 100,000 of them.)"""

    end_to_end_id: str
    member_id: uuid.UUID
    member_number: str
    full_name: str
    national_id: str | None
    affiliation_number: str | None
    period_start: date
    period_end: date
    amount: int  # minor units


class AffiliationRequest(NamedTuple):
    """One member to register with the fund."""

    line_number: int
    member_id: uuid.UUID
    member_number: str
    full_name: str
    national_id: str | None
    phone: str | None
    joined_on: date


@dataclass(frozen=True, slots=True)
class BatchDocument:
    """A batch for an adapter. `lines()` streams the lines afresh, in order, on every call, so
    a 100,000-line batch is never held in memory."""

    header: BatchHeader
    lines: Callable[[], Iterator[Any]]  # ContributionLine or AffiliationRequest items


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """The fund's answer about one line (remittance: by end_to_end_id; affiliation: member_id)."""

    key: str
    status: Literal["accepted", "rejected"]
    reason: str | None = None
    affiliation_number: str | None = None


@dataclass(slots=True)
class Delivery:
    """What happened when a batch was handed to the adapter at submission."""

    outcome: Literal["delivered", "awaiting_download", "held_in_custody"]
    reference: str | None = None  # the fund's own reference for the batch, if it gave one
    attempts: int = 0
    answer: Any = None  # the fund's answer, as recorded
    line_answers: list[LineAnswer] = field(default_factory=list)


DELIVERY_FAILED = Template("delivery.failed", N_("%(error)s"))
"""A third-party adapter's own words for a failed hand-over."""


class DeliveryFailed(Exception):
    """The fund could not be reached, or refused the batch; nothing was handed over. `str()`
    is its English, `message` the same as a coded message (a third-party adapter may give
    its own words)."""

    def __init__(self, message: Message | str, *, attempts: int = 0, answer: Any = None) -> None:
        if isinstance(message, str):
            message = DELIVERY_FAILED(error=message)
        super().__init__(message.english())
        self.message = message
        self.attempts = attempts
        self.answer = answer


@runtime_checkable
class FundAdapter(Protocol):
    """What every fund adapter provides.

    `validate_config` checks a fund's `adapter_config` when the fund is saved. `deliver`
    hands a sealed batch to the fund at submission: an adapter with a channel pushes it and
    reads the answer; a file adapter returns `awaiting_download` (the fund office downloads
    the file); it raises DeliveryFailed when nothing was handed over. Adapters must be safe
    to call again with the same batch: the batch id is the idempotency key.
    """

    name: str

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Return the config normalised, or raise ValueError naming what is wrong."""
        ...

    def deliver(self, document: BatchDocument, config: dict[str, Any]) -> Delivery:
        """Hand the batch to the fund (see the class docstring)."""
        ...


NO_ADAPTER = Template("fund.no_adapter", N_("no fund adapter named %(adapter)s (known: %(names)s)"))
ADAPTER_BROKEN = Template(
    "fund.adapter_broken", N_("fund adapter %(adapter)s is installed but does not load: %(error)s")
)

_registered: dict[str, type[FundAdapter] | FundAdapter] = {}


def register(name: str, adapter: type[FundAdapter] | FundAdapter) -> None:
    """Register an adapter by hand (tests, or an application embedding coopledger)."""
    _registered[name] = adapter


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _discovered() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted(set(_discovered()) | set(_registered))


def get(name: str) -> FundAdapter:
    """The adapter called `name`; ValidationFailed (field `adapter`) if none is installed."""
    found: Any = _registered.get(name)
    if found is None:
        ep = _discovered().get(name)
        if ep is None:
            known = ", ".join(names()) or "none installed"
            raise ValidationFailed.field("adapter", NO_ADAPTER(adapter=repr(name), names=known))
        try:
            found = ep.load()
        except Exception as exc:  # a broken third-party package must not take the API down
            raise ValidationFailed.field(
                "adapter", ADAPTER_BROKEN(adapter=repr(name), error=str(exc))
            ) from None
    return found() if isinstance(found, type) else found

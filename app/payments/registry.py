"""Payment-channel adapters: found by name through the entry-point group
`coopledger.payment_channels`, shaped like the fund adapters (app/funds/registry.py): a small
Protocol, `get(name)` that names an unknown adapter clearly, and `register()` for tests.

An adapter knows one provider's wire: how an inbound request proves it comes from the
provider (`authenticate`), what payments it announces (`read`), and what the provider expects
back (`answer`). It never touches the database: the service (app/payments/service.py) keeps,
matches and books what the adapter read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from app.core.errors import ValidationFailed
from app.core.messages import N_, Message, Template

GROUP = "coopledger.payment_channels"

UNKNOWN_ADAPTER = Template(
    "payment_channel.unknown_adapter", N_("no payment-channel adapter %(name)s; known: %(known)s")
)


@dataclass(frozen=True, slots=True)
class Inbound:
    """An inbound request as it arrived: the raw body, its headers (lower-case names), and the
    step the provider called (`""`, or e.g. `validation`, `confirmation`)."""

    body: bytes
    headers: dict[str, str]
    step: str = ""
    remote_addr: str | None = None  # the caller's address, for adapters that allow by network
    query: dict[str, str] = field(default_factory=dict)  # the URL's query (MTN's referenceId)


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    """One payment as a provider announced it, its figures as text (checked by the service)."""

    transaction_id: str
    amount: str
    currency: str
    account_reference: str | None
    msisdn: str | None
    occurred_at: datetime
    status: str = "successful"  # ProviderStatus


@dataclass(frozen=True, slots=True)
class Reading:
    """What an adapter read from a request: the payments, or why it could not (a Message)."""

    payments: list[ProviderPayment] = field(default_factory=list)
    unreadable: Message | None = None
    validation_only: bool = False  # the provider asks before the money moves


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the service made of a request, for the adapter's answer."""

    accepted: bool
    status: str  # matched | suspense | refused | ... (the notification's), or "invalid"
    notification_id: str | None = None
    receipt_id: str | None = None
    reason: str | None = None  # English, for the provider's log


@runtime_checkable
class PaymentAdapter(Protocol):
    name: str
    headers_kept: tuple[str, ...]  # the request headers worth keeping with the notification

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config, normalised, or ValidationFailed naming `config.<key>`."""

    def authenticate(self, inbound: Inbound, secret: str, config: dict[str, Any]) -> bool:
        """Whether the request comes from the provider (a signature, a shared token, ...)."""

    def read(self, inbound: Inbound, config: dict[str, Any]) -> Reading:
        """The payments the request announces."""

    def answer(self, inbound: Inbound, outcomes: list[Outcome]) -> tuple[int, Any]:
        """The status and JSON body the provider expects back."""


_REGISTERED: dict[str, Callable[[], PaymentAdapter]] = {}


def register(name: str, factory: Callable[[], PaymentAdapter]) -> None:
    """Add an adapter by hand (tests; a deployment's own adapters use the entry points)."""
    _REGISTERED[name] = factory


_LOADED = False


def load_all() -> None:
    """Import every adapter once, so the message templates they declare (the reasons of the
    notifications they refused) are known before any of them is said."""
    global _LOADED
    if _LOADED:
        return
    for ep in entry_points(group=GROUP):
        try:
            ep.load()
        except Exception:  # noqa: S112 - a broken third-party adapter must not stop reads
            continue
    _LOADED = True


def names() -> list[str]:
    found = {ep.name for ep in entry_points(group=GROUP)}
    return sorted(found | _REGISTERED.keys())


@lru_cache(maxsize=64)
def _installed(name: str) -> Callable[[], PaymentAdapter] | None:
    """The installed adapter called `name`: entry points are read once per name (reading
    them costs milliseconds; every inbound request asks)."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    return None


def get(name: str, *, field: str = "adapter") -> PaymentAdapter:
    """The adapter called `name`; 422 naming `field` and the known names if there is none."""
    factory = _REGISTERED.get(name) or _installed(name)
    if factory is None:
        raise ValidationFailed.field(
            field, UNKNOWN_ADAPTER(name=repr(name), known=", ".join(names()))
        )
    adapter = factory()
    if not isinstance(adapter, PaymentAdapter):
        raise TypeError(f"{name}: not a PaymentAdapter")
    return adapter

"""Asking the provider what became of pending payments (issue 14).

Some providers send their result once and never again (MTN MoMo), so a result lost on the way,
or a transaction still pending when it was announced, would wait forever. A channel whose
adapter is `Pollable` is asked, for each notification of the channel still `pending` (and for
any request the caller names that was never announced at all), what the provider says of it
now; each answer is taken exactly as a callback with the same figures would be, through
`service.take_payment` (a pending one is settled by `service.settle_pending` there; a
transaction seen before answers as before and writes nothing). Nothing is booked here.

A pending notification is keyed by the provider's request reference (the only id it has
before it ends); a finished transaction by the provider's own transaction id (MoMo's
financialTransactionId, the one its callbacks and statements carry). When a poll finds a
pending request finished under its own transaction id, the pending notification is re-keyed
to that id first, so a callback or a statement line with it later finds the same notification
instead of booking the payment again; if a notification with that id exists already (its
callback came in between), the pending one is reported as `redundant` and left pending with
nothing booked.

Asking (HTTP, `ask`) and taking the answers (the database, `take_answers`) are apart so that
a caller can do the first outside any transaction (the CLI does); `poll_pending` does both in
the caller's session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.audit import Actor
from app.core.errors import ValidationFailed
from app.core.messages import N_, Message, Template
from app.core.money import MoneyError, parse_minor
from app.payments import registry, service
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.vocabulary import NotificationStatus

NOT_POLLABLE = Template(
    "payment_channel.not_pollable",
    N_("the %(adapter)s adapter of channel %(code)s cannot ask the provider about a payment"),
)
NOT_A_REFERENCE = Template(
    "payment.not_a_reference", N_("%(reference)s is not a reference the provider knows requests by")
)

LIMIT = 500  # pending notifications asked about per channel and run, oldest first


@dataclass(frozen=True, slots=True)
class PollAnswer:
    """What the provider said of one request: the payment as it stands now, or that it does
    not know the request (`found=False`), or why it could not be asked (`failed`)."""

    payment: registry.ProviderPayment | None = None
    found: bool = True
    failed: Message | None = None
    raw: bytes = b""  # the provider's answer, kept as the body of a notification it creates


@runtime_checkable
class Pollable(Protocol):
    """An adapter that can ask its provider about a request (beside PaymentAdapter)."""

    def pollable(self, transaction_id: str) -> str | None:
        """The reference to ask about for a notification keyed `transaction_id`; None if the
        provider cannot be asked about it."""

    def status(self, references: list[str], config: dict[str, Any]) -> dict[str, PollAnswer]:
        """What the provider says now of each reference (one answer per reference)."""


@dataclass(frozen=True, slots=True)
class Taken:
    """One answer taken: the reference asked about, the status of its notification before
    (None: there was none) and what the answer came to (`duplicate`: other figures than
    announced, flagged beside it; `redundant`: booked already under the provider's id)."""

    reference: str
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class PollReport:
    """What one poll of a channel came to, per reference asked about."""

    channel: str
    taken: list[Taken] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    failed: list[tuple[str, Message]] = field(default_factory=list)
    unpollable: int = 0  # pending notifications the provider cannot be asked about

    @property
    def asked(self) -> int:
        return len(self.taken) + len(self.not_found) + len(self.failed)


def pollable(channel: PaymentChannel) -> Pollable:
    """The channel's adapter as a Pollable; ValidationFailed naming the channel if it is not."""
    plugin = registry.get(channel.adapter)
    if not isinstance(plugin, Pollable):
        raise ValidationFailed.field(
            "channel", NOT_POLLABLE(adapter=channel.adapter, code=channel.code)
        )
    return plugin


def pending_references(
    session: Session,
    channel: PaymentChannel,
    extra: Iterable[str] = (),
    *,
    limit: int = LIMIT,
) -> tuple[list[str], int]:
    """The references to ask about: the channel's pending notifications (oldest first, at most
    `limit`) and the `extra` ones named by the caller (ValidationFailed if one is not a
    reference); and how many pending notifications cannot be asked about."""
    plugin = pollable(channel)
    refs: list[str] = []
    for said in extra:
        ref = plugin.pollable(said)
        if ref is None:
            raise ValidationFailed.field("reference", NOT_A_REFERENCE(reference=repr(said[:80])))
        if ref not in refs:
            refs.append(ref)
    unpollable = 0
    rows = session.scalars(
        select(PaymentNotification.transaction_id)
        .where(
            PaymentNotification.channel_id == channel.id,
            PaymentNotification.status == NotificationStatus.pending.value,
        )
        .order_by(PaymentNotification.received_at, PaymentNotification.id)
        .limit(limit)
    )
    for transaction_id in rows:
        ref = plugin.pollable(transaction_id or "")
        if ref is None:
            unpollable += 1
        elif ref not in refs:
            refs.append(ref)
    return refs, unpollable


def ask(channel: PaymentChannel, references: list[str]) -> dict[str, PollAnswer]:
    """The provider's answers (HTTP only: no database, no transaction held)."""
    if not references:
        return {}
    answers = pollable(channel).status(references, dict(channel.config))
    return {ref: answers.get(ref, PollAnswer(found=False)) for ref in references}


def take_answers(
    session: Session, channel: PaymentChannel, answers: dict[str, PollAnswer]
) -> PollReport:
    """Take each answer as a callback with its figures would be taken (in the session's
    transaction; each in a savepoint of its own)."""
    report = PollReport(channel.code)
    actor = Actor(f"channel:{channel.code}")
    for ref, answer in answers.items():
        if answer.failed is not None:
            report.failed.append((ref, answer.failed))
            continue
        if answer.payment is None or not answer.found:
            report.not_found.append(ref)
            continue
        with session.begin_nested():
            _take(session, actor, channel, ref, answer, report)
    return report


def _live(
    session: Session, channel: PaymentChannel, transaction_id: str
) -> PaymentNotification | None:
    return session.scalar(
        select(PaymentNotification)
        .where(
            PaymentNotification.channel_id == channel.id,
            PaymentNotification.transaction_id == transaction_id,
            PaymentNotification.status.not_in(
                [NotificationStatus.refused.value, NotificationStatus.duplicate.value]
            ),
        )
        .with_for_update()
        # a row this session read before is read again, not taken from the identity map
        .execution_options(populate_existing=True)
    )


def _take(
    session: Session,
    actor: Actor,
    channel: PaymentChannel,
    ref: str,
    answer: PollAnswer,
    report: PollReport,
) -> None:
    p = answer.payment
    assert p is not None
    before = _live(session, channel, ref)
    status_before = before.status if before is not None else None
    if p.transaction_id != ref:
        # finished under the provider's own id
        booked = _live(session, channel, p.transaction_id)
        if before is None:
            if booked is not None:
                status_before = booked.status
        elif before.status != NotificationStatus.pending.value or not _same_figures(before, p):
            # the notification kept under the reference answers (as it did, or flagging other
            # figures than it announced beside it)
            p = replace(p, transaction_id=ref)
        elif booked is not None or not _rekey(session, before, p.transaction_id):
            report.taken.append(Taken(ref, status_before, "redundant"))
            return
    outcome = service.take_payment(session, actor, channel, p, answer.raw, {}, source="poll")
    report.taken.append(Taken(ref, status_before, outcome.status))


def _rekey(session: Session, row: PaymentNotification, transaction_id: str) -> bool:
    """Key a pending notification by the provider's transaction id; False if a notification
    with that id was kept meanwhile."""
    try:
        with session.begin_nested():
            row.transaction_id = transaction_id
            session.flush()
    except IntegrityError:  # a callback with that id was kept meanwhile
        return False
    return True


def _same_figures(row: PaymentNotification, p: registry.ProviderPayment) -> bool:
    try:
        amount = parse_minor(p.amount, p.currency)
    except MoneyError:
        return False
    return (amount, p.currency) == (row.amount, row.currency)


def poll_pending(
    session: Session,
    channel: PaymentChannel,
    *,
    references: Iterable[str] = (),
    limit: int = LIMIT,
) -> PollReport:
    """Ask the provider about the channel's pending notifications (and `references`, requests
    that may never have been announced) and take its answers, in the caller's session.
    ValidationFailed if the channel's adapter cannot be asked, or a reference is not one."""
    refs, unpollable = pending_references(session, channel, references, limit=limit)
    report = take_answers(session, channel, ask(channel, refs))
    report.unpollable = unpollable
    return report

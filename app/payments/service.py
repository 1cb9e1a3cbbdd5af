"""Payment channels and their notifications: keep each as it arrived, once; match it to a
payer and post its receipt, or hold its money in suspense until a treasurer resolves it.

The books (docs/payments.md):
- matched at once: the receipt itself, debiting the mobile-money clearing account like any
  mobile-money receipt (allocated oldest first, shares per fund);
- held: debit mobile-money clearing, credit the channel's suspense account (a liability: the
  payer's money, owed back or to be applied);
- matched out of suspense: the receipt, debiting the suspense account;
- to be refunded: debit suspense, credit the channel's refunds-owed account (a liability).
So the suspense account's balance is always the sum of the notifications in suspense (in the
book currency), and the refunds account's the sum of those to be refunded: `coopledger
verify` checks both (app/payments/checks.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.collections import accounts as collection_accounts
from app.collections import rounds
from app.collections import service as receipts
from app.collections.receipts import ReceiptDraft
from app.collections.vocabulary import Channel
from app.core import audit, clock
from app.core.audit import Actor
from app.core.database import bind_organisation
from app.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, FieldError, Message, Template
from app.core.money import MoneyError, parse_minor
from app.identity.models import Organisation
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.members.models import Member, MemberStatus
from app.payments import registry
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.vocabulary import NotificationStatus, ProviderStatus

ACCOUNT_PREFIX = "PAYCH:"
ownership.reserve(ACCOUNT_PREFIX, "the payment channels")
ownership.register(
    "payment",
    noun="payment notification",
    undo="a payment in suspense is matched to a payer or marked to be refunded "
    "(POST /api/v1/payment-notifications/{id}/match or /refund)",
)

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")

BAD_CODE = Template(
    "payment_channel.bad_code",
    N_(
        "a channel code is 1 to 32 capital letters, digits, '-' or '_', starting with a letter or digit"
    ),
)
CODE_TAKEN = Template("payment_channel.code_taken", N_("a payment channel %(code)s exists already"))
NOT_BOOK_CURRENCY = Template(
    "payment_channel.not_book_currency",
    N_("a channel takes the organisation's currency %(currency)s"),
)
NO_CHANNEL = Template("payment_channel.not_found", N_("no payment channel %(code)s"))
NO_NOTIFICATION = Template("payment.not_found", N_("no payment notification %(id)s"))
# why a notification is where it is (its reason_code; said in the reader's language)
BAD_SIGNATURE = Template(
    "payment.bad_signature", N_("the request did not prove it comes from the provider")
)
BAD_AMOUNT = Template(
    "payment.bad_amount", N_("the amount %(amount)s is not an amount of %(currency)s")
)
PROVIDER_FAILED = Template(
    "payment.provider_failed", N_("the provider says the transaction is %(status)s: no money moved")
)
BAD_TIME = Template(
    "payment.bad_time", N_("the payment's time is missing or not between 2000 and 2100")
)
CLIENT_ID_TAKEN = Template(
    "payment.receipt_clash",
    N_("a receipt with the client id %(client_id)s exists already: resolve it by hand"),
)
PROVIDER_PENDING = Template(
    "payment.provider_pending", N_("the provider has not finished the transaction yet")
)
OTHER_CURRENCY = Template(
    "payment.other_currency",
    N_("paid in %(currency)s, not in the organisation's %(book)s: it cannot be applied"),
)
NO_PAYER = Template(
    "payment.no_payer",
    N_("the reference %(reference)s names no member or unit, and the phone no member"),
)
AMBIGUOUS = Template(
    "payment.ambiguous_payer",
    N_("the reference %(reference)s or the phone fits more than one payer"),
)
CONFLICT = Template(
    "payment.conflicting_duplicate",
    N_("transaction %(transaction)s was announced before with other figures: %(first)s"),
)
RECEIPT_REVERSED = Template(
    "payment.receipt_reversed",
    N_("its receipt %(number)s was reversed (%(reason)s): match it again or refund it"),
)
UNKNOWN_REASON = Template("payment.reason_unknown", N_("reason %(code)s"))
REFUND = Template("payment.refund", N_("to be refunded: %(reason)s"))
NOT_IN_SUSPENSE = Template(
    "payment.not_in_suspense", N_("this payment is %(status)s, not in suspense")
)
ONE_PAYER = Template(
    "payment.one_payer", N_("name the payer: a member_id or a unit_id, one of them")
)
NO_REFUND_REASON = Template("payment.refund_no_reason", N_("say why it is refunded"))


# -- channels -------------------------------------------------------------------------------------


def channel_secret(secret_key: str, channel: PaymentChannel) -> str:
    """The channel's shared secret: derived from the server's key and the channel's salt, so
    the database alone never holds it. Rotating the server's key changes every channel's."""
    mac = hmac.new(
        secret_key.encode(),
        f"payment-channel:{channel.id}:{channel.secret_salt}".encode(),
        hashlib.sha256,
    )
    return "pcs_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def create_channel(
    session: Session,
    actor: Actor,
    *,
    code: str,
    adapter: str,
    currency: str,
    config: dict[str, Any],
    secret_key: str,
) -> tuple[PaymentChannel, str]:
    """Open a channel (its suspense and refunds accounts with it); the secret is returned
    here, once."""
    org = session.get(Organisation, _org(session))
    assert org is not None
    errors = []
    if not CODE.match(code):
        errors.append(("code", BAD_CODE()))
    if currency != org.currency:
        errors.append(("currency", NOT_BOOK_CURRENCY(currency=org.currency)))
    if errors:
        raise ValidationFailed.fields([FieldError(f, m) for f, m in errors])
    plugin = registry.get(adapter)
    checked = plugin.check_config(config)
    if session.scalar(select(PaymentChannel.id).where(PaymentChannel.code == code)) is not None:
        raise Conflict(CODE_TAKEN(code=code))
    owner = ledger.Owner("payment_channel", code)
    suspense = ledger.open_account(
        session,
        actor,
        code=f"{ACCOUNT_PREFIX}{code}:SUSPENSE",
        name=f"Payments on {code} not yet matched to a payer"[:200],
        type=AccountType.liability,
        currency=currency,
        owner=owner,
    )
    refunds = ledger.open_account(
        session,
        actor,
        code=f"{ACCOUNT_PREFIX}{code}:REFUNDS",
        name=f"Refunds owed on {code}"[:200],
        type=AccountType.liability,
        currency=currency,
        owner=owner,
    )
    channel = PaymentChannel(
        organisation_id=org.id,
        id=uuid7(),
        code=code,
        adapter=plugin.name,
        currency=currency,
        config=checked,
        inbound_token=secrets.token_urlsafe(32),
        secret_salt=secrets.token_hex(16),
        suspense_account_id=suspense.id,
        refund_account_id=refunds.id,
    )
    session.add(channel)
    session.flush()
    audit.record(
        session, actor, "payment_channel.create", "payment_channel", channel.id,
        {"code": code, "adapter": plugin.name, "currency": currency},
    )  # fmt: skip
    return channel, channel_secret(secret_key, channel)


def get_channel(session: Session, code: str) -> PaymentChannel:
    found = session.scalar(select(PaymentChannel).where(PaymentChannel.code == code))
    if found is None:
        raise NotFound(NO_CHANNEL(code=code))
    return found


def channel_by_token(session: Session, token: str) -> PaymentChannel | None:
    """The channel an inbound URL names (across organisations); the session is then bound to
    its organisation."""
    if not token or len(token) > 64:
        return None
    channel = session.scalars(
        select(PaymentChannel).where(PaymentChannel.inbound_token == token).limit(1)
    ).first()
    if channel is not None:
        bind_organisation(session, channel.organisation_id)
        org = session.get(Organisation, channel.organisation_id)
        if org is not None:
            clock.remember_zone(session, org.time_zone)
    return channel


# -- receiving ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """What one inbound request came to: the adapter's outcomes, and the status to answer."""

    outcomes: list[registry.Outcome]
    authenticated: bool = True


def receive(
    session: Session,
    channel: PaymentChannel,
    inbound: registry.Inbound,
    *,
    secret_key: str,
    source: str = "callback",
) -> Received:
    """Take one inbound request of a channel: refuse it if it fails the channel's
    authentication (kept as refused), else keep each payment it announces once and match it
    or hold it in suspense, in the caller's transaction."""
    plugin = registry.get(channel.adapter)
    actor = Actor(f"channel:{channel.code}")
    headers = {k: v[:500] for k, v in inbound.headers.items() if k in plugin.headers_kept}
    if not plugin.authenticate(inbound, channel_secret(secret_key, channel), channel.config):
        _keep_refused(session, channel, inbound, headers, BAD_SIGNATURE())
        return Received(
            [registry.Outcome(False, "refused", reason=BAD_SIGNATURE().english())], False
        )
    reading = plugin.read(inbound, channel.config)
    if reading.unreadable is not None:
        _keep_refused(session, channel, inbound, headers, reading.unreadable)
        reason = reading.unreadable.english()
        return Received([registry.Outcome(False, "invalid", reason=reason)])
    if reading.validation_only:
        return Received([_validate(session, channel, p) for p in reading.payments])
    outcomes = [
        take_payment(session, actor, channel, p, inbound.body, headers, source=source)
        for p in reading.payments
    ]
    return Received(outcomes)


def _validate(
    session: Session, channel: PaymentChannel, p: registry.ProviderPayment
) -> registry.Outcome:
    """A provider asking before the money moves: accept unless the channel refuses unknown
    references and this one names no payer."""
    if not channel.config.get("refuse_unknown_reference"):
        return registry.Outcome(True, "accepted")
    payer = find_payer(session, p.account_reference, p.msisdn)
    if isinstance(payer, Message):
        return registry.Outcome(False, "rejected", reason=payer.english())
    return registry.Outcome(True, "accepted")


def _keep_refused(
    session: Session,
    channel: PaymentChannel,
    inbound: registry.Inbound,
    headers: dict[str, str],
    why: Message,
) -> None:
    session.add(
        PaymentNotification(
            organisation_id=channel.organisation_id,
            id=uuid7(),
            channel_id=channel.id,
            status=NotificationStatus.refused.value,
            reason_code=why.code,
            reason_params=why.plain_params(),
            raw_body=_text(inbound.body),
            headers=headers,
        )
    )
    session.flush()


def take_payment(
    session: Session,
    actor: Actor,
    channel: PaymentChannel,
    p: registry.ProviderPayment,
    raw: bytes,
    headers: dict[str, str],
    *,
    source: str = "callback",
) -> registry.Outcome:
    """Keep one announced payment once (the same transaction again answers as the first did
    and writes nothing), then book it."""
    p = _cleaned(p)
    amount = provider_amount(p.amount, p.currency)
    first = _first(session, channel, p.transaction_id)
    if first is not None:
        return _again(session, channel, first, p, amount, raw, headers, source)
    refused = _refused_before(session, channel, p, amount)
    if refused is not None:  # a failed transaction delivered again: kept once
        return outcome_of(refused)
    row = _kept(channel, p, amount, raw, headers, source)  # refused until decided below
    try:
        with session.begin_nested():
            _decide(session, actor, channel, row, p.amount[:40])
            session.add(row)
            session.flush()
    except IntegrityError:
        # the same transaction arrived at the same time and was kept first: answer as it
        first = _first(session, channel, p.transaction_id)
        if first is None:
            raise
        return _again(session, channel, first, p, amount, raw, headers, source)
    return outcome_of(row)


def _kept(
    channel: PaymentChannel,
    p: registry.ProviderPayment,
    amount: int | None,
    raw: bytes,
    headers: dict[str, str],
    source: str,
) -> PaymentNotification:
    """A notification row for a payment as announced (refused until its status is set)."""
    return PaymentNotification(
        organisation_id=channel.organisation_id,
        id=uuid7(),
        channel_id=channel.id,
        transaction_id=p.transaction_id,
        amount=amount,
        currency=p.currency,
        account_reference=(p.account_reference or None) and p.account_reference[:64],
        msisdn=(p.msisdn or None) and p.msisdn[:32],
        occurred_at=p.occurred_at if _plausible(p.occurred_at) else None,
        provider_status=p.status,
        source=source,
        status=NotificationStatus.refused.value,
        raw_body=_text(raw),
        headers=headers,
    )


def _refused_before(
    session: Session, channel: PaymentChannel, p: registry.ProviderPayment, amount: int | None
) -> PaymentNotification | None:
    """The same transaction refused before with the same figures and provider status (a
    failed one delivered again): it answers as then and nothing new is kept. Other figures,
    or a success after a failure (the provider's statement), are taken anew."""
    return session.scalars(
        select(PaymentNotification)
        .where(
            PaymentNotification.channel_id == channel.id,
            PaymentNotification.transaction_id == p.transaction_id,
            PaymentNotification.status == NotificationStatus.refused.value,
            PaymentNotification.provider_status == p.status,
            PaymentNotification.amount.is_(None)
            if amount is None
            else PaymentNotification.amount == amount,
        )
        .order_by(PaymentNotification.received_at)
        .limit(1)
    ).first()


def _text(raw: bytes) -> str:
    """A body as text that any database stores: invalid UTF-8 replaced, NUL too (PostgreSQL
    refuses U+0000), at most 100,000 characters."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")[:100_000]


def _cleaned(p: registry.ProviderPayment) -> registry.ProviderPayment:
    """The provider's texts without NUL (PostgreSQL stores none), the id trimmed to 64."""

    def clean(value: str | None) -> str | None:
        return None if value is None else value.replace("\x00", "\ufffd")

    return replace(
        p,
        transaction_id=(clean(p.transaction_id) or "")[:64],
        account_reference=clean(p.account_reference),
        msisdn=clean(p.msisdn),
        currency=(clean(p.currency) or "")[:3],
    )


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible(when: datetime | None) -> bool:
    """A provider's time the books can date: between 2000 and 2100 (every day of it has a
    date in any time zone)."""
    return when is not None and when.tzinfo is not None and EARLIEST <= when < LATEST


def provider_amount(text: str, currency: str) -> int | None:
    """A provider's amount in minor units, or None if it is not a positive amount of the
    currency. Zeros after the currency's decimals are no precision (MoMo says "1000.00" of a
    franc that has none): "1000.00" XOF is 1000; "1000.50" XOF is refused."""
    said = (text or "").strip()
    if "." in said:
        whole, _, decimals = said.partition(".")
        trimmed = decimals.rstrip("0")
        said = f"{whole}.{trimmed}" if trimmed else whole
    try:
        amount = parse_minor(said, currency)
    except (MoneyError, ValueError, ArithmeticError):
        return None
    return amount if amount > 0 else None


def _first(
    session: Session, channel: PaymentChannel, transaction_id: str
) -> PaymentNotification | None:
    return session.scalar(
        select(PaymentNotification).where(
            PaymentNotification.channel_id == channel.id,
            PaymentNotification.transaction_id == transaction_id,
            PaymentNotification.status.not_in(
                [NotificationStatus.refused.value, NotificationStatus.duplicate.value]
            ),
        )
    )


def _again(
    session: Session,
    channel: PaymentChannel,
    first: PaymentNotification,
    p: registry.ProviderPayment,
    amount: int | None,
    raw: bytes,
    headers: dict[str, str],
    source: str,
) -> registry.Outcome:
    """A transaction seen before: the same figures answer as the first did, writing nothing
    (a provider's retry, a duplicate delivery, a statement line); other figures are kept
    beside it as a flagged duplicate, once."""
    same_figures = (amount, p.currency) == (first.amount, first.currency)
    if (
        same_figures
        and first.status == NotificationStatus.pending.value
        and p.status != first.provider_status
    ):
        # the provider has finished it (a later callback, or a poll): book it now
        return settle_pending(session, Actor(f"channel:{channel.code}"), channel, first, p.status)
    if same_figures and p.status in (first.provider_status, ProviderStatus.successful.value):
        return outcome_of(first)
    if (
        same_figures
        and p.status == ProviderStatus.pending.value
        and first.status != NotificationStatus.pending.value
    ):
        return outcome_of(first)  # a stale "pending" arriving after the final word
    said = f"{first.amount} {first.currency} {first.provider_status}"
    conflict = CONFLICT(transaction=p.transaction_id, first=said)
    # conflicting deliveries of one transaction wait for each other on its live row, so the
    # same conflict sent at once is kept once
    session.execute(
        select(PaymentNotification.id).where(PaymentNotification.id == first.id).with_for_update()
    )
    existing = session.scalar(
        select(PaymentNotification).where(
            PaymentNotification.channel_id == channel.id,
            PaymentNotification.transaction_id == p.transaction_id,
            PaymentNotification.status == NotificationStatus.duplicate.value,
            PaymentNotification.amount.is_(amount)
            if amount is None
            else PaymentNotification.amount == amount,
            PaymentNotification.provider_status == p.status,
        )
    )
    if existing is None:
        existing = _kept(channel, p, amount, raw, headers, source)
        _stand(existing, NotificationStatus.duplicate, conflict)
        session.add(existing)
        session.flush()
    return outcome_of(existing)


def settle_pending(
    session: Session, actor: Actor, channel: PaymentChannel, row: PaymentNotification, status: str
) -> registry.Outcome:
    """A pending notification whose transaction the provider has now finished (`status`):
    booked as a new one would be (matched, held or refused), once."""
    locked = session.scalar(
        select(PaymentNotification)
        .where(PaymentNotification.id == row.id)
        .with_for_update()
        # a row this session read before is read again, not taken from the identity map
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    if locked.status != NotificationStatus.pending.value or status == ProviderStatus.pending.value:
        return outcome_of(locked)
    locked.provider_status = status
    locked.reason_code = locked.reason_params = None
    _decide(session, actor, channel, locked)
    session.flush()
    return outcome_of(locked)


def outcome_of(row: PaymentNotification) -> registry.Outcome:
    reason = None
    if row.reason_code is not None:
        reason = _message(row).english()
    return registry.Outcome(
        accepted=row.status != NotificationStatus.refused.value,
        status=row.status,
        notification_id=str(row.id),
        receipt_id=str(row.receipt_id) if row.receipt_id else None,
        reason=reason,
    )


def reason_of(row: PaymentNotification) -> Message | None:
    """Why the notification is where it is, as a message to say in any language."""
    return _message(row) if row.reason_code else None


def _message(row: PaymentNotification) -> Message:
    registry.load_all()  # an adapter's own reasons (payment.other_shortcode, ...)
    said = Message.of(row.reason_code or "", row.reason_params)
    return said if said is not None else UNKNOWN_REASON(code=row.reason_code or "")


def _stand(row: PaymentNotification, status: NotificationStatus, why: Message | None) -> None:
    """Where a notification stands, and why (its reason, said later in any language)."""
    row.status = status.value
    row.reason_code = why.code if why is not None else None
    row.reason_params = why.plain_params() if why is not None else None


def _hold(
    session: Session, actor: Actor, channel: PaymentChannel, row: PaymentNotification, why: Message
) -> None:
    """Put the money in suspense: its entry, the reason."""
    _stand(row, NotificationStatus.suspense, why)
    if row.amount is None or row.currency != channel.currency:
        return  # nothing the book currency can hold: the treasurer refunds it
    when = row.occurred_at or row.received_at
    row.journal_id = _into_suspense(
        session,
        actor,
        channel,
        row,
        "held in suspense",
        clock.local_date(when, clock.session_zone(session)),
    )


def _into_suspense(
    session: Session,
    actor: Actor,
    channel: PaymentChannel,
    row: PaymentNotification,
    what: str,
    on: date,
) -> uuid.UUID:
    """The entry that holds a payment's money in suspense: debit mobile-money clearing (where
    the money is), credit the channel's suspense account (whose it is, until resolved)."""
    assert row.amount is not None
    clearing = collection_accounts.shared_account(
        session,
        actor,
        collection_accounts.CLEARING_BY_CHANNEL[Channel.mobile_money],
        channel.currency,
    )
    return ledger.post(
        session,
        actor,
        description=f"Payment {row.transaction_id} on {channel.code} {what}"[:200],
        effective_on=on,
        lines=[
            ledger.Line(clearing, row.amount),
            ledger.Line(channel.suspense_account_id, -row.amount),
        ],
        kind="payment",
        owner=ledger.Owner("payment", str(row.id)),
    )


def _decide(
    session: Session,
    actor: Actor,
    channel: PaymentChannel,
    row: PaymentNotification,
    said_amount: str = "",
) -> None:
    """Book a new notification: refused (no money moved), matched (its receipt), or held."""
    if row.provider_status in (ProviderStatus.failed.value, ProviderStatus.reversed.value):
        why = PROVIDER_FAILED(status=ProviderStatus(row.provider_status))
        _stand(row, NotificationStatus.refused, why)
        return
    if row.amount is None:  # an amount no currency has: nothing can be booked
        why = BAD_AMOUNT(amount=said_amount, currency=row.currency or "?")
        _stand(row, NotificationStatus.refused, why)
        return
    if row.occurred_at is None:  # a time the books cannot date
        why = BAD_TIME()
        _stand(row, NotificationStatus.refused, why)
        return
    if row.provider_status == ProviderStatus.pending.value:
        why = PROVIDER_PENDING()
        _stand(row, NotificationStatus.pending, why)
        return
    if row.currency != channel.currency:
        _hold(
            session,
            actor,
            channel,
            row,
            OTHER_CURRENCY(currency=row.currency, book=channel.currency),
        )
        return
    payer = find_payer(session, row.account_reference, row.msisdn)
    if isinstance(payer, Message):
        _hold(session, actor, channel, row, payer)
        return
    refused = _post(session, actor, channel, row, payer, debit_account_id=None)
    if refused is not None:
        _hold(session, actor, channel, row, refused)


def _post(
    session: Session,
    actor: Actor,
    channel: PaymentChannel,
    row: PaymentNotification,
    payer: tuple[str, uuid.UUID],
    *,
    debit_account_id: uuid.UUID | None,
) -> Message | None:
    """Post the receipt for a notification; the receipt's refusal if it cannot be posted."""
    assert row.amount is not None and row.transaction_id is not None
    kind, payer_id = payer
    client_id = f"{channel.code}:{row.transaction_id}"[:120]
    draft = ReceiptDraft(
        member_id=payer_id if kind == "member" else None,
        unit_id=payer_id if kind == "unit" else None,
        amount=row.amount,
        currency=channel.currency,
        received_at=row.occurred_at or row.received_at,
        channel=Channel.mobile_money,
        collector_id=None,
        reference=row.transaction_id[:120],
        # the first receipt of a transaction carries its id; one matched again after its
        # receipt was reversed none (the id is taken): the notification names it either way
        client_id=None if _client_id_taken(session, client_id) else client_id,
    )
    try:
        with session.begin_nested():
            posted = receipts.post_receipt(session, actor, draft, debit_account_id=debit_account_id)
    except DomainError as exc:
        # the receipt's own refusal (no crew, stranded credit, ...) is the reason
        return exc.errors[0].message if exc.errors else exc.message
    except IntegrityError:
        # a desk receipt took this client id first: a person must look
        return CLIENT_ID_TAKEN(client_id=draft.client_id or "")
    row.status = NotificationStatus.matched.value
    row.receipt_id = posted.id
    return None


def _client_id_taken(session: Session, client_id: str) -> bool:
    from app.collections.models import Receipt

    found = select(Receipt.id).where(Receipt.collector_id.is_(None), Receipt.client_id == client_id)
    return session.scalar(found.limit(1)) is not None


_DIGITS = re.compile(r"\D")


def find_payer(
    session: Session, reference: str | None, msisdn: str | None
) -> tuple[str, uuid.UUID] | Message:
    """The payer a payment names: by its reference (a member number or a plate; case, spaces
    and dashes do not matter), else by the phone it came from (a member's registered phone,
    compared on its last nine digits). No one, or more than one: why, as a message."""
    said = (reference or "").strip()
    if said:
        hits = rounds.resolve(session, [said])[said]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            return AMBIGUOUS(reference=said)
    digits = _DIGITS.sub("", msisdn or "")
    if len(digits) >= 7:
        tail = digits[-9:]
        found = list(
            session.scalars(
                select(Member.id)
                .where(
                    Member.status == MemberStatus.active.value,
                    Member.phone.is_not(None),
                    Member.search_text.contains(tail),
                )
                .limit(20)
            )
        )
        # search_text holds the phone's digits; confirm on the phone itself
        members = [
            mid
            for mid, phone in session.execute(
                select(Member.id, Member.phone).where(Member.id.in_(found))
            )
            if _DIGITS.sub("", phone or "").endswith(tail)
        ]
        if len(members) == 1:
            return ("member", members[0])
        if len(members) > 1:
            return AMBIGUOUS(reference=said or msisdn or "")
    return NO_PAYER(reference=said or "''")


# -- the treasurer's queue ------------------------------------------------------------------------


def on_receipt_reversed(session: Session, actor: Actor, receipt: Any) -> None:
    """A payment's receipt reversed: the payment goes back to suspense, with the reversal's
    reason, to be matched again or refunded. The receipt's reversal credited back the account
    it had debited: the suspense account (matched by a treasurer: the money is held there
    again) or the mobile-money clearing account (matched on arrival: the money is put in
    suspense now, with its own entry)."""
    row = session.scalar(
        select(PaymentNotification)
        .where(PaymentNotification.receipt_id == receipt.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.status != NotificationStatus.matched.value:
        return
    channel = session.scalar(select(PaymentChannel).where(PaymentChannel.id == row.channel_id))
    assert channel is not None and row.amount is not None
    if row.journal_id is None:  # matched on arrival: its money goes into suspense now
        row.journal_id = _into_suspense(
            session,
            actor,
            channel,
            row,
            "back in suspense",
            clock.today(clock.session_zone(session)),
        )
    why = RECEIPT_REVERSED(number=receipt.receipt_number, reason=receipt.reversal_reason or "")
    _stand(row, NotificationStatus.suspense, why)
    row.receipt_id = None
    row.resolved_at = row.resolved_by = None
    session.flush()
    audit.record(
        session, actor, "payment.back_in_suspense", "payment_notification", row.id,
        {"receipt_id": str(receipt.id), "receipt_number": receipt.receipt_number},
    )  # fmt: skip


def get_notification(session: Session, notification_id: uuid.UUID) -> PaymentNotification:
    found = session.scalar(
        select(PaymentNotification).where(PaymentNotification.id == notification_id)
    )
    if found is None:
        raise NotFound(NO_NOTIFICATION(id=notification_id))
    return found


def _in_suspense(
    session: Session, notification_id: uuid.UUID
) -> tuple[PaymentNotification, PaymentChannel]:
    row = session.scalar(
        select(PaymentNotification)
        .where(PaymentNotification.id == notification_id)
        .with_for_update()
        # a row this session read before is read again, not taken from the identity map
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(NO_NOTIFICATION(id=notification_id))
    if row.status != NotificationStatus.suspense.value:
        raise Conflict(NOT_IN_SUSPENSE(status=NotificationStatus(row.status)))
    channel = session.scalar(select(PaymentChannel).where(PaymentChannel.id == row.channel_id))
    assert channel is not None
    return row, channel


def match(
    session: Session, actor: Actor, notification_id: uuid.UUID, payer: tuple[str, uuid.UUID]
) -> PaymentNotification:
    """Apply a payment held in suspense to a payer: its receipt, debiting the suspense account
    (409 unless it is in suspense; 422 naming the payer if the receipt is refused)."""
    row, channel = _in_suspense(session, notification_id)
    if row.journal_id is None:  # never booked (another currency): it can only be refunded
        raise Conflict(OTHER_CURRENCY(currency=row.currency or "?", book=channel.currency))
    refused = _post(
        session, actor, channel, row, payer, debit_account_id=channel.suspense_account_id
    )
    if refused is not None:
        raise ValidationFailed.field(f"{payer[0]}_id", refused)
    row.reason_code = row.reason_params = None
    row.resolved_at, row.resolved_by = func.now(), actor.name
    session.flush()
    audit.record(
        session, actor, "payment.match", "payment_notification", row.id,
        {"receipt_id": str(row.receipt_id), f"{payer[0]}_id": str(payer[1])},
    )  # fmt: skip
    return row


def refund(
    session: Session, actor: Actor, notification_id: uuid.UUID, reason: str
) -> PaymentNotification:
    """Mark a payment held in suspense to be refunded: a refund owed, with the reason."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.field("reason", NO_REFUND_REASON())
    row, channel = _in_suspense(session, notification_id)
    if row.journal_id is not None and row.amount is not None:
        row.refund_journal_id = ledger.post(
            session,
            actor,
            description=f"Payment {row.transaction_id} on {channel.code} to be refunded"[:200],
            effective_on=clock.today(clock.session_zone(session)),
            lines=[
                ledger.Line(channel.suspense_account_id, row.amount),
                ledger.Line(channel.refund_account_id, -row.amount),
            ],
            kind="payment",
            owner=ledger.Owner("payment", str(row.id)),
        )
    why = REFUND(reason=reason[:200])
    _stand(row, NotificationStatus.refunded, why)
    row.resolved_at, row.resolved_by = func.now(), actor.name
    session.flush()
    audit.record(
        session, actor, "payment.refund", "payment_notification", row.id, {"reason": reason[:200]}
    )
    return row


def _org(session: Session) -> uuid.UUID:
    from app.collections.payers import organisation

    return organisation(session)

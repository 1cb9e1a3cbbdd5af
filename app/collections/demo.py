"""Demo data: the demo collector's round, a week of its receipts, one collection sheet, one
hand-over.

Runs after the members/schemes demo step: it collects on the dues that step generated (and
does nothing if there are none).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.collections import cash, rounds, service, sheets
from app.collections.models import Collector
from app.collections.vocabulary import Channel
from app.core import clock
from app.core.audit import CLI_ACTOR
from app.core.money import format_minor
from app.identity.models import Organisation, User
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.schemes.models import Due

DEMO_COLLECTOR = "cobrador"


def week_of_collections(session: Session, org: Organisation) -> None:
    """Six days of single receipts and a seventh day's sheet by the demo collector, each
    paying its payer's oldest open due, then a hand-over of the week's cash with a shortfall."""
    collector = session.scalar(
        select(Collector)
        .join(
            User,
            (User.organisation_id == Collector.organisation_id) & (User.id == Collector.user_id),
        )
        .where(User.username == DEMO_COLLECTOR)
    )
    if collector is None:
        return
    oldest: dict[tuple[str, object], int] = {}
    for member_id, unit_id, outstanding in session.execute(
        select(Due.member_id, Due.unit_id, Due.amount - Due.paid)
        .where(Due.paid < Due.amount, Due.currency == org.currency)
        .order_by(Due.due_on, Due.period_start, Due.id)
        .limit(400)
    ):
        key = ("member", member_id) if member_id else ("unit", unit_id)
        oldest.setdefault(key, int(outstanding))
    payers = list(oldest.items())[:8]
    if not payers:
        return
    # the collector app's round (/collect/): the payers it collects from
    rounds.set_round(
        session,
        CLI_ACTOR,
        collector=collector,
        member_ids=[cast(uuid.UUID, pid) for kind, pid in oldest if kind == "member"][:40],
        unit_ids=[cast(uuid.UUID, pid) for kind, pid in oldest if kind == "unit"][:40],
    )
    # 08:00 on the organisation's clock (the demo's is America/Santo_Domingo)
    today = clock.now_local(org.time_zone).replace(hour=8, minute=0, second=0, microsecond=0)
    for day in range(6, 0, -1):  # six days of receipts, one a payer
        for n, ((kind, payer_id), amount) in enumerate(payers):
            draft = service.receipt_draft(
                service.ReceiptInput(
                    member_id=payer_id if kind == "member" else None,  # type: ignore[arg-type]
                    unit_id=payer_id if kind == "unit" else None,  # type: ignore[arg-type]
                    amount=format_minor(amount, org.currency),
                    currency=org.currency,
                    received_at=today - timedelta(days=day, minutes=-15 * n),
                    channel=Channel.cash,
                    reference=f"slip {7 - day}-{n + 1}",
                ),
                book_currency=org.currency,
                collector_id=collector.id,
            )
            service.post_receipt(session, CLI_ACTOR, draft)
    # the seventh day arrives as one collection sheet, captured offline
    at = (today - timedelta(hours=1)).isoformat()
    items = [
        {
            "client_id": f"demo-day7-{n + 1}",
            f"{kind}_id": str(payer_id),
            "amount": format_minor(amount, org.currency),
            "currency": org.currency,
            "received_at": at,
            "channel": Channel.cash.value,
        }
        for n, ((kind, payer_id), amount) in enumerate(payers)
    ]
    candidates = [
        sheets.validate_item(i, raw, collector.id, org.currency) for i, raw in enumerate(items)
    ]
    sheets.post_candidates(
        session,
        CLI_ACTOR,
        candidates,
        action="collection_sheet.post",
        details={"collector_id": str(collector.id), "collected_on": str(today.date())},
    )
    bank = ledger.ensure_account(
        session,
        CLI_ACTOR,
        code="BANK:DEMO",
        name="Banco de Reservas, cuenta corriente",
        type=AccountType.asset,
        currency=org.currency,
    )
    held = ledger.balance(session, collector.cash_account_id).signed
    cash.hand_over(
        session,
        CLI_ACTOR,
        cash.HandoverDraft(
            collector_id=collector.id,
            amount=held,
            counted_amount=max(0, held - 1000),  # counted 10.00 short: shown, never hidden
            currency=org.currency,
            to_account_id=bank.id,
            handed_over_at=datetime.now(UTC),
            reference="week's cash to the bank",
        ),
    )

"""HTTP endpoints of affiliations: /affiliations (included in the remittances router)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from app.core.deps import READERS, Caller, DbSession, Principal
from app.core.errors import ValidationFailed, problem_response
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.messages import MUST_BE_POSITIVE
from app.core.money import MoneyError, format_minor, parse_minor
from app.core.pagination import CursorParam, Limit
from app.core.roles import Role
from app.core.schemas import Page
from app.funds.adapters import csv_file, json_file
from app.remittances import affiliations as service
from app.remittances import commissions
from app.remittances.documents import stream_affiliation_file
from app.remittances.models import AffiliationBatch, AffiliationCommissionPayment, AffiliationLine
from app.remittances.schemas import (
    AffiliationAcknowledgementCreate,
    AffiliationCreate,
    AffiliationLineRead,
    AffiliationRead,
    AffiliationStatus,
    AffiliationSummaryRead,
    CommissionPaymentCreate,
    CommissionPaymentRead,
)
from app.remittances.service import FundUnreachable

router = APIRouter(tags=["affiliations"])

Viewer = Annotated[Principal, Depends(Caller(*READERS, Role.fund_office))]
Preparer = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Answerer = Annotated[Principal, Depends(Caller(Role.treasurer, Role.fund_office))]
Treasurer = Annotated[Principal, Depends(Caller(Role.treasurer))]
FORMATS = {
    "csv": (csv_file.render, csv_file.MEDIA_TYPE),
    "json": (json_file.render, json_file.MEDIA_TYPE),
}


def payment_read(payment: AffiliationCommissionPayment, currency: str) -> CommissionPaymentRead:
    return CommissionPaymentRead(
        amount=format_minor(payment.amount, currency),
        expected=format_minor(payment.expected, currency),
        difference=format_minor(payment.difference, currency),
        flagged=payment.difference != 0,
        paid_on=payment.paid_on,
        reference=payment.reference,
        account_id=payment.account_id,
        journal_id=payment.journal_id,
        recorded_at=payment.created_at,
    )


def summary_read(
    batch: AffiliationBatch,
    fund_code: str,
    currency: str,
    payment: AffiliationCommissionPayment | None,
) -> AffiliationSummaryRead:
    return AffiliationSummaryRead(
        id=batch.id,
        reference=batch.reference,
        fund_code=fund_code,
        status=batch.status,
        line_count=batch.line_count,
        accepted_count=batch.accepted_count,
        rejected_count=batch.rejected_count,
        commission_total=format_minor(batch.commission_total, currency),
        commission_payment=payment_read(payment, currency) if payment else None,
        created_at=batch.created_at,
        submitted_at=batch.submitted_at,
        acknowledged_at=batch.acknowledged_at,
        delivery=batch.delivery,
    )


def affiliation_read(session: DbSession, batch: AffiliationBatch) -> AffiliationRead:
    fund = service.fund_of(session, batch)
    lines = session.scalars(
        select(AffiliationLine)
        .where(AffiliationLine.batch_id == batch.id)
        .order_by(AffiliationLine.line_number)
    )
    payment = commissions.payments_of(session, [batch.id]).get(batch.id)
    return AffiliationRead(
        **summary_read(batch, fund.code, fund.currency, payment).model_dump(),
        lines=[
            AffiliationLineRead(
                line_number=ln.line_number,
                member_id=ln.member_id,
                status=ln.status,
                affiliation_number=ln.affiliation_number,
                reason=ln.reason,
                commission=format_minor(ln.commission, fund.currency)
                if ln.commission is not None
                else None,
            )
            for ln in lines
        ],
    )


@router.post("/affiliations", status_code=201, response_model=AffiliationRead)
def create_affiliations(
    body: AffiliationCreate,
    session: DbSession,
    who: Preparer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Members to register with a fund, sent through the fund's adapter like a remittance."""

    def operation() -> tuple[int, AffiliationRead]:
        batch = service.create_affiliation_batch(
            session, who.actor, fund_code=body.fund_code, member_ids=body.member_ids
        )
        return 201, affiliation_read(session, batch)

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/affiliations", body.model_dump(mode="json")),
        operation,
    )


@router.get("/affiliations", response_model=Page[AffiliationSummaryRead])
def list_affiliations(
    session: DbSession,
    who: Viewer,
    fund_code: Annotated[str | None, Query(max_length=32)] = None,
    status: AffiliationStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[AffiliationSummaryRead]:
    """Affiliation batches, newest first, without their lines (`GET /affiliations/{id}` has
    them). A fund office sees its own fund's only."""
    rows, nxt = service.affiliation_batches(
        session, who, fund_code=fund_code, status=status, limit=limit, cursor=cursor
    )
    payments = commissions.payments_of(session, [b.id for b, _ in rows])
    return Page(
        items=[summary_read(b, f.code, f.currency, payments.get(b.id)) for b, f in rows],
        next_cursor=nxt,
    )


@router.get("/affiliations/{batch_id}", response_model=AffiliationRead)
def get_affiliations(batch_id: uuid.UUID, session: DbSession, who: Viewer) -> AffiliationRead:
    return affiliation_read(session, service.affiliation_batch(session, who, batch_id))


@router.get("/affiliations/{batch_id}/file", response_class=StreamingResponse)
def affiliation_file(
    batch_id: uuid.UUID,
    request: Request,
    session: DbSession,
    who: Viewer,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
) -> StreamingResponse:
    """The members to register, as CSV (header, lines, trailer) or JSON."""
    batch = service.affiliation_batch(session, who, batch_id)
    render, media_type = FORMATS[format]
    session.commit()  # the download reads with its own session (see the remittance file)
    return StreamingResponse(
        stream_affiliation_file(
            request.app.state.session_factory, batch.organisation_id, batch.id, render
        ),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{batch.reference}.{format}"'},
    )


@router.post(
    "/affiliations/{batch_id}/submit",
    response_model=AffiliationRead,
    responses={
        409: {"description": "already submitted"},
        502: {"description": "the fund did not take it"},
    },
)
def submit_affiliations(
    batch_id: uuid.UUID, session: DbSession, who: Preparer, idempotency_key: IdempotencyKey = None
) -> Response:
    """Hand the batch to the fund's adapter; per-member answers it returns are applied."""

    def operation() -> tuple[int, AffiliationRead]:
        return 200, affiliation_read(
            session, service.submit_affiliations(session, who.actor, batch_id)
        )

    try:
        return run_idempotent(
            session,
            who,
            idempotency_key,
            fingerprint("POST", f"/affiliations/{batch_id}/submit", {}),
            operation,
        )
    except FundUnreachable as exc:
        return problem_response(
            exc.status, exc.to_problem(f"/api/v1/affiliations/{batch_id}/submit")
        )


@router.post("/affiliations/{batch_id}/acknowledgement", response_model=AffiliationRead)
def acknowledge_affiliations(
    batch_id: uuid.UUID,
    body: AffiliationAcknowledgementCreate,
    session: DbSession,
    who: Answerer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The fund's answer per member: accepted with its affiliation number (stored on the member;
    the fund's commission, if any, booked as income), or rejected with a reason."""
    decisions = [
        service.AffiliationDecision(ln.member_id, ln.status, ln.affiliation_number, ln.reason)
        for ln in body.lines
    ]

    def operation() -> tuple[int, AffiliationRead]:
        batch = service.acknowledge_affiliations(
            session, who.actor, batch_id, decisions, caller=who
        )
        return 200, affiliation_read(session, batch)

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint(
            "POST", f"/affiliations/{batch_id}/acknowledgement", body.model_dump(mode="json")
        ),
        operation,
    )


@router.post(
    "/affiliations/{batch_id}/commission-payment",
    response_model=AffiliationRead,
    responses={
        409: {
            "description": "not yet answered for every member, no commission booked, "
            "or already paid"
        }
    },
)
def record_commission_payment(
    batch_id: uuid.UUID,
    body: CommissionPaymentCreate,
    session: DbSession,
    who: Treasurer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The fund paid the batch's commissions: bank <- `FUND:{code}:COMMISSION_RECEIVABLE`,
    for the amount that arrived. Once per batch. A payment that differs from the commission
    booked is recorded and flagged (`commission_payment.flagged`), never absorbed: the
    difference stays in the receivable."""

    def operation() -> tuple[int, AffiliationRead]:
        batch = service.get_affiliation_batch(session, batch_id)
        currency = service.fund_of(session, batch).currency
        try:
            amount = parse_minor(body.amount, currency)
        except MoneyError as exc:
            raise ValidationFailed.field("amount", exc.message) from None
        if amount <= 0:
            raise ValidationFailed.field("amount", MUST_BE_POSITIVE())
        batch, _ = commissions.record_commission_payment(
            session,
            who.actor,
            batch_id,
            amount=amount,
            paid_on=body.paid_on,
            reference=body.reference,
            bank_account_id=body.bank_account_id,
        )
        return 200, affiliation_read(session, batch)

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint(
            "POST", f"/affiliations/{batch_id}/commission-payment", body.model_dump(mode="json")
        ),
        operation,
    )

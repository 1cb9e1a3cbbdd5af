"""Who may see and do what in collections: the one home of these rules.

A collector takes, sees and hands over its own receipts and cash only; a treasurer (and for
reading, an admin or auditor) acts for any collector and names the one it means. The API's
routers and the web pages pass the caller (`Principal`) to the service, which asks here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from app.collections import cash
from app.collections.messages import NO_HANDOVER, NO_RECEIPT
from app.collections.models import Collector, Handover, Receipt
from app.core.deps import Principal
from app.core.errors import Forbidden, NotFound, ValidationFailed
from app.core.messages import N_, Template
from app.core.roles import Role

OWN_RECEIPTS_ONLY = Template(
    "receipt.not_own_collector", N_("a collector posts and sees its own receipts only")
)
OWN_CASH_ONLY = Template(
    "handover.not_own_collector", N_("a collector hands over its own cash only")
)
OWN_IMPORTS_ONLY = Template(
    "receipt_import.not_own_collector", N_("a collector imports only its own receipts")
)


def own_collector(session: Session, who: Principal) -> Collector | None:
    """The collector the caller is, if it is one (opened now if it predates collections)."""
    if who.role is not Role.collector:
        return None
    return cash.collector_for(session, who.actor, who.subject_kind, who.subject_id)


def acting_collector(session: Session, who: Principal, named: uuid.UUID | None) -> uuid.UUID | None:
    """The collector a request is for: a collector is always itself (403 naming another); any
    other caller names one, or none."""
    if who.role is not Role.collector:
        return named
    own = cash.collector_id_for(session, who.actor, who.subject_kind, who.subject_id)
    if named is not None and named != own:
        raise Forbidden(OWN_RECEIPTS_ONLY())
    return own


SHEET_NEEDS_COLLECTOR = Template(
    "sheet.collector_missing", N_("name the collector whose sheet this is")
)


def sheet_collector(session: Session, who: Principal, named: uuid.UUID | None) -> uuid.UUID:
    """The collector whose day a collection sheet is: the caller if it is a collector (403
    naming another); any other caller names one (422 naming `collector_id`)."""
    collector_id = acting_collector(session, who, named)
    if collector_id is None:
        raise ValidationFailed.field("collector_id", SHEET_NEEDS_COLLECTOR())
    cash.get_collector(session, collector_id, field="collector_id")
    return collector_id


def visible_receipt(session: Session, who: Principal, receipt: Receipt) -> Receipt:
    """The receipt, if the caller may see it; else 404, as if it did not exist."""
    if who.role is Role.collector and receipt.collector_id != acting_collector(session, who, None):
        raise NotFound(NO_RECEIPT(id=receipt.id))
    return receipt


def handover_collector(session: Session, who: Principal, collector_id: uuid.UUID) -> uuid.UUID:
    """The collector whose cash a hand-over moves: a collector's own only (403)."""
    if who.role is Role.collector:
        own = cash.collector_for(session, who.actor, who.subject_kind, who.subject_id)
        if own.id != collector_id:
            raise Forbidden(OWN_CASH_ONLY())
    return collector_id


def handovers_seen(session: Session, who: Principal) -> list[Any]:
    """The criteria of the hand-overs the caller may see: a collector's own only."""
    own = own_collector(session, who)
    return [] if own is None else [Handover.collector_id == own.id]


def visible_handover(session: Session, who: Principal, handover: Handover) -> Handover:
    own = own_collector(session, who)
    if own is not None and handover.collector_id != own.id:
        raise NotFound(NO_HANDOVER(id=handover.id))
    return handover


def import_collectors(
    session: Session, who: Principal, named: uuid.UUID | None
) -> tuple[Collector | None, Collector | None]:
    """(the collector the caller is, which may import only its own rows; the collector of the
    rows that name none). A collector's rows are its own; a treasurer may name a default."""
    own = own_collector(session, who)
    if own is not None:
        return own, own
    if named is None:
        return None, None
    return None, cash.get_collector(session, named, field="collector_id")


def may_import_for(caller: Collector | None, collector: Collector | None) -> bool:
    """Whether a row of the caller's file may be this collector's receipt."""
    return caller is None or collector is None or collector.id == caller.id

"""Demo data: one remittance batch to one fund, sealed (after the other features' demo steps
have collected contributions)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import clock
from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation
from app.core.errors import Conflict
from app.funds.models import Fund
from app.identity.models import Organisation
from app.remittances import service


def seal_a_demo_batch(session: Session, organisation: Organisation) -> None:
    """Batch and seal what is owed today to the first fund that is owed anything; a demo
    without contributions gets no batch."""
    bind_organisation(session, organisation.id)
    for fund in session.scalars(select(Fund).order_by(Fund.code)).all():
        try:
            with session.begin_nested():
                batch = service.create_batch(
                    session,
                    CLI_ACTOR,
                    fund_code=fund.code,
                    through=clock.today(organisation.time_zone),
                )
                service.seal(session, CLI_ACTOR, batch.id)
            return
        except Conflict:
            continue

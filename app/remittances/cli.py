"""`coopledger remittances ...`: make, seal and list remittance batches from the command line
(the same service functions as the API, each command one unit of work)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select

from app.core.audit import CLI_ACTOR
from app.core.cli import OrgOpt, fail, session_factory
from app.core.database import bind_organisation, unit_of_work
from app.core.errors import DomainError

if TYPE_CHECKING:
    from app.remittances.models import RemittanceBatch

remittances_cli = typer.Typer(no_args_is_help=True, help="remittance batches to funds")


def _summary(batch: RemittanceBatch, fund_code: str) -> str:
    from app.core.money import format_minor

    return (
        f"{batch.reference}\t{fund_code}\t{batch.status}\t{batch.line_count} lines\t"
        f"{format_minor(batch.control_sum, batch.currency)} {batch.currency}"
    )


@remittances_cli.command("create")
def create(
    org: OrgOpt,
    fund: Annotated[str, typer.Option("--fund", help="fund code")],
    through: Annotated[str, typer.Option("--through", help="last period end, YYYY-MM-DD")],
    seal: Annotated[bool, typer.Option("--seal", help="seal it at once")] = False,
) -> None:
    """Gather what is owed to a fund through a date into a draft batch (and seal it)."""
    from app.identity.service import organisation_by_code
    from app.remittances import service

    try:
        cut_off = date.fromisoformat(through)
    except ValueError:
        fail(f"--through: {through!r} is not a date such as 2026-11-30")
        return
    try:
        with unit_of_work(session_factory()) as session:
            bind_organisation(session, organisation_by_code(session, org).id)
            batch = service.create_batch(session, CLI_ACTOR, fund_code=fund, through=cut_off)
            if seal:
                batch = service.seal(session, CLI_ACTOR, batch.id)
            typer.echo(_summary(batch, fund))
    except DomainError as exc:
        fail(exc.detail, 1)


@remittances_cli.command("list")
def list_batches(org: OrgOpt) -> None:
    """Every batch of the organisation, newest first."""
    from app.funds.models import Fund
    from app.identity.service import organisation_by_code
    from app.remittances.models import RemittanceBatch

    with unit_of_work(session_factory()) as session:
        bind_organisation(session, organisation_by_code(session, org).id)
        rows = session.execute(
            select(RemittanceBatch, Fund.code)
            .join(Fund, Fund.id == RemittanceBatch.fund_id)
            .order_by(RemittanceBatch.number.desc())
        ).all()
        for batch, code in rows:
            typer.echo(_summary(batch, code))


COMMANDS = [("remittances", remittances_cli)]

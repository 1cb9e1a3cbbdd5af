"""`coopledger payments ...`: ask the providers about pending payments (app/payments/polling.py).

`coopledger payments poll [--org CODE] [--channel CODE] [--reference ID ...]` asks, for each
channel whose adapter can ask its provider (mtn_momo), about every notification still pending
and about each `--reference` (a request to pay that may never have been called back), and
takes the answers as callbacks would be taken. One line per reference asked about:
`ORG  CHANNEL  REFERENCE  BEFORE -> AFTER` (`new` before: no notification had it;
`not found`: the provider does not know it; `error: ...`: it could not be asked), then a
summary per channel. Meant to run every few minutes (cron, a systemd timer).

Exit status: 0 when every provider was asked (whatever it answered); 1 when a provider could
not be asked about some reference (unreachable, refused the credentials, an answer that is not
MoMo's): the rest was still taken; 2 for a wrong command (an unknown organisation or channel,
a channel that cannot ask its provider, a reference that is not one, --reference without one
channel).

Each channel is asked outside any database transaction; its answers are then taken in one
transaction of its own, so a slow provider holds no lock and one channel's failure leaves the
others' answers taken.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.cli import fail, session_factory
from app.core.database import unit_of_work
from app.core.errors import DomainError

if TYPE_CHECKING:
    from app.payments.polling import PollReport

payments_cli = typer.Typer(no_args_is_help=True, help="payment channels")


@payments_cli.command("poll")
def poll(
    org: Annotated[
        str | None, typer.Option("--org", help="organisation code (default: every one)")
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="channel code (default: every pollable one)")
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            help="a provider's request reference to ask about too (MoMo: the X-Reference-Id "
            "of a request to pay); needs --org and --channel; may be repeated",
        ),
    ] = None,
) -> None:
    """Ask the providers what became of pending payments, and take their answers."""
    from app.identity.models import Organisation
    from app.payments.models import PaymentChannel

    extra = list(reference or [])
    if extra and (org is None or channel is None):
        fail("--reference needs --org and --channel")
    factory = session_factory()
    # which channels: (organisation id, organisation code, channel id), read unbound
    with unit_of_work(factory) as session:
        query = select(Organisation.id, Organisation.code, PaymentChannel.id).join(
            PaymentChannel, PaymentChannel.organisation_id == Organisation.id
        )
        if org is not None:
            if session.scalar(select(Organisation.id).where(Organisation.code == org)) is None:
                fail(f"--org: no organisation {org}")
            query = query.where(Organisation.code == org)
        if channel is not None:
            query = query.where(PaymentChannel.code == channel)
        targets = session.execute(query.order_by(Organisation.code, PaymentChannel.code)).all()
    if channel is not None and not targets:
        fail(f"--channel: no payment channel {channel}" + (f" in {org}" if org else ""))
    failures = 0
    asked_any = False
    for org_id, org_code, channel_id in targets:
        try:
            report = _poll_one(factory, org_id, channel_id, extra, explicit=channel is not None)
        except DomainError as exc:
            fail(exc.detail)
            return
        if report is None:
            continue
        asked_any = True
        for t in report.taken:
            typer.echo(
                f"{org_code}\t{report.channel}\t{t.reference}\t{t.before or 'new'} -> {t.after}"
            )
        for ref in report.not_found:
            typer.echo(f"{org_code}\t{report.channel}\t{ref}\tnot found")
        for ref, why in report.failed:
            typer.echo(f"{org_code}\t{report.channel}\t{ref}\terror: {why.english()}")
        failures += len(report.failed)
        changed = sum(1 for t in report.taken if t.changed)
        summary = (
            f"{org_code} {report.channel}: asked about {report.asked}, {changed} changed, "
            f"{len(report.not_found)} not found, {len(report.failed)} failed"
        )
        if report.unpollable:
            summary += f", {report.unpollable} pending that cannot be asked about"
        typer.echo(summary)
    if not asked_any:
        typer.echo("no channel can ask its provider")
    if failures:
        raise typer.Exit(1)


def _poll_one(
    factory: sessionmaker[Session],
    org_id: uuid.UUID,
    channel_id: uuid.UUID,
    extra: list[str],
    *,
    explicit: bool,
) -> PollReport | None:
    """One channel: its references read, its provider asked (no transaction open meanwhile),
    its answers taken in one transaction. None for a channel that cannot ask its provider
    (unless it was named: then the refusal)."""
    from app.payments import polling, registry
    from app.payments.models import PaymentChannel

    with unit_of_work(factory, org_id) as session:
        ch = session.scalar(select(PaymentChannel).where(PaymentChannel.id == channel_id))
        assert ch is not None
        if not explicit and not isinstance(registry.get(ch.adapter), polling.Pollable):
            return None
        refs, unpollable = polling.pending_references(session, ch, extra)
        session.expunge(ch)
    answers = polling.ask(ch, refs)
    with unit_of_work(factory, org_id) as session:
        ch = session.scalar(select(PaymentChannel).where(PaymentChannel.id == channel_id))
        assert ch is not None
        report = polling.take_answers(session, ch, answers)
    report.unpollable = unpollable
    return report


COMMANDS = [("payments", payments_cli)]

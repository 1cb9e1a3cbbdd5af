"""The report of a payment channel per day: what it received and where each payment stands.

A notification's day is the organisation's day (its time zone, app/core/clock.py) of the
provider's time (`occurred_at`), or of its arrival where the provider gave no time (a refused
request). Per day, as things stand now:
- `matched`, `suspense`, `refunded`: the notifications in each state (one per transaction),
  and `received` their sum: the money of the day that is in the books;
- `pending`: announced, not finished by the provider (nothing booked yet);
- `refused`: kept, nothing booked (failed at the provider, a bad signature, a bad amount);
- `duplicates`: the same transaction announced again with other figures (flagged, not booked);
- `from_statement`: booked notifications known only from the provider's statement (the
  callbacks that never came), part of `received`;
- `unreconciled`: what the books cannot settle yet against the provider: the pending
  transactions and the conflicting duplicates (count, and the amounts they announce).
Nothing of a statement is kept, so whether each booked notification is on the provider's
statement is what `POST /payment-channels/{code}/statements?dry_run=true` answers.

Amounts are in the channel's currency (a payment in another currency is counted, its amount
is not). One grouped query, whatever the number of notifications.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import Integer, case, cast, func, literal, select
from sqlalchemy.orm import Session

from app.core import clock, dialect
from app.core.errors import ValidationFailed
from app.core.messages import N_, Template
from app.core.money import format_minor
from app.core.schemas import Schema
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.vocabulary import NotificationStatus

MAX_DAYS = 366
DEFAULT_DAYS = 7

BAD_PERIOD = Template(
    "payment_report.bad_period", N_("the period must start on or before the day it ends")
)
LONG_PERIOD = Template("payment_report.long_period", N_("a report covers at most %(days)s days"))


@dataclass
class Figure:
    count: int = 0
    amount: int = 0

    def add(self, count: int, amount: int) -> None:
        self.count += count
        self.amount += amount


@dataclass
class ChannelDay:
    """One day's figures (or the period's, for the totals)."""

    day: date | None
    received: Figure = field(default_factory=Figure)
    matched: Figure = field(default_factory=Figure)
    suspense: Figure = field(default_factory=Figure)
    refunded: Figure = field(default_factory=Figure)
    pending: Figure = field(default_factory=Figure)
    refused: Figure = field(default_factory=Figure)
    duplicates: Figure = field(default_factory=Figure)
    from_statement: Figure = field(default_factory=Figure)
    unreconciled: Figure = field(default_factory=Figure)

    def take(self, status: str, source: str, count: int, amount: int) -> None:
        """Count `count` notifications of `status` (and `source`) announcing `amount`."""
        if status in (
            NotificationStatus.matched,
            NotificationStatus.suspense,
            NotificationStatus.refunded,
        ):
            getattr(self, status).add(count, amount)
            self.received.add(count, amount)
            if source == "statement":
                self.from_statement.add(count, amount)
        elif status == NotificationStatus.pending:
            self.pending.add(count, amount)
            self.unreconciled.add(count, amount)
        elif status == NotificationStatus.refused:
            self.refused.add(count, amount)
        elif status == NotificationStatus.duplicate:
            self.duplicates.add(count, amount)
            self.unreconciled.add(count, amount)


FIGURES = tuple(f.name for f in fields(ChannelDay) if f.name != "day")


@dataclass
class ChannelReport:
    channel: str
    currency: str
    time_zone: str
    starts_on: date
    ends_on: date
    days: list[ChannelDay]
    totals: ChannelDay


def period(from_on: date | None, to_on: date | None, today: date) -> tuple[date, date]:
    """The report's days: `to` defaults to today, `from` to the week ending on `to`; at most
    MAX_DAYS (422 naming `from`/`to` otherwise)."""
    end = to_on or (today if from_on is None else max(from_on, today))
    start = from_on or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed.field("from", BAD_PERIOD())
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed.field("to", LONG_PERIOD(days=MAX_DAYS))
    return start, end


def channel_report(
    session: Session, channel: PaymentChannel, from_on: date, to_on: date
) -> ChannelReport:
    """The channel's figures for each of the organisation's days `from_on`..`to_on` (every
    day listed, quiet ones with zeros) and their totals."""
    tz = clock.session_zone(session)
    N = PaymentNotification
    when = func.coalesce(N.occurred_at, N.received_at)
    in_currency = case((N.currency == channel.currency, func.coalesce(N.amount, 0)), else_=0)
    within = [
        N.channel_id == channel.id,
        when >= clock.day_start(from_on, tz),
        when < clock.day_start(to_on + timedelta(days=1), tz),
    ]
    days = {
        from_on + timedelta(days=i): ChannelDay(from_on + timedelta(days=i))
        for i in range((to_on - from_on).days + 1)
    }
    for on, status, source, count, amount in _grouped(session, when, in_currency, within, tz):
        if on in days:
            days[on].take(status, source, int(count), int(amount))
    totals = ChannelDay(None)
    for d in days.values():
        for name in FIGURES:
            figure = getattr(d, name)
            getattr(totals, name).add(figure.count, figure.amount)
    return ChannelReport(
        channel.code, channel.currency, tz, from_on, to_on, list(days.values()), totals
    )


def _grouped(
    session: Session, when: Any, amount: Any, within: list[Any], tz: str
) -> list[tuple[date, str, str, int, int]]:
    """(day, status, source, count, amount) for the notifications `within`, grouped in SQL."""
    N = PaymentNotification
    count, total = func.count(N.id), func.sum(amount)
    if dialect.is_postgres(session):
        day: Any = func.date(func.timezone(tz, when))
        return [
            (d, s, src, n, a)
            for d, s, src, n, a in session.execute(
                select(day, N.status, N.source, count, total)
                .where(*within)
                .group_by(day, N.status, N.source)
            )
        ]
    # SQLite keeps instants as UTC text and knows no time zones: group per UTC quarter hour in
    # SQL (every zone's offset and clock change falls on a quarter hour, so a quarter hour lies
    # within one local day), then give each quarter hour its local day (as the collections
    # report does, app/collections/reports.py).
    quarter = func.substr(when, 1, 14).op("||")(
        func.printf("%02d", cast(func.substr(when, 15, 2), Integer) / literal(15) * 15)
    )
    out: list[tuple[date, str, str, int, int]] = []
    for q, s, src, n, a in session.execute(
        select(quarter, N.status, N.source, count, total)
        .where(*within)
        .group_by(quarter, N.status, N.source)
    ):
        on = clock.local_date(datetime.fromisoformat(str(q)).replace(tzinfo=UTC), tz)
        out.append((on, s, src, n, a))
    return out


# -- the API's shape -------------------------------------------------------------------------


class FigureRead(Schema):
    count: int
    amount: str = Field(description="in the channel's currency")


class ChannelDayRead(Schema):
    day: date | None = Field(description="the organisation's day; none for the totals")
    received: FigureRead = Field(description="booked: matched + suspense + refunded")
    matched: FigureRead = Field(description="posted as receipts to their payers")
    suspense: FigureRead = Field(description="held in suspense, waiting for the treasurer")
    refunded: FigureRead = Field(description="marked to be refunded")
    pending: FigureRead = Field(description="not finished by the provider: nothing booked")
    refused: FigureRead = Field(description="nothing booked (failed, bad signature, bad amount)")
    duplicates: FigureRead = Field(description="the same transaction with other figures: flagged")
    from_statement: FigureRead = Field(
        description="booked from the provider's statement (the callback never came); in received"
    )
    unreconciled: FigureRead = Field(
        description="not settled against the provider yet: pending + conflicting duplicates"
    )


class ChannelReportRead(Schema):
    channel: str
    currency: str
    time_zone: str
    starts_on: date
    ends_on: date
    days: list[ChannelDayRead]
    totals: ChannelDayRead


def report_read(report: ChannelReport) -> ChannelReportRead:
    c = report.currency

    def day(d: ChannelDay) -> ChannelDayRead:
        return ChannelDayRead(
            day=d.day,
            **{
                name: FigureRead(
                    count=getattr(d, name).count, amount=format_minor(getattr(d, name).amount, c)
                )
                for name in FIGURES
            },
        )

    return ChannelReportRead(
        channel=report.channel,
        currency=c,
        time_zone=report.time_zone,
        starts_on=report.starts_on,
        ends_on=report.ends_on,
        days=[day(d) for d in report.days],
        totals=day(report.totals),
    )

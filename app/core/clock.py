"""The organisation's clock: its IANA time zone, its day and its "today".

Instants are stored in UTC and the API exchanges them with explicit offsets. A *day* (a
journal entry's `effective_on`, a report's day, dues' "today", a form's default date) is the
organisation's local day, in its `time_zone`. Every conversion between instants and days goes
through this module, so no caller can pick UTC by accident.

The request's zone rides on the session (`remember_zone`, called where the caller is
authenticated, from the organisation row that is read anyway), so the hot path (receipts)
pays no query for it; a session without it (CLI, jobs) reads it once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import String, Uuid, bindparam, text
from sqlalchemy.orm import Session

from app.core.database import bound_organisation
from app.core.messages import N_, Message, Template

DEFAULT_ZONE = "UTC"
"""The zone of an organisation created without a time zone or a country that has one zone."""

_ZONE_KEY = "time_zone"

Zone = str | tzinfo


UNKNOWN_ZONE = Template(
    "time_zone.unknown",
    N_("unknown time zone %(name)s: give an IANA name such as America/Santo_Domingo"),
)
SKIPPED_TIME = Template("time.skipped", N_("%(time)s does not exist in %(zone)s (clocks change)"))


class _Said(ValueError):
    """A refusal of the clock's; `message` says why (str() is its English)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.english())
        self.message = message


class UnknownTimeZone(_Said):
    """Not an IANA time zone name this machine knows."""


class NonexistentLocalTime(_Said):
    """A wall-clock time skipped by a clock change (a daylight-saving gap)."""


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA name zoneinfo can load here (system data, else the `tzdata` package)."""
    return frozenset(available_timezones())


def check_zone(name: str) -> str:
    """`name` if it is an IANA time zone name, else UnknownTimeZone saying what is expected."""
    if not isinstance(name, str) or name not in known_zones():
        raise UnknownTimeZone(UNKNOWN_ZONE(name=repr(str(name)[:60])))
    return name


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(check_zone(name))
    except UnknownTimeZone:
        raise
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(UNKNOWN_ZONE(name=repr(str(name)[:60]))) from None


def zone(tz: Zone) -> tzinfo:
    """The tzinfo of a zone name (cached: loading a zone reads a file) or of a tzinfo."""
    return tz if isinstance(tz, tzinfo) else _zone(tz)


# -- instants and days ---------------------------------------------------------------------------


def local_date(instant: datetime, tz: Zone) -> date:
    """The organisation's day on which `instant` (timezone-aware) falls."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: instants must carry a UTC offset")
    return instant.astimezone(zone(tz)).date()


def day_start(day: date, tz: Zone) -> datetime:
    """The first instant (in UTC) of the organisation's `day`. A midnight skipped by a clock
    change maps to the first instant that exists that day."""
    return datetime.combine(day, time(), tzinfo=zone(tz)).astimezone(UTC)


def day_bounds(day: date, tz: Zone) -> tuple[datetime, datetime]:
    """`[start, end)` in UTC of the organisation's `day` (23, 24 or 25 hours long)."""
    return day_start(day, tz), day_start(day + timedelta(days=1), tz)


def now_local(tz: Zone) -> datetime:
    """Now, on the organisation's wall clock (timezone-aware)."""
    return datetime.now(UTC).astimezone(zone(tz))


def today(tz: Zone) -> date:
    """The organisation's date now."""
    return now_local(tz).date()


def to_local(instant: datetime, tz: Zone) -> datetime:
    """`instant` on the organisation's wall clock (timezone-aware)."""
    return instant.astimezone(zone(tz))


def from_local(wall: datetime, tz: Zone) -> datetime:
    """The instant (UTC) that a naive wall-clock time means in the organisation's zone.

    A time that a clock change skips does not exist there: NonexistentLocalTime. A time
    that happens twice (clocks set back) is the first of the two.
    """
    if wall.tzinfo is not None:
        return wall.astimezone(UTC)
    z = zone(tz)
    aware = wall.replace(tzinfo=z, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(z).replace(tzinfo=None) != wall:
        raise NonexistentLocalTime(SKIPPED_TIME(time=f"{wall:%Y-%m-%d %H:%M}", zone=str(tz)))
    return instant


# -- the session's organisation ------------------------------------------------------------------


def remember_zone(session: Session, name: str) -> None:
    """Note the bound organisation's zone on the session (read with the caller's row)."""
    session.info[_ZONE_KEY] = name


_ORG_ZONE = (
    text("SELECT time_zone FROM organisation WHERE id = :id")
    .bindparams(
        bindparam("id", type_=Uuid()),
    )
    .columns(time_zone=String())
)


def session_zone(session: Session) -> str:
    """The time zone of the organisation the session is bound to: the one noted on the
    session, else read once (and noted). RuntimeError if the session is not bound."""
    name = session.info.get(_ZONE_KEY)
    if isinstance(name, str):
        return name
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("the organisation's day needs a session bound to an organisation")
    found = session.execute(_ORG_ZONE, {"id": org}).scalar_one()
    session.info[_ZONE_KEY] = found
    return str(found)


def session_today(session: Session) -> date:
    """Today in the bound organisation's zone."""
    return today(session_zone(session))

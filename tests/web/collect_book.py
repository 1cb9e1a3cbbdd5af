"""The collector app's browser tests: an organisation with a collector's round, and the app
driven by the accessible names of the public contract ("Collector app"; docs/collect.md).

`make_collect_org` makes, through the features' own services, a DOP organisation in
America/Santo_Domingo with the transport-daily schedule (schedules/transport-daily.yaml: a due
per unit per working day), units BUS-01..BUS-12 (each crewed by its owner), members S-001 and
S-002 who pay for themselves (a monthly scheme), their dues generated through the
organisation's today, a collector user and a treasurer API key; the round (BUS-01..BUS-08,
S-001, S-002) is set through `PUT /api/v1/collectors/{id}/round` with the treasurer's key.

`Collect` drives the app in one browser page in one language: the names it uses are the
English contract names, translated through the app's own /collect/i18n/{locale}.json.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from tests.conftest import TEST_SECRET
from tests.web.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
ZONE = "America/Santo_Domingo"
ROUND_UNITS = [f"BUS-{i:02d}" for i in range(1, 9)]
LATER_UNITS = ["BUS-09", "BUS-10"]  # added to the round mid-week
OFF_ROUND_UNITS = ["BUS-11", "BUS-12"]  # never in the round: typed, resolved by the server
MEMBERS = ["S-001", "S-002"]
COLLECTOR = "cobra"
TIMEOUT = 15_000

MONTHLY = """
code: monthly-dop
name: Vendedores, mensual
kind: monthly
currency: DOP
versions:
  - effective_from: 2026-01-01
    amount: "300.00"
    due_day: 10
    grace_days: 30
    split:
      - {fund: PENSION, percent: "80"}
      - {fund: HEALTH, percent: "20"}
"""


@dataclass
class CollectOrg:
    id: uuid.UUID
    code: str
    name: str
    base_url: str
    treasurer_key: str
    collector_user_id: uuid.UUID
    collector_id: uuid.UUID
    today: date  # the organisation's day when the book was made
    units: dict[str, uuid.UUID] = field(default_factory=dict)
    members: dict[str, uuid.UUID] = field(default_factory=dict)
    username: str = COLLECTOR
    password: str = PASSWORD
    currency: str = "DOP"

    # -- the API, as the treasurer -------------------------------------------------------------

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.treasurer_key}", **kw.pop("headers", {})}
        return httpx.request(
            method, f"{self.base_url}/api/v1{path}", headers=headers, timeout=30, **kw
        )

    def set_round(self, units: list[str], members: list[str]) -> None:
        r = self.api(
            "PUT",
            f"/collectors/{self.collector_id}/round",
            json={
                "unit_ids": [str(self.units[u]) for u in units],
                "member_ids": [str(self.members[m]) for m in members],
            },
        )
        assert r.status_code in (200, 204), (r.status_code, r.text)

    def payer_id(self, reference: str) -> uuid.UUID:
        return self.units.get(reference) or self.members[reference]

    def expired_token(self) -> str:
        """A genuine access token of the collector's, signed with the server's key, that
        expired a minute ago."""
        from app.core.security import issue_access_token

        return issue_access_token(
            TEST_SECRET,
            user_id=self.collector_user_id,
            organisation_id=self.id,
            role="collector",
            minutes=-1,
        )

    def cash_balance(self) -> str:
        r = self.api("GET", "/collectors")
        assert r.status_code == 200, r.text
        (row,) = [c for c in r.json()["items"] if c["id"] == str(self.collector_id)]
        return str(row["cash_balance"])

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """An instant on the organisation's day `day`, in its zone."""
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE))


def _today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


def make_collect_org(session_factory: Any, base_url: str, code: str = "AMUSSOL") -> CollectOrg:
    from app.collections.models import Collector
    from app.funds.schemas import FundCreate
    from app.funds.service import create_fund
    from app.identity.service import create_api_key, create_organisation, create_user
    from app.members.schemas import CrewMember, MemberCreate, UnitCreate
    from app.members.service import create_member
    from app.members.units import create_unit
    from app.schemes.enrolments import create_enrolment
    from app.schemes.generation import generate_dues
    from app.schemes.schemas import EnrolmentCreate
    from app.schemes.service import load_schedule

    schedule = (ROOT / "schedules" / "transport-daily.yaml").read_text()
    today = _today()
    with unit_of_work(session_factory) as s:
        org = create_organisation(
            s, code=code, name=f"Cooperativa {code}", currency="DOP", time_zone=ZONE
        )
        bind_organisation(s, org.id)
        treasurer = create_api_key(s, CLI_ACTOR, name="treasurer key", role="treasurer").secret
        user = create_user(
            s, CLI_ACTOR, username=COLLECTOR, password=PASSWORD, role="collector", locale="en"
        )
        s.flush()
        collector_id = s.scalar(sa.select(Collector.id).where(Collector.user_id == user.id))
        assert collector_id is not None
        for fund in ("PENSION", "HEALTH", "ACCIDENT"):
            create_fund(
                s,
                CLI_ACTOR,
                FundCreate(
                    code=fund, name=f"{fund} fund", kind="other", currency="DOP", adapter="csv"
                ),
            )
        load_schedule(s, CLI_ACTOR, schedule, "transport-daily.yaml")
        load_schedule(s, CLI_ACTOR, MONTHLY, "monthly-dop.yaml")
        handle = CollectOrg(
            id=org.id,
            code=org.code,
            name=org.name,
            base_url=base_url,
            treasurer_key=treasurer,
            collector_user_id=user.id,
            collector_id=collector_id,
            today=today,
        )
        for i, reg in enumerate(ROUND_UNITS + LATER_UNITS + OFF_ROUND_UNITS, start=1):
            owner = create_member(
                s,
                CLI_ACTOR,
                MemberCreate(
                    member_number=f"C-{i:03d}",
                    full_name=f"Chofer {i}",
                    joined_on=date(2026, 1, 5),
                ),
            )
            unit = create_unit(
                s,
                CLI_ACTOR,
                UnitCreate(
                    registration=reg,
                    kind="minibus",
                    owner_member_id=owner.id,
                    crew=[CrewMember(member_id=owner.id, role="owner")],
                ),
            )
            handle.units[reg] = unit.id
            create_enrolment(
                s,
                CLI_ACTOR,
                EnrolmentCreate(
                    unit_id=unit.id,
                    scheme_code="transport-daily",
                    starts_on=today - timedelta(days=13),
                ),
            )
        month = today.replace(day=1)
        two_months_ago = (month - timedelta(days=32)).replace(day=1)
        for number, name in zip(MEMBERS, ("María Pérez", "Juan Rodríguez"), strict=True):
            m = create_member(
                s,
                CLI_ACTOR,
                MemberCreate(member_number=number, full_name=name, joined_on=date(2026, 1, 5)),
            )
            handle.members[number] = m.id
            create_enrolment(
                s,
                CLI_ACTOR,
                EnrolmentCreate(
                    member_id=m.id, scheme_code="monthly-dop", starts_on=two_months_ago
                ),
            )
        generate_dues(s, CLI_ACTOR, today)
    handle.set_round(ROUND_UNITS, MEMBERS)
    return handle


# -- the server's books ---------------------------------------------------------------------------


def server_receipts(session_factory: Any, org: CollectOrg) -> list[Any]:
    """Every receipt of the organisation, by number."""
    from app.collections.models import Receipt

    with session_factory() as session:
        bind_organisation(session, org.id)
        rows = session.scalars(
            sa.select(Receipt)
            .where(Receipt.organisation_id == org.id)
            .order_by(Receipt.receipt_number)
        ).all()
        session.expunge_all()
        return list(rows)


def dues_paid(session_factory: Any, org: CollectOrg) -> dict[uuid.UUID, list[tuple[int, int]]]:
    """payer id -> [(amount, paid)] of its dues, oldest first."""
    from app.schemes.models import Due

    out: dict[uuid.UUID, list[tuple[int, int]]] = defaultdict(list)
    with session_factory() as session:
        bind_organisation(session, org.id)
        rows = session.execute(
            sa.select(Due.member_id, Due.unit_id, Due.amount, Due.paid)
            .where(Due.organisation_id == org.id)
            .order_by(Due.due_on, Due.period_start, Due.id)
        )
        for member_id, unit_id, amount, paid in rows:
            out[unit_id or member_id].append((int(amount), int(paid)))
    return out


def expected_paid(dues: list[tuple[int, int]], money: int) -> list[int]:
    """What `money` paid to a payer (that had nothing paid before) fills: oldest due first."""
    out = []
    for amount, _ in dues:
        take = min(amount, money)
        money -= take
        out.append(take)
    return out


def books_verify(session_factory: Any, org: CollectOrg) -> None:
    """`coopledger verify --org`: the ledger's invariants hold."""
    from app.core import verify

    with session_factory() as session:
        bind_organisation(session, org.id)
        assert verify.run(session, org.id) == []


def minor(amount: str) -> int:
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


# -- the app in a page -------------------------------------------------------------------------


class Lang:
    """The app's own words in one language: /collect/i18n/{locale}.json."""

    def __init__(self, base_url: str, locale: str) -> None:
        self.locale = locale
        self.ui: dict[str, str] = {}
        self.codes: dict[str, str] = {}
        if locale == "en":  # the English texts are the keys themselves
            return
        r = httpx.get(f"{base_url}/collect/i18n/{locale}.json", timeout=10)
        assert r.status_code == 200, (locale, r.status_code)
        body = r.json()
        assert body["locale"] == locale
        self.ui = body["ui"]
        self.codes = body.get("codes", {})

    def t(self, english: str, **params: Any) -> str:
        text = self.ui.get(english, english) if self.locale != "en" else english
        if self.locale != "en":
            assert english in self.ui, (
                f"{english!r} has no {self.locale} text in the app's catalogue"
            )
        return text % params if params else text

    def code(self, code: str, params: dict[str, Any]) -> str:
        template = self.codes[code]
        return template % {k: v for k, v in params.items()} if params else template


def waiting_re(lang: Lang, n: int | None = None) -> re.Pattern[str]:
    """The status line's "N waiting" in the language (any N when n is None)."""
    if n == 1:
        return re.compile(rf"(?<!\d){re.escape(lang.t('1 waiting'))}")
    template = re.escape(lang.t("%(n)s waiting")).replace(re.escape("%(n)s"), "%(n)s")
    number = r"\d+" if n is None else str(n)
    return re.compile(r"(?<!\d)" + template.replace("%(n)s", number))


class Collect:
    """One collector's phone: a page of the app in one language."""

    def __init__(self, page: Any, org: CollectOrg, lang: Lang) -> None:
        self.page = page
        self.org = org
        self.lang = lang
        self.t = lang.t

    # sign-in and the screens' landmarks

    def open(self) -> None:
        self.page.goto("/collect/")

    def sign_in(self, *, fill_organisation: bool = True) -> None:
        p, t = self.page, self.t
        if fill_organisation:
            p.get_by_label(t("Organisation"), exact=True).fill(self.org.code)
            p.get_by_label(t("Username"), exact=True).fill(self.org.username)
        p.get_by_label(t("Password"), exact=True).fill(self.org.password)
        p.get_by_role("button", name=t("Sign in"), exact=True).click()
        self.sync_button().wait_for()

    def sync_button(self) -> Any:
        return self.page.get_by_role("button", name=self.t("Sync now"), exact=True)

    def expect_waiting(self, n: int, timeout: int = TIMEOUT) -> None:
        from playwright.sync_api import expect

        expect(self.status_line()).to_have_text(waiting_re(self.lang, n), timeout=timeout)

    def status_line(self) -> Any:
        """The status line (role=status) that counts what waits."""
        return self.page.get_by_role("status").filter(has_text=waiting_re(self.lang))

    def number_text(self, number: int) -> re.Pattern[str]:
        """An item's "No. 123" (the receipt number), in the language."""
        return re.compile(re.escape(self.t("No. %(number)s", number=number)) + r"(?!\d)")

    def record_button(self, reference: str) -> Any:
        name = re.compile(
            rf"{re.escape(self.t('Record'))}.*(?<![\w-]){re.escape(reference)}(?![\w-])"
        )
        return self.page.get_by_role("button", name=name)

    def wait_round(self, references: list[str]) -> None:
        for ref in references:
            self.record_button(ref).wait_for()

    def payer_field(self) -> Any:
        return self.page.get_by_label(self.t("Member number or plate"), exact=True)

    def amount_field(self) -> Any:
        return self.page.get_by_label(self.t("Amount"), exact=True)

    def save(self) -> None:
        self.page.get_by_role("button", name=self.t("Save"), exact=True).click()

    def record(
        self,
        reference: str,
        amount: str | None,
        *,
        typed: bool = False,
        channel: str | None = None,
        note: str | None = None,
    ) -> None:
        """Record a receipt: two taps from the round (Record, Save), or the payer typed."""
        p = self.page
        if typed:
            self.payer_field().fill(reference)
        else:
            self.record_button(reference).click()
        if amount is not None:
            self.amount_field().fill(amount)
        if channel is not None:
            p.get_by_label(self.t("Channel"), exact=True).select_option(channel)
        if note is not None:
            p.get_by_label(self.t("Reference"), exact=True).fill(note)
        self.save()

    # the receipts list

    def items(self) -> Any:
        """The receipts list's items (newest first)."""
        heading = self.page.get_by_role("heading", name=self.t("Receipts"), exact=True)
        section = self.page.locator("section, [role=region]").filter(has=heading)
        return section.get_by_role("listitem")

    def item(self, *texts: str | re.Pattern[str]) -> Any:
        loc = self.items()
        for text in texts:
            loc = loc.filter(has_text=text)
        return loc

    def sync(self) -> None:
        self.sync_button().click()


def open_contexts(browser: Any, base_url: str) -> Iterator[Callable[..., Any]]:
    """For a fixture: new(locale=..., width=...) -> a fresh browser context on the live server,
    closed at the end; service workers allowed (the app is offline-first)."""
    made: list[Any] = []

    def new(locale: str = "en-GB", width: int = 412, height: int = 860, **kw: Any) -> Any:
        ctx = browser.new_context(
            base_url=base_url,
            locale=locale,
            viewport={"width": width, "height": height},
            service_workers="allow",
            **kw,
        )
        ctx.set_default_timeout(TIMEOUT)
        made.append(ctx)
        return ctx

    yield new
    for ctx in made:
        ctx.close()


def until(page: Any, condition: Callable[[], bool], what: str, seconds: float = 15) -> None:
    """Wait for `condition`, letting Playwright dispatch its events (route handlers, responses)
    meanwhile."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        page.wait_for_timeout(50)


def wait_service_worker(page: Any) -> None:
    """The app's service worker is active (its install, which caches the shell, is done)."""
    assert page.evaluate("() => navigator.serviceWorker.ready.then(r => !!r.active)"), (
        "no active service worker"
    )

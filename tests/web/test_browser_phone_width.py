"""Every page of /web on a 360 px phone, in English, French and Spanish (issue 11).

The pages are the app's own GET routes under /web (read from its router, so a new page is
walked without editing this test), each opened with real ids from the demo book
(`coopledger demo`'s data, plus an affiliation batch). On each page, in a real Chromium:
- the page does not scroll sideways (document scrollWidth <= clientWidth);
- nothing is cut: no element that hides or scrolls its overflow (a table's wrapper, a cell,
  an ellipsis) has content wider than itself, and nothing sticks out past the screen's edge;
- a figure (an amount, a phone number, a date in digits, a count) stays on one line.
Screenshots of a few French pages go to docs/screenshots/ with COOPLEDGER_SCREENSHOTS=1.
One browser, one context per language and role; the walk takes ~20 s per database.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from tests.web.conftest import PASSWORD, shoot

WIDTH = 360
LANGUAGES = {"en": "en-GB", "fr": "fr-FR", "es": "es-DO"}
# pictures for docs/screenshots/ (French, 360 px)
SHOTS = {
    "/web/": "phone-fr-dashboard",
    "/web/remittances/{batch_id}": "phone-fr-remittance-batch",
    "/web/members/{member_id}": "phone-fr-member",
    "/web/receipts": "phone-fr-receipts",
}

UPLOAD = (
    b"client_id;unit_registration;amount;received_at;channel;reference\n"
    b"c-1;AM-9999;300.00;2026-11-21;cash;\n"
    b"c-2;A123456;12.345;yesterday;cheque;" + b"r" * 130 + b"\n"
    b"c-3;A123456;1500.00;2026-11-21T10:00:00-04:00;mobile_money;TX-2026-11-21-000123\n"
)

# What is wrong with the page in front of the browser, as a list of sentences.
MEASURE = r"""
(WIDTH) => {
  const problems = [];
  const doc = document.documentElement;
  const width = WIDTH;
  if (doc.scrollWidth > width) problems.push(`the page scrolls sideways: ${doc.scrollWidth} > ${width}`);
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (el.classList.length) s += '.' + [...el.classList].join('.');
    const testid = el.closest('[data-testid]');
    if (testid) s += ` in [data-testid=${testid.dataset.testid}]`;
    return s + ` "${(el.innerText || '').trim().replace(/\s+/g, ' ').slice(0, 50)}"`;
  };
  const hidden = (el) => el.closest('.sr-only, .skip, [hidden], details:not([open]) > :not(summary)');
  const skip = ['SELECT', 'INPUT', 'TEXTAREA', 'OPTION', 'SCRIPT'];
  const reported = new Set();
  for (const el of document.body.getElementsByTagName('*')) {
    const r = el.getBoundingClientRect();
    const overflows = el.scrollWidth > el.clientWidth + 1;
    const past = r.width > 0 && (r.right > width + 1 || r.left < -1);
    if (!overflows && !past) continue;
    if (r.width <= 1 && r.height <= 1) continue;  // visually hidden, for screen readers
    if (hidden(el) || el.closest('svg') || skip.includes(el.tagName) || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    // content hidden by its box: overflow hidden or clip, or an ellipsis
    const clips = style.overflowX === 'hidden' || style.overflowX === 'clip';
    if (overflows && (clips || style.textOverflow === 'ellipsis')) {
      problems.push(`cut (${el.scrollWidth} px shown in ${el.clientWidth}): ${name(el)}`);
    }
    // past the screen's edge, unless inside a box that scrolls sideways itself (a table's
    // wrapper: allowed, as long as the page does not scroll and nothing in it is cut)
    if (past) {
      let up = el.parentElement, inside = false;
      for (; up && up !== document.body; up = up.parentElement) {
        const o = getComputedStyle(up).overflowX;
        if (o === 'auto' || o === 'scroll' || reported.has(up)) { inside = true; break; }
      }
      if (!inside) {
        reported.add(el);
        problems.push(`past the screen's edge (${Math.round(r.left)}..${Math.round(r.right)}): ${name(el)}`);
      }
    }
  }
  // figures: a text that is all an amount, a phone number, a date in digits, stays on a line
  const FIGURE = /^(?:[A-Z]{3}[\s\u00a0]?|RD\$[\s\u00a0]?)?[-+\u2212]?[\d(][\d\s.,'\u00a0\u202f()\-\/:]*\d(?:[\s\u00a0]?(?:[A-Z]{3}|%))?$/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    if (text.length < 5 || !/[\s\u00a0\u202f]/.test(text) || !FIGURE.test(text)) continue;
    const el = node.parentElement;
    if (!el || hidden(el) || skip.includes(el.tagName)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    if (tops.size > 1) problems.push(`a figure wraps over ${tops.size} lines: ${name(el)}`);
  }
  return problems;
}
"""


def _ids(session_factory: Any) -> tuple[uuid.UUID, dict[str, str]]:
    """The demo book, with an affiliation batch and users who walk it; real ids by name."""
    from app.demo import DEMO_CODE, seed_demo
    from app.identity.models import Organisation
    from app.identity.service import create_user
    from app.members.models import Member, MemberAffiliation, TransportUnit
    from app.remittances.affiliations import create_affiliation_batch

    with unit_of_work(session_factory) as s:
        assert seed_demo(s) is not None
        org_id = s.scalar(sa.select(Organisation.id).where(Organisation.code == DEMO_CODE))
    assert org_id is not None
    with unit_of_work(session_factory) as s:
        bind_organisation(s, org_id)
        for lang in LANGUAGES:
            for role in ("treasurer", "admin"):
                create_user(
                    s, CLI_ACTOR, username=f"{role}-{lang}", password=PASSWORD, role=role,
                    locale=lang,
                )  # fmt: skip

        def one(sql: str) -> str:
            value = s.execute(sa.text(sql)).scalar()
            assert value is not None, f"the demo has nothing for: {sql}"
            return str(value)

        fund = one("SELECT code FROM fund ORDER BY code")
        affiliated = sa.select(MemberAffiliation.member_id)
        waiting = list(
            s.scalars(
                sa.select(Member.id).where(Member.id.not_in(affiliated)).order_by(Member.id)
            ).all()
        )[:3]
        if not waiting:  # every member is affiliated somewhere: take any two
            waiting = list(s.scalars(sa.select(Member.id).limit(2)).all())
        batch = create_affiliation_batch(s, CLI_ACTOR, fund_code=fund, member_ids=waiting)
        # the member with the longest name and a phone number, and a unit with a crew
        member = s.scalar(
            sa.select(Member.id)
            .where(Member.phone.is_not(None))
            .order_by(sa.func.length(Member.full_name).desc(), Member.id)
        )
        unit = s.scalar(sa.select(TransportUnit.id).order_by(TransportUnit.id))
        payment = _payments(s, one("SELECT member_number FROM member ORDER BY member_number"))
        ids = {
            "member_id": str(member),
            "unit_id": str(unit),
            "receipt_id": one("SELECT id FROM receipt ORDER BY received_at DESC"),
            "handover_id": one("SELECT id FROM handover"),
            "collector_id": one("SELECT id FROM collector ORDER BY name"),
            "remittance_batch": one("SELECT id FROM remittance_batch"),
            "affiliation_batch": str(batch.id),
            "code": fund,
            "channel_code": PAYMENT_CHANNEL,
            "notification_id": payment,
            "account_id": one(
                "SELECT a.id FROM account a JOIN posting p ON p.account_id = a.id "
                "GROUP BY a.id ORDER BY count(*) DESC"
            ),
        }
    return org_id, ids


PAYMENT_CHANNEL = "MPESA-TILL-0042"


def _payments(s: Any, member_number: str) -> str:
    """A mobile-money channel with a payment matched to a member, one in suspense (a long
    reference and a phone number) and one refused; the id of the one in suspense."""
    from datetime import UTC, datetime

    from app.payments import registry, service

    channel, _ = service.create_channel(
        s, CLI_ACTOR, code=PAYMENT_CHANNEL, adapter="generic_json", currency="DOP", config={},
        secret_key="phone-width",
    )  # fmt: skip
    held = None
    for txid, reference, status in (
        ("SKL2026112000042A", member_number, "successful"),
        ("SKL2026112000043B", "NO-SUCH-MEMBER-OR-PLATE-2026", "successful"),
        ("SKL2026112000044C", member_number, "failed"),
    ):
        said = registry.ProviderPayment(
            transaction_id=txid, amount="1250.50", currency="DOP", account_reference=reference,
            msisdn="+1 809-555-0199", occurred_at=datetime(2026, 11, 20, 13, 15, tzinfo=UTC),
            status=status,
        )  # fmt: skip
        raw = f'{{"transaction_id": "{txid}", "account_reference": "{reference}"}}'.encode()
        outcome = service.take_payment(
            s, CLI_ACTOR, channel, said, raw, {"content-type": "application/json"}
        )
        if outcome.status == "suspense":
            held = outcome.notification_id
    assert held is not None
    return held


def _pages(app: Any, ids: dict[str, str]) -> list[tuple[str, str]]:
    """(route template, URL) for every GET page under /web."""
    from fastapi.routing import iter_route_contexts

    out = []
    for c in iter_route_contexts(app.routes):
        if not c.methods or "GET" not in c.methods or not c.path.startswith("/web"):
            continue
        values = dict(ids)
        values["batch_id"] = ids[
            "affiliation_batch" if c.path.startswith("/web/affiliations") else "remittance_batch"
        ]
        if c.path.startswith("/web/payment-channels"):
            values["code"] = ids["channel_code"]
        params = re.findall(r"\{(\w+)\}", c.path)
        unknown = [p for p in params if p not in values]
        assert not unknown, f"{c.path}: give the walk a real id for {unknown} in _ids()"
        url = c.path
        for param in params:
            url = url.replace("{" + param + "}", values[param])
        out.append((c.path, url))
    return sorted(set(out))


def _sign_in(page: Any, username: str) -> None:
    page.goto("/web/sign-in")
    page.locator("#f-organisation").fill("DEMO")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("main button.primary").click()
    assert "/web/sign-in" not in page.url, f"{username} could not sign in"


def test_every_page_fits_a_phone_in_three_languages(
    app, browser, live_server, session_factory, monkeypatch, tmp_path, backend
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # the demo writes data/demo-credentials.txt here
    _, ids = _ids(session_factory)
    pages = _pages(app, ids)
    downloads = [(t, u) for t, u in pages if t.endswith("/file")]
    pages = [(t, u) for t, u in pages if not t.endswith("/file") and t != "/web/sign-in"]
    assert len(pages) >= 25
    snap = backend == "sqlite"
    problems: list[str] = []
    walked = 0
    for lang, browser_locale in LANGUAGES.items():
        contexts = {}
        for role in ("treasurer", "admin"):
            context = browser.new_context(
                base_url=live_server,
                locale=browser_locale,
                viewport={"width": WIDTH, "height": 740},
                # not is_mobile: a phone's browser zooms out to fit a page that is too wide,
                # which would hide the very overflow measured here
                has_touch=True,
                device_scale_factor=1,
            )
            context.set_default_timeout(15_000)
            contexts[role] = context
        try:
            treasurer = contexts["treasurer"].new_page()
            admin = contexts["admin"].new_page()
            # before signing in: the sign-in page, in the browser's language
            treasurer.goto("/web/sign-in")
            assert treasurer.evaluate("document.documentElement.lang") == lang
            problems += [f"{lang} /web/sign-in: {p}" for p in treasurer.evaluate(MEASURE, WIDTH)]
            _sign_in(treasurer, f"treasurer-{lang}")
            _sign_in(admin, f"admin-{lang}")
            for template, url in pages:
                page = treasurer
                response = page.goto(url)
                assert response is not None
                if response.status == 403:  # an admin's page: the admin walks it
                    page = admin
                    response = page.goto(url)
                    assert response is not None
                assert response.status == 200, f"{lang} {url}: {response.status}"
                assert page.evaluate("document.documentElement.lang") == lang, url
                problems += [f"{lang} {template}: {p}" for p in page.evaluate(MEASURE, WIDTH)]
                walked += 1
                if snap and lang == "fr" and template in SHOTS:
                    # the top of long pages: the facts and the first rows of the table
                    shoot(
                        page,
                        SHOTS[template],
                        full_page=template in ("/web/", "/web/members/{member_id}"),
                    )
            # a page that is not found is a page too
            missing = treasurer.goto(f"/web/members/{uuid.uuid4()}")
            assert missing is not None and missing.status == 404
            problems += [f"{lang} 404: {p}" for p in treasurer.evaluate(MEASURE, WIDTH)]
            # an upload's results: a table of rows with what is wrong, in the language
            treasurer.goto("/web/uploads/receipts")
            treasurer.locator("#f-file").set_input_files(
                files=[{"name": "sheet.csv", "mimeType": "text/csv", "buffer": UPLOAD}]
            )
            with treasurer.expect_navigation():
                treasurer.locator("main form button.primary").click()
            assert treasurer.get_by_test_id("upload-rows").is_visible()
            problems += [f"{lang} upload results: {p}" for p in treasurer.evaluate(MEASURE, WIDTH)]
            if snap and lang == "fr":
                treasurer.get_by_test_id("upload-rows").scroll_into_view_if_needed()
                shoot(treasurer, "phone-fr-upload-results", full_page=False)
            # downloads are files, not pages: they are left out of the walk on purpose
            for template, url in downloads:
                r = contexts["treasurer"].request.get(live_server + url)
                assert r.status == 200 and "text/html" not in r.headers["content-type"], template
        finally:
            for context in contexts.values():
                context.close()
    assert walked == 3 * len(pages)
    assert not problems, f"{len(problems)} problems at {WIDTH} px:\n" + "\n".join(problems)

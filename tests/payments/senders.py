"""The provider's side of the payment tests over real HTTP, and the check run after each.

- `Provider`: sends a channel's notifications to the served app over loopback (httpx), as
  the provider would: `generic_json` bodies signed with the channel's secret
  (`X-Signature`), Daraja's C2B bodies to `{inbound_url}/validation|confirmation`.
- `payment` / `daraja`: the bodies.
- `open_channel`, `upload_statement`, `api`: the organisation's side, through the API.
- `payments_consistent(engine)`: what must hold after every test that moves money (issue
  14, "Reliability and speed"): `coopledger verify` clean; every notification in exactly one
  status, with what that status implies (a matched one its receipt, a held one its reason,
  a refused one nothing booked); one live notification per channel and transaction id; each
  matched one exactly one posted receipt (`client_id` = `{channel}:{transaction id}`, or
  none when matched again after that receipt was reversed; its amount, channel
  `mobile_money`) and no posted receipt of a channel without its notification; and per
  channel the suspense account's balance equal to the amounts held in suspense that were
  booked, the refunds account's to those to be refunded. Read with plain SQL over every
  organisation, so it judges the service's own checks (app/payments/checks.py) too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from app.core import verify
from app.core.database import make_session_factory
from app.payments.adapters.generic_json import signature

STATUSES = ("pending", "matched", "suspense", "refunded", "refused", "duplicate")
LIVE = ("pending", "matched", "suspense", "refunded")
WHEN = "2026-11-20T09:15:00-04:00"


def payment(
    txid: str,
    reference: str | None,
    amount: str = "150.00",
    *,
    currency: str = "DOP",
    msisdn: str | None = None,
    status: str | None = None,
    occurred_at: str = WHEN,
) -> dict[str, Any]:
    """A generic_json notification body."""
    body: dict[str, Any] = {
        "transaction_id": txid,
        "amount": amount,
        "currency": currency,
        "account_reference": reference,
        "occurred_at": occurred_at,
    }
    if msisdn is not None:
        body["msisdn"] = msisdn
    if status is not None:
        body["status"] = status
    return body


def daraja(
    trans_id: str,
    reference: str | None,
    amount: object = "150.00",
    *,
    shortcode: str = "600984",
    msisdn: str = "2547*****149",
    when: str = "20261120091500",
) -> dict[str, Any]:
    """A C2B body as Daraja sends it (the payer's number masked, as since 2021)."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": when,
        "TransAmount": amount,
        "BusinessShortCode": shortcode,
        "BillRefNumber": reference,
        "InvoiceNumber": "",
        "OrgAccountBalance": "49197.00",
        "ThirdPartyTransID": "",
        "MSISDN": msisdn,
        "FirstName": "John",
        "MiddleName": "",
        "LastName": "",
    }


@dataclass
class Provider:
    """A provider calling one channel's inbound URL (the one the channel's creation gave)."""

    inbound_url: str
    secret: str
    timeout: float = 60.0
    client: httpx.Client | None = None

    @classmethod
    def of(cls, channel: dict[str, Any], base_url: str | None = None) -> Provider:
        url = channel["inbound_url"]
        if base_url is not None:  # the channel was made at another address (a restarted server)
            url = base_url + url[url.index("/api/v1/") :]
        return cls(url, channel.get("secret", ""))

    def at(self, base_url: str) -> Provider:
        return Provider.of({"inbound_url": self.inbound_url, "secret": self.secret}, base_url)

    def _post(self, url: str, raw: bytes, headers: dict[str, str], client: httpx.Client | None):
        c = client or self.client
        if c is not None:
            return c.post(url, content=raw, headers=headers, timeout=self.timeout)
        return httpx.post(url, content=raw, headers=headers, timeout=self.timeout)

    def send(
        self,
        body: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        sign: bool = True,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """A generic_json notification, signed with the channel's secret (or `secret`)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "provider-test/1"}
        if sign:
            headers["X-Signature"] = signature(secret or self.secret, raw)
        return self._post(self.inbound_url, raw, headers, client)

    def daraja(
        self, step: str, body: dict[str, Any], *, client: httpx.Client | None = None
    ) -> httpx.Response:
        """Daraja's call to `{inbound_url}/{step}` (validation or confirmation)."""
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Apache-HttpClient/4.5.5"}
        return self._post(f"{self.inbound_url}/{step}", raw, headers, client)


def api(base_url: str, org: Any, role: str = "treasurer") -> httpx.Client:
    """An API client of the organisation's `role` on the served app."""
    return httpx.Client(base_url=f"{base_url}/api/v1", headers=org.headers(role), timeout=60)


def open_channel(
    base_url: str,
    org: Any,
    code: str,
    adapter: str = "generic_json",
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A channel opened by the organisation's admin over HTTP: its inbound URL and secret."""
    with api(base_url, org, "admin") as c:
        r = c.post(
            "/payment-channels",
            json={
                "code": code,
                "adapter": adapter,
                "currency": org.currency,
                "config": config or {},
            },
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


def upload_statement(
    base_url: str, org: Any, code: str, csv_text: str, **params: str
) -> httpx.Response:
    """The provider's statement CSV sent by the treasurer (multipart `file`)."""
    with api(base_url, org) as c:
        return c.post(
            f"/payment-channels/{code}/statements",
            params=params,
            files={"file": ("statement.csv", csv_text.encode("utf-8"), "text/csv")},
        )


# -- the check after every test -----------------------------------------------------------------


@dataclass
class Standing:
    """What `payments_consistent` found: per status the count, the live notification and the
    receipt of each (channel code, transaction id)."""

    statuses: Counter[str] = field(default_factory=Counter)
    live: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    receipts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def payments_consistent(engine: sa.Engine) -> Standing:
    """Assert the invariants of payments (see the module's doc) over every organisation."""
    problems: list[str] = []
    out = Standing()
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT n.id, c.code, n.channel_id, n.transaction_id, n.amount, n.currency, "
                    "n.status, n.provider_status, n.reason_code, n.receipt_id, n.journal_id, "
                    "n.refund_journal_id, c.currency AS book_currency "
                    "FROM payment_notification n JOIN payment_channel c "
                    "ON c.organisation_id = n.organisation_id AND c.id = n.channel_id"
                )
            )
        ]
        receipts = {
            str(r.id): dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT id, client_id, reference, amount, currency, channel, status, "
                    "member_id, unit_id FROM receipt WHERE channel = 'mobile_money'"
                )
            )
        }
        channels = conn.execute(
            sa.text("SELECT id, code, suspense_account_id, refund_account_id FROM payment_channel")
        ).all()
        balances = {
            str(a): -int(b)
            for a, b in conn.execute(
                sa.text(
                    "SELECT account_id, coalesce(sum(amount), 0) FROM posting GROUP BY account_id"
                )
            )
        }
        total = conn.execute(sa.text("SELECT count(*) FROM payment_notification")).scalar_one()
    assert len(rows) == total, "a notification without its channel"
    # a reversed receipt keeps its client id; the payment, matched again, gets a receipt without
    reversed_ids = {r["client_id"] for r in receipts.values() if r["status"] != "posted"}
    held: Counter[str] = Counter()
    owed: Counter[str] = Counter()
    used_receipts: Counter[str] = Counter()
    for n in rows:
        s, tag = n["status"], f"{n['code']}:{n['transaction_id']} ({n['status']})"
        out.statuses[s] += 1
        if s not in STATUSES:
            problems.append(f"{tag}: no known status")
            continue
        booked, receipt = n["journal_id"] is not None, n["receipt_id"]
        if s != "matched" and receipt is not None:
            problems.append(f"{tag}: a receipt without being matched")
        if s in ("refused", "duplicate", "pending") and (booked or n["refund_journal_id"]):
            problems.append(f"{tag}: booked although {s}")
        if s in ("suspense", "refused", "duplicate", "refunded") and not n["reason_code"]:
            problems.append(f"{tag}: no reason")
        if s in ("matched", "suspense") and n["refund_journal_id"] is not None:
            problems.append(f"{tag}: a refund entry")
        if s == "refunded" and booked and n["refund_journal_id"] is None:
            problems.append(f"{tag}: held, marked refunded, but never moved to refunds")
        if s == "suspense" and booked:
            held[str(n["channel_id"])] += n["amount"]
        if s == "refunded" and n["refund_journal_id"] is not None:
            owed[str(n["channel_id"])] += n["amount"]
        if s in LIVE:
            key = (n["code"], n["transaction_id"])
            if key in out.live:
                problems.append(f"{tag}: a second live notification of {key}")
            out.live[key] = n
        if s == "matched":
            used_receipts[str(receipt)] += 1
            r = receipts.get(str(receipt))
            if r is None:
                problems.append(f"{tag}: its receipt {receipt} is not a mobile-money receipt")
                continue
            client_id = f"{n['code']}:{n['transaction_id']}"
            if r["client_id"] is None and client_id in reversed_ids:
                client_id = None  # matched again after its first receipt was reversed
            want = (client_id, n["transaction_id"], n["amount"])
            if (r["client_id"], r["reference"], r["amount"]) != want or r["status"] != "posted":
                problems.append(f"{tag}: its receipt says {r}")
            out.receipts[(n["code"], n["transaction_id"])] = r
    for rid, uses in used_receipts.items():
        if uses > 1:
            problems.append(f"receipt {rid} is the receipt of {uses} notifications")
    codes = {str(c.code) for c in channels}
    for rid, r in receipts.items():
        code = (r["client_id"] or "").split(":", 1)[0]
        if code in codes and rid not in used_receipts and r["status"] == "posted":
            problems.append(f"receipt {rid} ({r['client_id']}) belongs to no notification")
    for c in channels:
        in_suspense = balances.get(str(c.suspense_account_id), 0)
        to_refund = balances.get(str(c.refund_account_id), 0)
        if in_suspense != held[str(c.id)]:
            problems.append(
                f"channel {c.code}: suspense account {in_suspense}, held {held[str(c.id)]}"
            )
        if to_refund != owed[str(c.id)]:
            problems.append(
                f"channel {c.code}: refunds account {to_refund}, owed {owed[str(c.id)]}"
            )
    with make_session_factory(engine)() as session:
        breaches = [f"{b.invariant}: {b.detail}" for b in verify.run(session)]
    assert problems + breaches == [], "\n".join(problems + breaches)
    return out

"""`generic_json`: a JSON webhook signed with HMAC-SHA256 (API.md, "Payment channels").

Body: `{transaction_id, amount, currency, account_reference, msisdn?, occurred_at,
status?: successful|failed}`; header `X-Signature: sha256=<hex HMAC-SHA256 of the raw body
with the channel's secret>`. Answers `{notification_id, status, receipt_id?}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from app.core.messages import N_, Template
from app.payments.registry import Inbound, Outcome, ProviderPayment, Reading

NOT_JSON = Template("payment.body_not_json", N_("the body is not a JSON object"))
BAD_FIELDS = Template(
    "payment.body_fields", N_("the body does not have the expected fields: %(fields)s")
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    transaction_id: str = Field(min_length=1, max_length=64)
    amount: str | int | Decimal = Field(union_mode="left_to_right")
    currency: str = Field(min_length=3, max_length=3)
    account_reference: str | None = Field(default=None, max_length=64)
    msisdn: str | None = Field(default=None, max_length=32)
    occurred_at: AwareDatetime
    status: str = Field(default="successful", pattern="^(successful|failed|pending|reversed)$")


def signature(secret: str, body: bytes) -> str:
    """The `X-Signature` header value a sender puts on `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GenericJsonAdapter:
    name = "generic_json"
    headers_kept = ("x-signature", "content-type", "user-agent")

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return dict(config)

    def authenticate(self, inbound: Inbound, secret: str, config: dict[str, Any]) -> bool:
        given = inbound.headers.get("x-signature", "")
        return hmac.compare_digest(given.encode(), signature(secret, inbound.body).encode())

    def read(self, inbound: Inbound, config: dict[str, Any]) -> Reading:
        try:
            raw = json.loads(inbound.body, parse_float=Decimal)
        except ValueError:
            return Reading(unreadable=NOT_JSON())
        if not isinstance(raw, dict):
            return Reading(unreadable=NOT_JSON())
        try:
            body = _Body.model_validate(raw)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            return Reading(unreadable=BAD_FIELDS(fields=", ".join(fields)))
        amount = str(body.amount)
        return Reading(
            payments=[
                ProviderPayment(
                    transaction_id=body.transaction_id,
                    amount=amount,
                    currency=body.currency.upper(),
                    account_reference=body.account_reference,
                    msisdn=body.msisdn,
                    occurred_at=body.occurred_at,
                    status=body.status,
                )
            ]
        )

    def answer(self, inbound: Inbound, outcomes: list[Outcome]) -> tuple[int, Any]:
        if not outcomes or outcomes[0].status == "invalid":
            reason = outcomes[0].reason if outcomes else "unreadable"
            return 422, {"status": "invalid", "reason": reason}
        o = outcomes[0]
        body: dict[str, Any] = {"notification_id": o.notification_id, "status": o.status}
        if o.receipt_id:
            body["receipt_id"] = o.receipt_id
        if o.reason:
            body["reason"] = o.reason
        return 200, body

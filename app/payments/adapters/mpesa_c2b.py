"""`mpesa_c2b`: Safaricom's Daraja C2B (paybill and till payments in Kenya).

Daraja calls two URLs registered for the shortcode (the channel's inbound URL with a step):
`{inbound_url}/validation` before the money moves (only if Safaricom enabled external
validation for the shortcode) and `{inbound_url}/confirmation` once it has moved. Both carry
the same JSON body: `TransactionType`, `TransID`, `TransTime` (`YYYYMMDDHHmmss`, Kenya time),
`TransAmount` (`"100.00"` or `100`), `BusinessShortCode`, `BillRefNumber` (what the payer typed
as the account number), `InvoiceNumber`, `OrgAccountBalance`, `ThirdPartyTransID`, `MSISDN`,
`FirstName`, `MiddleName`, `LastName`.

The answer is `{"ResultCode": 0, "ResultDesc": "Accepted"}`. A validation is refused with
Daraja's `C2B00012` (invalid account number) when the channel's `refuse_unknown_reference` is
set and the reference names no payer (and the phone no member); the payer's M-Pesa then
cancels the payment. A confirmation is answered `0` once it is kept, whatever became of it
(matched, suspense, a conflicting duplicate): the money has moved, and a non-zero answer
would not move it back. A request that is not Daraja's (not JSON, fields missing, another
shortcode) is answered 400 with `C2B00016` (other error) and kept as refused.

Daraja signs nothing. The credential is the channel's unguessable inbound URL (256 random
bits, given to Safaricom when the URLs are registered), plus, optionally, the networks
Safaricom calls from (`allowed_networks`, CIDRs, checked against the caller's address: behind
a reverse proxy, run uvicorn with --proxy-headers and --forwarded-allow-ips so that address is
the real caller's). A caller outside them is answered 401 and kept as refused.

Times: `TransTime` is the wall-clock time in Nairobi (EAT, UTC+3 all year), turned into the
UTC instant it names. Amounts are Kenyan shillings. Since 2021 Daraja masks or hashes the
payer's number in C2B callbacks (`2547*****149`): such a number is kept in the raw body but
not used to find the payer (its digits would match the wrong phone).
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.core import clock
from app.core.errors import ValidationFailed
from app.core.messages import N_, Template
from app.funds.adapters._config import UNKNOWN_KEYS
from app.payments.adapters.generic_json import BAD_FIELDS, NOT_JSON
from app.payments.registry import Inbound, Outcome, ProviderPayment, Reading

ZONE = "Africa/Nairobi"  # Daraja's TransTime is Kenya's wall clock
CURRENCY = "KES"
STEPS = ("validation", "confirmation")

ACCEPTED = 0
INVALID_ACCOUNT = "C2B00012"  # Daraja's "Invalid Account Number": the payment is cancelled
OTHER_ERROR = "C2B00016"  # Daraja's "Other Error"

BAD_SHORTCODE = Template(
    "payment_channel.bad_shortcode",
    N_("shortcode must be the paybill or till number: 5 to 10 digits"),
)
BAD_NETWORKS = Template(
    "payment_channel.bad_networks",
    N_(
        "allowed_networks must be a list of networks such as 196.201.214.0/24; %(network)s is not one"
    ),
)
BAD_FLAG = Template("payment_channel.bad_flag", N_("%(key)s must be true or false"))
OTHER_SHORTCODE = Template(
    "payment.other_shortcode",
    N_("this notification is for shortcode %(given)s, not the channel's %(shortcode)s"),
)
UNKNOWN_STEP = Template(
    "payment.unknown_step", N_("the provider calls %(steps)s here, not %(step)s")
)

_SHORTCODE = re.compile(r"^\d{5,10}$")
_TRANS_TIME = re.compile(r"^\d{14}$")
_PHONE = re.compile(r"^\+?\d{7,15}$")

KEYS = ("shortcode", "allowed_networks", "refuse_unknown_reference")


# -- settings shared with the other adapters that authenticate by network -------------------------


def refuse_unknown_keys(config: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """ValidationFailed naming `config.<key>` for the first key the adapter does not take."""
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValidationFailed.field(
            f"config.{unknown[0]}",
            UNKNOWN_KEYS(keys=", ".join(unknown), allowed=", ".join(allowed)),
        )


def check_flag(config: dict[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise ValidationFailed.field(f"config.{key}", BAD_FLAG(key=key))
    return value


def check_networks(config: dict[str, Any], key: str = "allowed_networks") -> list[str]:
    """The networks as canonical CIDR text (`196.201.214.200` -> `196.201.214.200/32`)."""
    value = config.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationFailed.field(f"config.{key}", BAD_NETWORKS(network=repr(value)[:60]))
    out = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError(item)
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValidationFailed.field(
                f"config.{key}", BAD_NETWORKS(network=repr(item)[:60])
            ) from None
    return out


def caller_allowed(inbound: Inbound, networks: list[str]) -> bool:
    """Whether the caller's address is in one of the networks (any caller if there are none;
    no caller address at all is outside every network)."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address((inbound.remote_addr or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if address.version == network.version and address in network:
            return True
    return False


def plain_phone(value: str | None) -> str | None:
    """The number if it is a plain phone number; None for a masked or hashed one."""
    said = (value or "").replace(" ", "").replace("-", "")
    return said if _PHONE.match(said) else None


# -- the adapter ------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

    TransactionType: str | None = Field(default=None, max_length=40)
    TransID: str = Field(default="", max_length=64)
    TransTime: str = Field(default="", max_length=14)
    TransAmount: str | int | Decimal = Field(union_mode="left_to_right")
    BusinessShortCode: str = Field(min_length=1, max_length=10)
    BillRefNumber: str | None = Field(default=None, max_length=64)
    MSISDN: str | None = Field(default=None, max_length=80)

    @field_validator("TransTime")
    @classmethod
    def _trans_time(cls, v: str) -> str:
        if v and not _TRANS_TIME.match(v):
            raise ValueError("TransTime is YYYYMMDDHHmmss")
        return v


def trans_time(text: str) -> datetime:
    """The instant a Daraja TransTime names: Nairobi's wall clock (ValueError if it is not a
    time)."""
    wall = datetime.strptime(text, "%Y%m%d%H%M%S")  # noqa: DTZ007 (a wall clock, made an instant below)
    return clock.from_local(wall, ZONE)


class MpesaC2bAdapter:
    name = "mpesa_c2b"
    headers_kept = ("content-type", "user-agent", "x-forwarded-for")

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_keys(config, KEYS)
        shortcode = config.get("shortcode")
        if isinstance(shortcode, int) and not isinstance(shortcode, bool):
            shortcode = str(shortcode)
        if not isinstance(shortcode, str) or not _SHORTCODE.match(shortcode.strip()):
            raise ValidationFailed.field("config.shortcode", BAD_SHORTCODE())
        return {
            "shortcode": shortcode.strip(),
            "allowed_networks": check_networks(config),
            "refuse_unknown_reference": check_flag(config, "refuse_unknown_reference"),
        }

    def authenticate(self, inbound: Inbound, secret: str, config: dict[str, Any]) -> bool:
        # the unguessable inbound URL found the channel; the network is the only other proof
        return caller_allowed(inbound, list(config.get("allowed_networks") or []))

    def read(self, inbound: Inbound, config: dict[str, Any]) -> Reading:
        if inbound.step not in STEPS:
            return Reading(
                unreadable=UNKNOWN_STEP(
                    steps=" or ".join(f"/{s}" for s in STEPS), step=repr(inbound.step or "/")
                )
            )
        try:
            raw = json.loads(inbound.body, parse_float=Decimal)
        except ValueError:
            return Reading(unreadable=NOT_JSON())
        if not isinstance(raw, dict):
            return Reading(unreadable=NOT_JSON())
        validation = inbound.step == "validation"
        try:
            body = _Body.model_validate(raw)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            return Reading(unreadable=BAD_FIELDS(fields=", ".join(fields)))
        missing = [f for f in ("TransID", "TransTime") if not getattr(body, f)]
        if missing and not validation:  # a validation may come before M-Pesa numbered it
            return Reading(unreadable=BAD_FIELDS(fields=", ".join(missing)))
        shortcode = str(config.get("shortcode", ""))
        if body.BusinessShortCode != shortcode:
            return Reading(
                unreadable=OTHER_SHORTCODE(given=body.BusinessShortCode[:10], shortcode=shortcode)
            )
        try:
            occurred_at = trans_time(body.TransTime) if body.TransTime else clock.now_local("UTC")
        except ValueError:  # a date that does not exist (20261332...)
            return Reading(unreadable=BAD_FIELDS(fields="TransTime"))
        payment = ProviderPayment(
            transaction_id=body.TransID,
            amount=str(body.TransAmount),
            currency=CURRENCY,
            account_reference=body.BillRefNumber or None,
            msisdn=plain_phone(body.MSISDN),
            occurred_at=occurred_at,
            status="successful",  # Daraja confirms only what has moved
        )
        return Reading(payments=[payment], validation_only=validation)

    def answer(self, inbound: Inbound, outcomes: list[Outcome]) -> tuple[int, Any]:
        if not outcomes or outcomes[0].status == "invalid":
            return 400, {"ResultCode": OTHER_ERROR, "ResultDesc": "Rejected"}
        if inbound.step == "validation":
            if all(o.accepted for o in outcomes):
                return 200, {"ResultCode": ACCEPTED, "ResultDesc": "Accepted"}
            return 200, {"ResultCode": INVALID_ACCOUNT, "ResultDesc": "Rejected"}
        # confirmation: kept (matched, suspense, duplicate, even refused): the money has moved
        return 200, {"ResultCode": ACCEPTED, "ResultDesc": "Accepted"}

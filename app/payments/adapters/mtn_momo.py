"""`mtn_momo`: MTN Mobile Money's Collection API (request to pay).

A request to pay is made by an app (`POST /collection/v1_0/requesttopay` with an
`X-Reference-Id` UUID, the *referenceId*, and `X-Callback-Url`: the channel's inbound URL).
When the payer approves or declines it, MTN sends the result once, by POST or PUT, to the
callback URL, never again, with the body of the status call:
`{financialTransactionId, externalId, amount, currency, payer: {partyIdType, partyId},
payerMessage, payeeNote, status: SUCCESSFUL|FAILED|PENDING, reason?}`. The referenceId is not
in it; it is read, when present, from the callback URL's query (`?referenceId=<uuid>`), an
`X-Reference-Id` header (a relay in front of coopledger may add it) or a `referenceId` field.

- The account reference is `externalId` (the member number or plate the app put there); the
  payer's phone is `payer.partyId` when `partyIdType` is MSISDN.
- Status: SUCCESSFUL -> successful; FAILED (and REJECTED, TIMEOUT, EXPIRED) -> failed, nothing
  booked; PENDING (and CREATED, ONGOING) -> pending, nothing booked until it is finished.
- The transaction id is `financialTransactionId` once there is one (MTN gives it to a
  successful transaction; it is the id on the payer's SMS and in MTN's statements, so
  reconciliation finds it); before that (pending, failed) the referenceId, the only id a
  request has from its start and the one the status call takes. A pending notification keyed
  by its referenceId is re-keyed to the financialTransactionId when a poll finds it finished
  (app/payments/polling.py), so the same transaction is never kept twice.
- Times: a MoMo result carries no time; a notification's time is when coopledger first heard
  of it (UTC).

Because callbacks are never retried, pending transactions are polled (`coopledger payments
poll`): `GET {base_url}/collection/v1_0/requesttopay/{referenceId}` with a bearer token from
`POST {base_url}/collection/token/` (Basic api_user:api_key), `X-Target-Environment` and
`Ocp-Apim-Subscription-Key`. The base URL is the operator's to choose and the server makes the
request, so it goes through app.funds.outbound (no private or loopback address unless the
operator allows the host in COOPLEDGER_ADAPTER_ALLOWED_HOSTS; the checked address is the one
connected to; no redirects), with timeouts and bounded answers.

Authentication: MoMo signs nothing. The credential is the channel's unguessable inbound URL
(256 random bits), optionally narrowed to the networks MTN calls from (`allowed_networks`,
as for mpesa_c2b). With `confirm_by_poll: true` a callback is not taken at its word at all:
whatever status it says, it is kept as pending (keyed by its referenceId, which it must then
carry) and booked only when MTN's own status call, made with the channel's credentials,
confirms it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core import clock
from app.core.errors import ValidationFailed
from app.core.messages import N_, Message, Template
from app.funds import outbound
from app.funds.adapters._config import BAD_NUMBER, BAD_TEXT
from app.payments.adapters.generic_json import BAD_FIELDS, NOT_JSON
from app.payments.adapters.mpesa_c2b import (
    UNKNOWN_STEP,
    caller_allowed,
    check_flag,
    check_networks,
    plain_phone,
    refuse_unknown_keys,
)
from app.payments.polling import PollAnswer
from app.payments.registry import Inbound, Outcome, ProviderPayment, Reading

KEYS = (
    "base_url",
    "api_user",
    "api_key",
    "subscription_key",
    "target_environment",
    "timeout_seconds",
    "allowed_networks",
    "confirm_by_poll",
    "refuse_unknown_reference",  # every channel takes it; MoMo never asks before the money moves
)
STATUS = {
    "SUCCESSFUL": "successful",
    "FAILED": "failed",
    "REJECTED": "failed",
    "TIMEOUT": "failed",
    "EXPIRED": "failed",
    "PENDING": "pending",
    "CREATED": "pending",
    "ONGOING": "pending",
}
ANSWER_BYTES = 65_536  # a status answer is a few hundred bytes: a longer one is not read
POLL_SECONDS = 120.0  # one poll run asks no more after this long

BAD_ENVIRONMENT = Template(
    "payment_channel.bad_environment",
    N_("target_environment must be sandbox or the name MTN gives the market, such as mtnuganda"),
)
NO_TRANSACTION = Template(
    "payment.no_transaction",
    N_("the notification names no transaction: no financialTransactionId and no referenceId"),
)
NOT_CONFIRMABLE = Template(
    "payment.not_confirmable",
    N_("the channel confirms every callback with the provider, and this one has no referenceId"),
)
POLL_REFUSED = Template(
    "payment.poll_refused", N_("the provider answered the %(call)s call with HTTP %(status)s")
)
POLL_UNREACHED = Template(
    "payment.poll_unreached", N_("the provider's %(call)s call failed: %(error)s")
)

_ENVIRONMENT = re.compile(r"^[a-z][a-z0-9]{2,39}$")
_CREDENTIAL = re.compile(r"^[A-Za-z0-9._~+/=-]{1,200}$")


class _Payer(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    partyIdType: str | None = Field(default=None, max_length=20)
    partyId: str | None = Field(default=None, max_length=80)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

    financialTransactionId: str | None = Field(default=None, max_length=64)
    externalId: str | None = Field(default=None, max_length=64)
    amount: str = Field(min_length=1, max_length=40)
    currency: str = Field(min_length=3, max_length=3)
    payer: _Payer | None = None
    status: str = Field(max_length=20)
    referenceId: str | None = Field(default=None, max_length=64)


def reference_id(text: str | None) -> str | None:
    """The referenceId in its canonical spelling if `text` is a UUID; else None."""
    try:
        return str(uuid.UUID((text or "").strip()))
    except ValueError:
        return None


def payment_of(
    raw: Any, reference: str | None, *, confirm_by_poll: bool = False
) -> ProviderPayment | Message:
    """The payment a MoMo result body announces (a callback's or the status call's), or why
    it is not one. `reference` is the referenceId when the caller knows it."""
    if not isinstance(raw, dict):
        return NOT_JSON()
    try:
        body = _Body.model_validate(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return BAD_FIELDS(fields=", ".join(fields))
    status = STATUS.get(body.status.upper())
    if status is None:
        return BAD_FIELDS(fields="status")
    if body.referenceId and reference is None:
        reference = reference_id(body.referenceId)
        if reference is None:
            return BAD_FIELDS(fields="referenceId")
    if confirm_by_poll:
        if reference is None:
            return NOT_CONFIRMABLE()
        status = "pending"  # the status call, not the callback, says how it ended
    financial = body.financialTransactionId or None
    if financial is not None and status != "pending":
        transaction = financial
    elif reference is not None:
        transaction = reference
    elif financial is not None:
        transaction = financial
    else:
        return NO_TRANSACTION()
    msisdn = None
    if body.payer is not None and (body.payer.partyIdType or "").upper() == "MSISDN":
        msisdn = plain_phone(body.payer.partyId)
    return ProviderPayment(
        transaction_id=transaction,
        amount=body.amount,
        currency=body.currency.upper(),
        account_reference=body.externalId or None,
        msisdn=msisdn,
        occurred_at=clock.now_local("UTC"),
        status=status,
    )


@dataclass(frozen=True, slots=True)
class _Credentials:
    base_url: str
    api_user: str
    api_key: str
    subscription_key: str
    target_environment: str
    timeout: float


class _Refused(Exception):
    def __init__(self, message: Message) -> None:
        super().__init__(message.english())
        self.message = message


class MtnMomoAdapter:
    name = "mtn_momo"
    headers_kept = ("content-type", "user-agent", "x-reference-id", "x-forwarded-for")

    # -- the channel's settings ---------------------------------------------------------------

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return self._checked(config, addresses=True)

    def _checked(self, config: dict[str, Any], *, addresses: bool) -> dict[str, Any]:
        refuse_unknown_keys(config, KEYS)
        out: dict[str, Any] = {}
        url = config.get("base_url")
        if not isinstance(url, str) or not url.strip() or len(url) > 500:
            raise ValidationFailed.field("config.base_url", BAD_TEXT(key="base_url", count=500))
        url = url.strip().rstrip("/")
        try:
            out["base_url"] = outbound.check_url(url, "base_url") if addresses else url
        except outbound.UnsafeAddress as exc:
            raise ValidationFailed.field("config.base_url", exc.message) from None
        for key in ("api_user", "api_key", "subscription_key"):
            value = config.get(key)
            if not isinstance(value, str) or not _CREDENTIAL.match(value.strip()):
                raise ValidationFailed.field(f"config.{key}", BAD_TEXT(key=key, count=200))
            out[key] = value.strip()
        environment = config.get("target_environment", "sandbox")
        if not isinstance(environment, str) or not _ENVIRONMENT.match(environment):
            raise ValidationFailed.field("config.target_environment", BAD_ENVIRONMENT())
        out["target_environment"] = environment
        seconds = config.get("timeout_seconds", 10)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0.1 <= seconds <= 60
        ):
            raise ValidationFailed.field(
                "config.timeout_seconds", BAD_NUMBER(key="timeout_seconds", low=0.1, high=60)
            )
        out["timeout_seconds"] = float(seconds)
        out["allowed_networks"] = check_networks(config)
        out["confirm_by_poll"] = check_flag(config, "confirm_by_poll")
        out["refuse_unknown_reference"] = check_flag(config, "refuse_unknown_reference")
        return out

    # -- callbacks ------------------------------------------------------------------------------

    def authenticate(self, inbound: Inbound, secret: str, config: dict[str, Any]) -> bool:
        # the unguessable inbound URL found the channel; the network is the only other proof
        # (with confirm_by_poll, MTN's own status call is the proof of what happened)
        return caller_allowed(inbound, list(config.get("allowed_networks") or []))

    def read(self, inbound: Inbound, config: dict[str, Any]) -> Reading:
        if inbound.step:  # MTN calls the inbound URL itself
            return Reading(unreadable=UNKNOWN_STEP(steps="/", step=repr(inbound.step)))
        try:
            raw = json.loads(inbound.body, parse_float=Decimal)
        except ValueError:
            return Reading(unreadable=NOT_JSON())
        query = getattr(inbound, "query", None) or {}
        said = query.get("referenceId") or inbound.headers.get("x-reference-id")
        reference = reference_id(said)
        if said and reference is None:
            return Reading(unreadable=BAD_FIELDS(fields="referenceId"))
        found = payment_of(raw, reference, confirm_by_poll=bool(config.get("confirm_by_poll")))
        if isinstance(found, Message):
            return Reading(unreadable=found)
        return Reading(payments=[found])

    def answer(self, inbound: Inbound, outcomes: list[Outcome]) -> tuple[int, Any]:
        # MTN reads only the HTTP status; the body is for whoever looks at the exchange
        if not outcomes or outcomes[0].status == "invalid":
            reason = outcomes[0].reason if outcomes else "unreadable"
            return 400, {"status": "invalid", "reason": reason}
        o = outcomes[0]
        body: dict[str, Any] = {"notification_id": o.notification_id, "status": o.status}
        if o.receipt_id:
            body["receipt_id"] = o.receipt_id
        return 200, body

    # -- the status call (app/payments/polling.py's Pollable) -----------------------------------

    def pollable(self, transaction_id: str) -> str | None:
        """The referenceId to ask about for a notification keyed `transaction_id` (a pending
        one is keyed by its referenceId); None if it is not one."""
        return reference_id(transaction_id)

    def status(self, references: list[str], config: dict[str, Any]) -> dict[str, PollAnswer]:
        """What MTN says now of each request to pay: one token, then one status call each,
        within POLL_SECONDS; a reference MTN does not know answers `found=False`."""
        try:
            checked = self._checked(config, addresses=False)
        except ValidationFailed as exc:
            failed = PollAnswer(failed=exc.errors[0].message if exc.errors else exc.message)
            return dict.fromkeys(references, failed)
        c = _Credentials(
            checked["base_url"],
            checked["api_user"],
            checked["api_key"],
            checked["subscription_key"],
            checked["target_environment"],
            checked["timeout_seconds"],
        )
        out: dict[str, PollAnswer] = {}
        deadline = time.monotonic() + POLL_SECONDS
        with outbound.client(httpx.Timeout(c.timeout)) as client:
            try:
                token = self._token(client, c, deadline)
            except _Refused as exc:
                return dict.fromkeys(references, PollAnswer(failed=exc.message))
            for ref in references:
                if time.monotonic() > deadline:
                    error = f"not asked: the poll took longer than {POLL_SECONDS:.0f} s"
                    out[ref] = PollAnswer(failed=POLL_UNREACHED(call="status", error=error))
                    continue
                out[ref] = self._status(client, c, token, ref, deadline)
        return out

    def _token(self, client: httpx.Client, c: _Credentials, deadline: float) -> str:
        basic = base64.b64encode(f"{c.api_user}:{c.api_key}".encode()).decode()
        status, raw = _call(
            client,
            "POST",
            f"{c.base_url}/collection/token/",
            {"Authorization": f"Basic {basic}", "Ocp-Apim-Subscription-Key": c.subscription_key},
            "token",
            deadline,
        )
        if status != 200:
            raise _Refused(POLL_REFUSED(call="token", status=status))
        try:
            token = json.loads(raw)["access_token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise _Refused(POLL_UNREACHED(call="token", error="no access_token in the answer"))
        return token

    def _status(
        self, client: httpx.Client, c: _Credentials, token: str, ref: str, deadline: float
    ) -> PollAnswer:
        checked = reference_id(ref)
        if checked is None:
            return PollAnswer(failed=BAD_FIELDS(fields="referenceId"))
        try:
            status, raw = _call(
                client,
                "GET",
                f"{c.base_url}/collection/v1_0/requesttopay/{checked}",
                {
                    "Authorization": f"Bearer {token}",
                    "X-Target-Environment": c.target_environment,
                    "Ocp-Apim-Subscription-Key": c.subscription_key,
                },
                "status",
                deadline,
            )
        except _Refused as exc:
            return PollAnswer(failed=exc.message)
        if status == 404:
            return PollAnswer(found=False)
        if status != 200:
            return PollAnswer(failed=POLL_REFUSED(call="status", status=status))
        try:
            body = json.loads(raw, parse_float=Decimal)
        except ValueError:
            return PollAnswer(failed=NOT_JSON(), raw=raw)
        found = payment_of(body, checked)
        if isinstance(found, Message):
            return PollAnswer(failed=found, raw=raw)
        return PollAnswer(payment=found, raw=raw)


def _call(
    client: httpx.Client,
    method: str,
    url: str,
    headers: dict[str, str],
    call: str,
    deadline: float,
) -> tuple[int, bytes]:
    """One request: its status and its body (bounded in size, and read before the deadline:
    an answer sent a byte at a time would otherwise hold the poll); _Refused saying why there
    is none."""
    try:
        request = client.build_request(method, url, headers={**headers, "User-Agent": "coopledger"})
        response = client.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > ANSWER_BYTES:
                    raise _Refused(
                        POLL_UNREACHED(
                            call=call, error=f"an answer longer than {ANSWER_BYTES} bytes"
                        )
                    )
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the answer did not end in time")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
        finally:
            response.close()
    except outbound.UnsafeAddress as exc:
        raise _Refused(POLL_UNREACHED(call=call, error=exc.message)) from None
    except httpx.TimeoutException:
        raise _Refused(POLL_UNREACHED(call=call, error="no answer in time")) from None
    except httpx.HTTPError as exc:
        raise _Refused(POLL_UNREACHED(call=call, error=type(exc).__name__)) from None

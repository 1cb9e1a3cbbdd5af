"""Request and response models of the funds API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, field_serializer

from app.core.schemas import CurrencyCode, Schema
from app.funds.models import FundKind

SettlementAccount = str | dict[str, str]

_CODE = Field(
    pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$",
    description="short code, unique in the organisation: capital letters, digits, '-' or '_'",
    examples=["PENSION"],
)


class FundCreate(Schema):
    code: str = _CODE
    name: str = Field(min_length=1, max_length=200)
    kind: FundKind
    currency: CurrencyCode = Field(description="must be the organisation's book currency")
    adapter: str = Field(
        min_length=1,
        max_length=64,
        description="name of an installed fund adapter (entry-point group coopledger.fund_adapters), e.g. csv",
    )
    adapter_config: dict[str, Any] = Field(
        default_factory=dict,
        description="checked by the adapter's validate_config. An address (http_json's `url`, "
        "`affiliations_url`) must be a public http(s) address: one that is or resolves to a "
        "loopback, private, link-local, multicast, reserved or unspecified address is refused "
        "(422 naming adapter_config.url) unless the operator allows the host "
        "(COOPLEDGER_ADAPTER_ALLOWED_HOSTS); it is checked again at every request",
    )
    settlement_account: SettlementAccount | None = Field(
        default=None,
        description='free text, or an object such as {"iban": "...", "bic": "...", "name": "..."}',
    )
    custody: bool = Field(
        default=False,
        description="the fund's money is held at the intermediary (opens a custody account)",
    )


class FundUpdate(Schema):
    """Only the fields sent change. `code` and `currency` never change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: FundKind | None = None
    adapter: str | None = Field(default=None, min_length=1, max_length=64)
    adapter_config: dict[str, Any] | None = Field(
        default=None, description="as on creation: checked by the adapter, addresses public"
    )
    settlement_account: SettlementAccount | None = None
    custody: bool | None = Field(
        default=None,
        description="turning custody on opens the custody account; turning it off is refused "
        "while that account holds money",
    )


class FundRead(Schema):
    id: uuid.UUID
    code: str
    name: str
    kind: FundKind
    currency: str
    adapter: str
    adapter_config: dict[str, Any]
    settlement_account: SettlementAccount | None
    custody: bool
    owed_account_id: uuid.UUID = Field(description="liability: collected and owed to the fund")
    transit_account_id: uuid.UUID = Field(description="liability: sealed, on its way to the fund")
    custody_account_id: uuid.UUID | None = Field(
        description="liability: money held for a custody fund"
    )
    created_at: datetime
    updated_at: datetime

    @field_serializer("adapter_config")
    def _hide_secrets(self, config: dict[str, Any]) -> dict[str, Any]:
        return mask_secrets(config)


SECRET_WORDS = ("token", "secret", "password", "api_key", "_key")


def mask_secrets(config: dict[str, Any]) -> dict[str, Any]:
    """The config with credentials (token, secret, password, any *_key) shown as "***"."""
    return {
        k: "***" if any(w in k.lower() for w in SECRET_WORDS) and v else v
        for k, v in config.items()
    }

"""Funds: where contributions end up. Creating a fund opens its ledger accounts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.database import bound_organisation
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import MUST_NOT_BE_NULL, N_, Message, Template
from app.funds import registry
from app.funds.models import Fund
from app.funds.schemas import FundCreate, FundUpdate, mask_secrets
from app.identity.models import Organisation
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import AccountType

NO_FUND = Template("fund.not_found", N_("no fund %(code)s"))
CURRENCY_NOT_ORGANISATIONS = Template(
    "fund.currency_not_organisations",
    N_("a fund's currency must be the organisation's (%(currency)s)"),
)
CODE_TAKEN = Template("fund.code_taken", N_("a fund with code %(code)s already exists"))
CUSTODY_HOLDS_MONEY = Template(
    "fund.custody_holds_money",
    N_(
        "the custody account still holds money for this fund; custody cannot be turned off "
        "until it is paid out"
    ),
)
CONFIG_INVALID = Template("fund.adapter_config_invalid", N_("%(error)s"))
"""What an adapter's validate_config said (a third-party adapter's own words)."""
CONFIG_NOT_VALID = Template("fund.adapter_config_not_valid", N_("not valid"))


def config_message(exc: Exception) -> Message:
    """An adapter's refusal of a config: its message if it says one, else its words."""
    message = getattr(exc, "message", None)
    if isinstance(message, Message):
        return message
    text = str(exc)
    return CONFIG_INVALID(error=text) if text else CONFIG_NOT_VALID()


def organisation_currency(session: Session) -> str:
    """The book currency of the organisation the session is bound to."""
    org_id = bound_organisation(session)
    org = session.get(Organisation, org_id) if org_id else None
    if org is None:
        raise RuntimeError("funds need a session bound to an organisation")
    return org.currency


def _checked_config(adapter_name: str, config: dict[str, Any]) -> dict[str, Any]:
    adapter = registry.get(adapter_name)  # ValidationFailed naming `adapter` if unknown
    try:
        normalised = adapter.validate_config(dict(config))
    except (ValueError, TypeError) as exc:
        key = getattr(exc, "key", None)  # an address refused (outbound.UnsafeAddress) names it
        field = f"adapter_config.{key}" if isinstance(key, str) else "adapter_config"
        raise ValidationFailed.field(field, config_message(exc)) from None
    return dict(normalised if normalised is not None else config)


ownership.reserve("FUND:", "the funds")


def account_codes(code: str) -> dict[str, str]:
    """The ledger account codes of a fund."""
    return {
        "owed": f"FUND:{code}:OWED",
        "transit": f"FUND:{code}:TRANSIT",
        "custody": f"FUND:{code}:CUSTODY",
    }


def _open_custody_account(session: Session, actor: Actor, fund: Fund) -> uuid.UUID:
    account = ledger.open_account(
        session,
        actor,
        code=account_codes(fund.code)["custody"],
        name=f"Held in custody for {fund.name}",
        type=AccountType.liability,
        currency=fund.currency,
        owner=ledger.Owner("fund", fund.code),
    )
    return account.id


def create_fund(session: Session, actor: Actor, data: FundCreate) -> Fund:
    """Create a fund and open its accounts (owed, in transit, and custody for a custody fund).

    The currency must be the organisation's; the adapter must be installed and accept the
    config. A taken code is 409.
    """
    currency = organisation_currency(session)
    if data.currency != currency:
        raise ValidationFailed.field("currency", CURRENCY_NOT_ORGANISATIONS(currency=currency))
    if session.scalar(select(Fund.id).where(Fund.code == data.code)) is not None:
        raise Conflict(CODE_TAKEN(code=data.code))
    config = _checked_config(data.adapter, data.adapter_config)
    codes = account_codes(data.code)
    owed = ledger.open_account(
        session,
        actor,
        code=codes["owed"],
        name=f"Owed to {data.name}",
        type=AccountType.liability,
        currency=currency,
        owner=ledger.Owner("fund", data.code),
    )
    transit = ledger.open_account(
        session,
        actor,
        code=codes["transit"],
        name=f"In transit to {data.name}",
        type=AccountType.liability,
        currency=currency,
        owner=ledger.Owner("fund", data.code),
    )
    fund = Fund(
        code=data.code,
        name=data.name,
        kind=data.kind,
        currency=currency,
        adapter=data.adapter,
        adapter_config=config,
        settlement_account=data.settlement_account,
        custody=data.custody,
        owed_account_id=owed.id,
        transit_account_id=transit.id,
    )
    if data.custody:
        fund.custody_account_id = _open_custody_account(session, actor, fund)
    session.add(fund)
    session.flush()
    details = data.model_dump(mode="json", exclude_none=True)
    details["adapter_config"] = mask_secrets(config)
    audit.record(session, actor, "fund.create", "fund", fund.id, details)
    return fund


def get_fund(session: Session, code: str) -> Fund:
    """The fund with this code in the caller's organisation (404 otherwise)."""
    fund = session.scalar(select(Fund).where(Fund.code == code))
    if fund is None:
        raise NotFound(NO_FUND(code=code))
    return fund


def funds_by_code(session: Session, codes: Iterable[str] | None = None) -> dict[str, Fund]:
    """The organisation's funds keyed by code (all of them, or those named)."""
    stmt = select(Fund)
    if codes is not None:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        stmt = stmt.where(Fund.code.in_(wanted))
    return {f.code: f for f in session.scalars(stmt)}


def update_fund(session: Session, actor: Actor, code: str, data: FundUpdate) -> Fund:
    """Change a fund's name, kind, adapter, adapter config, settlement account or custody."""
    fund = get_fund(session, code)
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "name" in changes and data.name is None:
        raise ValidationFailed.field("name", MUST_NOT_BE_NULL())
    if "kind" in changes and data.kind is None:
        raise ValidationFailed.field("kind", MUST_NOT_BE_NULL())
    if "adapter" in changes and data.adapter is None:
        raise ValidationFailed.field("adapter", MUST_NOT_BE_NULL())
    if "custody" in changes and data.custody is None:
        raise ValidationFailed.field("custody", MUST_NOT_BE_NULL())
    if "adapter" in changes or "adapter_config" in changes:
        adapter = data.adapter or fund.adapter
        config = data.adapter_config if data.adapter_config is not None else fund.adapter_config
        fund.adapter = adapter
        fund.adapter_config = _checked_config(adapter, config)
    if data.name is not None:
        fund.name = data.name
    if data.kind is not None:
        fund.kind = data.kind
    if "settlement_account" in changes:
        fund.settlement_account = data.settlement_account
    if data.custody is not None and data.custody != fund.custody:
        if data.custody:
            if fund.custody_account_id is None:
                fund.custody_account_id = _open_custody_account(session, actor, fund)
        elif fund.custody_account_id is not None:
            held = ledger.balances(session, [fund.custody_account_id])[fund.custody_account_id]
            if held != 0:
                raise Conflict(CUSTODY_HOLDS_MONEY())
        fund.custody = data.custody
    session.flush()
    if "adapter_config" in changes:
        changes["adapter_config"] = mask_secrets(fund.adapter_config)
    audit.record(session, actor, "fund.update", "fund", fund.id, changes)
    return fund


def list_funds(session: Session) -> list[Fund]:
    """Every fund of the organisation, by code (an organisation has a handful)."""
    return list(session.scalars(select(Fund).order_by(Fund.code)))

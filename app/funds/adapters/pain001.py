"""The `pain001` fund adapter: ISO 20022 pain.001.001.09 (CustomerCreditTransferInitiationV09).

The document is valid against the official XSD kept in xsd/pain.001.001.09.xsd (the tests
validate it with lxml). It is written as a stream: the group header's NbOfTxs and CtrlSum
come from the sealed batch's control totals, so no line is held in memory.

`transactions: per_line` (the default) makes one CdtTrfTxInf per remittance line, its
EndToEndId the line's; `per_batch` makes one transfer for the whole batch, its EndToEndId
the batch reference, the per-member breakdown travelling in the CSV or JSON file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from app.core import clock
from app.core.messages import N_, Template
from app.funds.adapters import _config, _text
from app.funds.adapters._text import xml
from app.funds.registry import BatchDocument, ContributionLine, Delivery

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
XSD_PATH = Path(__file__).parent / "xsd" / "pain.001.001.09.xsd"
MEDIA_TYPE = "application/xml"
NOT_IBAN = Template("adapter_config.not_iban", N_("debtor_iban is not an IBAN"))
NOT_BIC = Template("adapter_config.not_bic", N_("debtor_bic is not a BIC"))
NOT_PROVIDED = "NOTPROVIDED"


def _account(iban: str | None, other: str | None) -> str:
    if iban:
        return f"<Id><IBAN>{iban}</IBAN></Id>"
    return f"<Id><Othr><Id>{xml(other or NOT_PROVIDED, 34)}</Id></Othr></Id>"


def _agent(bic: str | None) -> str:
    if bic:
        return f"<FinInstnId><BICFI>{bic}</BICFI></FinInstnId>"
    return f"<FinInstnId><Othr><Id>{NOT_PROVIDED}</Id></Othr></FinInstnId>"


def render(document: BatchDocument, config: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The sealed batch as a pain.001.001.09 document, in chunks of bytes."""
    config = config or {}
    head = document.header
    if head.kind != "remittance":
        raise ValueError("pain.001 carries remittances, not affiliations")
    per_batch = config.get("transactions", "per_line") == "per_batch"
    count = 1 if per_batch else head.line_count
    ctrl = _text.amount(head.control_sum, head.currency)
    # the organisation's clock, with its offset: the day asked for is the organisation's day
    at = head.created_at if head.created_at.tzinfo else head.created_at.replace(tzinfo=UTC)
    local = at.astimezone(clock.zone(head.time_zone))
    created = local.isoformat(timespec="seconds")
    debtor = config.get("debtor_name") or head.organisation_name
    debtor_iban = config.get("debtor_iban")
    debtor_iban = debtor_iban.replace(" ", "").upper() if debtor_iban else None
    if not _text.is_iban(debtor_iban):
        debtor_iban = None
    debtor_bic = config.get("debtor_bic")
    iban, other, bic, account_name = _text.account_parts(head.settlement_account)
    creditor = config.get("creditor_name") or account_name or head.fund_name
    creditor_xml = (
        (f"<CdtrAgt>{_agent(bic)}</CdtrAgt>" if bic else "")
        + f"<Cdtr><Nm>{xml(creditor, 140)}</Nm></Cdtr>"
        + (f"<CdtrAcct>{_account(iban, other)}</CdtrAcct>" if iban or other else "")
    )
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{NAMESPACE}"><CstmrCdtTrfInitn>'
        f"<GrpHdr><MsgId>{xml(head.message_id, 35)}</MsgId><CreDtTm>{created}</CreDtTm>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{ctrl}</CtrlSum>"
        f"<InitgPty><Nm>{xml(head.organisation_name, 140)}</Nm></InitgPty></GrpHdr>"
        f"<PmtInf><PmtInfId>{xml(head.message_id, 32)}-1</PmtInfId><PmtMtd>TRF</PmtMtd>"
        f"<BtchBookg>{'true' if per_batch else 'false'}</BtchBookg>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{ctrl}</CtrlSum>"
        f"<ReqdExctnDt><Dt>{local.date().isoformat()}</Dt></ReqdExctnDt>"
        f"<Dbtr><Nm>{xml(debtor, 140)}</Nm></Dbtr>"
        f"<DbtrAcct>{_account(debtor_iban, config.get('debtor_account'))}</DbtrAcct>"
        f"<DbtrAgt>{_agent(debtor_bic if _text.is_bic(debtor_bic) else None)}</DbtrAgt>"
    ).encode()
    currency = head.currency
    if per_batch:
        through = head.through.isoformat() if head.through else ""
        yield (
            f"<CdtTrfTxInf><PmtId><EndToEndId>{xml(head.reference, 35)}</EndToEndId></PmtId>"
            f'<Amt><InstdAmt Ccy="{currency}">{ctrl}</InstdAmt></Amt>{creditor_xml}'
            f"<RmtInf><Ustrd>{xml(f'Contributions {head.reference} through {through}: {head.line_count} lines', 140)}</Ustrd></RmtInf>"
            "</CdtTrfTxInf>"
        ).encode()
    else:
        parts: list[str] = []
        fmt = _text.amount_formatter(currency)
        periods: dict[tuple[Any, Any], str] = {}  # a batch has few distinct periods
        amount_open = f'</PmtId><Amt><InstdAmt Ccy="{currency}">'
        amount_close = f"</InstdAmt></Amt>{creditor_xml}<RmtInf><Ustrd>"
        for line in document.lines():
            if not isinstance(line, ContributionLine):
                continue
            key = (line.period_start, line.period_end)
            period = periods.get(key)
            if period is None:
                period = periods[key] = f"{key[0].isoformat()}/{key[1].isoformat()}"
            info = (
                f"{line.affiliation_number or 'NO-AFFILIATION'} {line.member_number} "
                f"{period} {line.full_name}"
            )
            parts.append(
                f"<CdtTrfTxInf><PmtId><EndToEndId>{xml(line.end_to_end_id, 35)}</EndToEndId>"
                f"{amount_open}{fmt(line.amount)}{amount_close}{xml(info, 140)}</Ustrd></RmtInf>"
                "</CdtTrfTxInf>"
            )
            if len(parts) >= _text.CHUNK_LINES:
                yield "".join(parts).encode()
                parts = []
        if parts:
            yield "".join(parts).encode()
    yield b"</PmtInf></CstmrCdtTrfInitn></Document>\n"


class Pain001Adapter:
    """Exports a sealed batch as pain.001.001.09; the fund office (or its bank) takes the file."""

    name = "pain001"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        keys = ("debtor_name", "debtor_iban", "debtor_account", "debtor_bic", "creditor_name")
        _config.reject_unknown(config, ("transactions", *keys))
        out = _config.common(config)
        out["transactions"] = _config.choice(
            config, "transactions", "per_line", ("per_line", "per_batch")
        )
        for key in keys:
            value = _config.text(config, key, None)
            if value is not None:
                out[key] = value
        if "debtor_iban" in out and not _text.is_iban(out["debtor_iban"].replace(" ", "").upper()):
            raise _config.ConfigRefused(NOT_IBAN())
        if "debtor_bic" in out and not _text.is_bic(out["debtor_bic"]):
            raise _config.ConfigRefused(NOT_BIC())
        return out

    def deliver(self, document: BatchDocument, config: dict[str, Any]) -> Delivery:
        return Delivery("awaiting_download")

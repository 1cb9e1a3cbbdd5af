"""ISO 20022 pain.002 (CustomerPaymentStatusReport): a fund's answer to a pain.001 batch.

Any pain.002.001.xx version is read, within `PAIN002_BOUNDS` (`app.core.documents.parse_xml`),
into the per-transaction answers the fund gave; what they decide for a remittance batch's
lines is `app.remittances.settlement.answers_from_pain002`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from app.core.documents import XmlBounds, parse_xml
from app.core.errors import ValidationFailed
from app.core.messages import N_, Template
from app.funds.registry import LineAnswer

PAIN002_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:pain\.002\.001\.\d{2}$")
ACCEPTED_CODES = frozenset({"ACCP", "ACSC", "ACSP", "ACTC", "ACWC", "ACCC", "ACFC", "ACWP"})
REJECTED_CODES = frozenset({"RJCT"})
PAIN002_BOUNDS = XmlBounds(max_bytes=32 * 1024 * 1024, max_depth=64, max_elements=2_000_000)
"""A status line (TxInfAndSts) is about 5 elements and 300 bytes: room for 100,000 lines,
past the request limit (8 MiB by default) anyway; nothing in a pain.002 nests deeper than
about ten levels."""


@dataclass(frozen=True, slots=True)
class Pain002:
    message_id: str | None
    original_message_id: str | None
    group_status: str | None
    answers: list[LineAnswer]


NOT_PAIN002 = Template(
    "pain002.not_pain002",
    N_("expected an ISO 20022 pain.002 Document (urn:iso:std:iso:20022:tech:xsd:pain.002.001.xx)"),
)
NO_REPORT = Template("pain002.no_report", N_("no CstmrPmtStsRpt in the document"))
INCOMPLETE_TRANSACTION = Template(
    "pain002.incomplete_transaction", N_("a TxInfAndSts lacks OrgnlEndToEndId or TxSts")
)


def parse_pain002(body: bytes) -> Pain002:
    """Read a pain.002 status report (any pain.002.001.xx version) within `PAIN002_BOUNDS`
    (`app.core.documents.parse_xml`): a DOCTYPE, hence any entity, is refused, nothing is
    fetched; past the size 413, a malformed or too deep document 422, each naming `body`
    and the bound. Pure: callers read it before their transaction begins."""
    root = parse_xml(body, field="body", bounds=PAIN002_BOUNDS)
    ns = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not PAIN002_NAMESPACE.match(ns):
        raise ValidationFailed.field("body", NOT_PAIN002())
    q = {"p": ns}

    def text(node: Any, path: str) -> str | None:
        found = node.find(path, q)
        return found.text.strip() if found is not None and found.text else None

    report = root.find("p:CstmrPmtStsRpt", q)
    if report is None:
        raise ValidationFailed.field("body", NO_REPORT())
    group = report.find("p:OrgnlGrpInfAndSts", q)
    answers: list[LineAnswer] = []
    for tx in report.iterfind(".//p:TxInfAndSts", q):
        key = text(tx, "p:OrgnlEndToEndId")
        code = text(tx, "p:TxSts")
        if key is None or code is None:
            raise ValidationFailed.field("body", INCOMPLETE_TRANSACTION())
        status = transaction_status(code)
        if status is None:
            continue  # pending or received: not a decision yet
        reason = None
        if status == "rejected":
            parts = [text(tx, "p:StsRsnInf/p:Rsn/p:Cd") or text(tx, "p:StsRsnInf/p:Rsn/p:Prtry")]
            parts += [t.text.strip() for t in tx.iterfind("p:StsRsnInf/p:AddtlInf", q) if t.text]
            reason = ": ".join(p for p in parts if p) or "rejected by the fund (no reason given)"
        answers.append(
            LineAnswer(
                key, "accepted" if status == "accepted" else "rejected", reason and reason[:500]
            )
        )
    return Pain002(
        message_id=text(report, "p:GrpHdr/p:MsgId"),
        original_message_id=text(group, "p:OrgnlMsgId") if group is not None else None,
        group_status=text(group, "p:GrpSts") if group is not None else None,
        answers=answers,
    )


def transaction_status(code: str) -> str | None:
    """`accepted` or `rejected` for a final ISO 20022 status code; None for any other
    (pending, received: not a decision yet)."""
    if code in ACCEPTED_CODES:
        return "accepted"
    if code in REJECTED_CODES:
        return "rejected"
    return None

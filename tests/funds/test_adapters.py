"""Built-in fund adapters against their real counterparts: the official pain.001.001.09 XSD,
the CSV layout, config checks; and a third-party adapter installed as its own distribution."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import textwrap
import uuid
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from app.core.errors import ValidationFailed
from app.funds import registry
from app.funds.adapters import csv_file, json_file, pain001
from app.funds.registry import BatchDocument, BatchHeader, ContributionLine

NS = {"p": pain001.NAMESPACE}
SCHEMA = etree.XMLSchema(etree.parse(str(pain001.XSD_PATH)))


def document(amounts: list[int], currency: str = "DOP", account: object = None) -> BatchDocument:
    lines = [
        ContributionLine(
            end_to_end_id=f"RB000007-{n:06d}",
            member_id=uuid.UUID(int=n),
            member_number=f"M-{n}",
            full_name=f"Membre n°{n} <&> \x07",
            national_id=None,
            affiliation_number=None if n % 2 else f"AFF{n}",
            period_start=date(2026, 11, 1),
            period_end=date(2026, 11, 30),
            amount=a,
        )
        for n, a in enumerate(amounts, start=1)
    ]
    head = BatchHeader(
        kind="remittance",
        batch_id=uuid.uuid4(),
        reference="RB000007",
        message_id="AMUSSOL-RB000007",
        organisation_code="AMUSSOL",
        organisation_name="Asociación Mutual",
        fund_code="CNSS",
        fund_name="Caisse Nationale",
        currency=currency,
        created_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        line_count=len(lines),
        control_sum=sum(amounts),
        through=date(2026, 11, 30),
        settlement_account=account,
    )
    return BatchDocument(head, lambda: iter(lines))


def test_builtins_are_entry_points_and_unknown_names_are_clear() -> None:
    assert {"csv", "pain001", "http_json", "custody"} <= set(registry.names())
    for name in ("csv", "pain001", "http_json", "custody"):
        assert isinstance(registry.get(name), registry.FundAdapter)
    with pytest.raises(ValidationFailed) as exc:
        registry.get("telex")
    assert [e.field for e in exc.value.errors] == [
        "adapter"
    ] and "no fund adapter named 'telex' (known: " in exc.value.detail


@pytest.mark.parametrize(
    ("name", "config", "why"),
    [
        ("csv", {"delimiter": "|"}, "delimiter"),
        ("csv", {"colour": "red"}, "unknown key"),
        ("pain001", {"transactions": "some"}, "transactions"),
        ("pain001", {"debtor_iban": "not an iban"}, "debtor_iban"),
        ("http_json", {}, "url"),
        ("http_json", {"url": "ftp://fund"}, "url"),
        ("http_json", {"url": "https://fund", "max_attempts": 50}, "max_attempts"),
        ("custody", {"commission_per_affiliation": "-2"}, "commission_per_affiliation"),
    ],
)
def test_configs_are_checked(name: str, config: dict, why: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=why):
        registry.get(name).validate_config(config)


@settings(max_examples=25, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 10**11), min_size=1, max_size=40),
    currency=st.sampled_from(["DOP", "XOF", "KES", "RWF"]),
    per_batch=st.booleans(),
)
def test_pain001_is_valid_with_right_control_totals(
    amounts: list[int], currency: str, per_batch: bool
) -> None:
    config = {"transactions": "per_batch" if per_batch else "per_line"}
    account = {"iban": "DO28BAGR00000001212453611324", "bic": "BAGRDOSDXXX", "name": "CNSS"}
    xml = b"".join(pain001.render(document(amounts, currency, account), config))
    root = etree.fromstring(xml)
    assert SCHEMA.validate(root), SCHEMA.error_log
    txs = root.findall(".//p:CdtTrfTxInf", NS)
    assert len(txs) == (1 if per_batch else len(amounts))
    assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == str(len(txs))
    ctrl = Decimal(root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS))
    paid = sum(Decimal(t.findtext("p:Amt/p:InstdAmt", namespaces=NS)) for t in txs)
    exp = 0 if currency in ("XOF", "RWF") else 2
    assert ctrl == paid == Decimal(sum(amounts)).scaleb(-exp)
    assert {t.find("p:Amt/p:InstdAmt", NS).get("Ccy") for t in txs} == {currency}


def test_pain001_without_accounts_is_still_valid() -> None:
    xml = b"".join(pain001.render(document([150], "DOP", "cuenta 123-456 Banreservas"), {}))
    assert SCHEMA.validate(etree.fromstring(xml)), SCHEMA.error_log
    xml = b"".join(pain001.render(document([150], "DOP", None), {}))
    assert SCHEMA.validate(etree.fromstring(xml)), SCHEMA.error_log


def test_csv_layout_has_header_and_trailer_with_control_totals() -> None:
    text = b"".join(csv_file.render(document([15050, 2500]), {"delimiter": ";"})).decode()
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [
        "HEADER",
        "RB000007",
        "AMUSSOL",
        "CNSS",
        "DOP",
        "2026-11-30",
        "2026-12-01T09:30:00+00:00",
    ]
    assert rows[1] == csv_file.REMITTANCE_COLUMNS
    assert [r[8] for r in rows[2:4]] == ["150.50", "25.00"]
    assert rows[-1] == ["TRAILER", "2", "175.50"]
    body = b"".join(json_file.render(document([15050, 2500])))
    import json

    parsed = json.loads(body)
    assert parsed["batch"]["control_sum"] == "175.50" and [
        ln["amount"] for ln in parsed["lines"]
    ] == ["150.50", "25.00"]


def test_third_party_adapter_installed_as_a_distribution_is_found_by_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "coop_telex").mkdir(parents=True)
    (src / "coop_telex" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from app.funds.registry import Delivery

            class TelexAdapter:
                name = "telex"

                def validate_config(self, config):
                    if "line" not in config:
                        raise ValueError("line is required")
                    return dict(config)

                def deliver(self, document, config):
                    return Delivery("delivered", reference="TX-" + document.header.reference)
            """
        )
    )
    # A wheel, the form a third party publishes: its metadata declares the entry point.
    wheel = tmp_path / "coop_telex-1.0-py3-none-any.whl"
    info = "coop_telex-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(src / "coop_telex" / "__init__.py", "coop_telex/__init__.py")
        zf.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: coop-telex\nVersion: 1.0\n")
        zf.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(
            f"{info}/entry_points.txt",
            "[coopledger.fund_adapters]\ntelex = coop_telex:TelexAdapter\n",
        )
        zf.writestr(f"{info}/RECORD", "")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    with pytest.raises(ValidationFailed):
        registry.get("telex")
    sys.path.insert(0, str(target))
    try:
        adapter = registry.get("telex")
        assert "telex" in registry.names()
        assert adapter.validate_config({"line": "+221"}) == {"line": "+221"}
        assert adapter.deliver(document([1]), {}).reference == "TX-RB000007"
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("coop_telex", None)


def test_pain001_is_dated_in_the_organisations_day() -> None:
    """Sealed at 01:30 UTC on 1 December is 21:30 on 30 November in Santo Domingo: the
    document asks for execution on the organisation's day, and its time carries the offset."""
    import dataclasses

    doc = document([150])
    late = dataclasses.replace(
        doc.header,
        created_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC),
        time_zone="America/Santo_Domingo",
    )
    root = etree.fromstring(b"".join(pain001.render(BatchDocument(late, doc.lines), {})))
    assert SCHEMA.validate(root), SCHEMA.error_log
    assert root.findtext(".//p:GrpHdr/p:CreDtTm", namespaces=NS) == "2026-11-30T21:30:00-04:00"
    assert root.findtext(".//p:ReqdExctnDt/p:Dt", namespaces=NS) == "2026-11-30"
    utc = etree.fromstring(b"".join(pain001.render(doc, {})))
    assert utc.findtext(".//p:ReqdExctnDt/p:Dt", namespaces=NS) == "2026-12-01"

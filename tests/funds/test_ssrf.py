"""A fund adapter cannot be aimed at this machine or a private network (issue 11, SSRF).

An organisation admin sets the `http_json` adapter's URL; submitting a batch makes the server
POST there. Addresses that are, or resolve to, loopback, private, link-local, multicast,
reserved or unspecified addresses are refused when the fund is saved (422 naming
`adapter_config.url`) and again at every request (a fund saved before, or a name whose DNS
answer changed, is refused before any connection); redirects are not followed; only the
hosts an operator lists in COOPLEDGER_ADAPTER_ALLOWED_HOSTS pass. What is kept of a fund's
answer is short, without control characters, and labelled as the fund's (`fund_reply`).

A real listener on loopback (the "canary") records every connection: the refused requests
must never reach it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.settings import Settings
from app.funds import outbound
from app.funds.adapters import http_json
from app.funds.adapters.http_json import HttpJsonAdapter
from app.funds.registry import DeliveryFailed
from tests.conftest import TEST_SECRET
from tests.funds.test_adapters import document
from tests.remittances.factories import Books, make_fund, make_member, owe
from tests.remittances.fund_server import FundServer, serve_fund  # noqa: F401

FAST = {"timeout_seconds": 1.0, "max_attempts": 1, "backoff_seconds": 0}


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The app as an operator runs it by default: no host allowed beyond public ones."""
    return Settings(DATABASE_URL=db_url, COOPLEDGER_ENV="test", COOPLEDGER_SECRET_KEY=TEST_SECRET)  # type: ignore[call-arg]


@pytest.fixture
def nothing_allowed() -> Iterator[None]:
    previous = outbound.configure("")
    yield
    outbound.restore(previous)


class Canary:
    """A TCP listener on loopback that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.stop = True
    c.thread.join(timeout=5)
    c.sock.close()


def loopback_names() -> list[str]:
    """Names this machine's resolver maps to a loopback address, other than localhost."""
    names = []
    for line in Path("/etc/hosts").read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) > 1 and parts[0].startswith("127."):
            names += [n for n in parts[1:] if "localhost" not in n]
    return names


REFUSED = [
    "http://127.0.0.1:{port}/batches",
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://api.localhost:{port}/",
    "http://2130706433:{port}/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1:{port}/",  # hex
    "http://017700000001:{port}/",  # octal
    "http://127.1:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]:{port}/",  # 6to4 of 127.0.0.1
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "https://255.255.255.255/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused_when_saved_in_every_spelling(url: str, nothing_allowed: None) -> None:
    with pytest.raises(ValueError, match="url may not point at") as exc:
        HttpJsonAdapter().validate_config({"url": url.format(port=8080)})
    assert getattr(exc.value, "key", None) == "url"


def test_a_name_that_resolves_to_loopback_is_refused(nothing_allowed: None) -> None:
    names = loopback_names()
    if not names:
        pytest.skip("no name in /etc/hosts maps to loopback here")
    with pytest.raises(ValueError, match="resolves to a loopback address"):
        outbound.check_url(f"http://{names[0]}:8080/")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:25/", "ftp://fund.example/", "http://"]
)
def test_only_http_and_https(url: str, nothing_allowed: None) -> None:
    with pytest.raises(ValueError, match="url"):
        HttpJsonAdapter().validate_config({"url": url})


def test_public_addresses_and_names_pass(nothing_allowed: None) -> None:
    for url in (
        "https://8.8.8.8/batches",
        "https://[2001:4860:4860::8888]/x",
        "https://fund.example/api",  # does not resolve here: checked again at each request
    ):
        assert outbound.check_url(url) == url


def test_the_allow_list_is_by_host_and_port() -> None:
    allowed = outbound.AllowedHosts.parse(" 127.0.0.1:8080, fund.internal. ,[::1]:9, 10.1.2.3")
    assert allowed.allows("127.0.0.1", 8080) and not allowed.allows("127.0.0.1", 8081)
    assert allowed.allows("127.1", 8080)  # the same address, spelled otherwise
    assert allowed.allows("FUND.INTERNAL", 443) and allowed.allows("fund.internal.", None)
    assert allowed.allows("::1", 9) and not allowed.allows("::1", 10)
    assert allowed.allows("10.1.2.3", 80) and not allowed.allows("10.1.2.4", 80)
    assert not outbound.AllowedHosts.parse("").allows("127.0.0.1", 80)


def test_the_api_refuses_the_address_naming_the_field(client, org, engine, canary) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("admin")
    body = {
        "code": "NSSF",
        "name": "NSSF",
        "kind": "social_security",
        "currency": "DOP",
        "adapter": "http_json",
        "adapter_config": {"url": f"http://127.0.0.1:{canary.port}/batches"},
    }
    r = client.post("/api/v1/funds", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "adapter_config.url"
    assert "loopback" in r.json()["detail"]
    body["adapter_config"] = {
        "url": "https://fund.example/batches",
        "affiliations_url": "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254
    }
    r = client.post("/api/v1/funds", json=body, headers=h)
    assert (
        r.status_code == 422 and r.json()["errors"][0]["field"] == "adapter_config.affiliations_url"
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM fund")).scalar_one() == 0
    body["adapter_config"] = {"url": "https://fund.example/batches"}
    assert client.post("/api/v1/funds", json=body, headers=h).status_code == 201
    r = client.patch(
        "/api/v1/funds/NSSF",
        json={"adapter_config": {"url": f"http://0x7f000001:{canary.port}/"}},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "adapter_config.url"
    got = client.get("/api/v1/funds/NSSF", headers=h).json()
    assert got["adapter_config"]["url"] == "https://fund.example/batches"
    assert canary.connections == 0


def _sealed_batch(client, org, session_factory, url: str) -> str:  # type: ignore[no-untyped-def]
    """A sealed batch of a fund whose URL is stored as given (as a fund saved before this
    check existed, or one whose name resolved elsewhere when it was saved)."""
    books = Books(session_factory, org.id)
    with books() as s:
        fund = make_fund(s, "NSSF", adapter="http_json", config={"url": "https://fund.example/"})
        fund.adapter_config = {"url": url, **FAST}
        owe(s, make_member(s, "M-1"), fund, 1000, date(2026, 11, 1), date(2026, 11, 30))
    h = org.headers("treasurer")
    bid = client.post(
        "/api/v1/remittances", json={"fund_code": "NSSF", "through": "2026-11-30"}, headers=h
    ).json()["id"]
    assert client.post(f"/api/v1/remittances/{bid}/seal", headers=h).status_code == 200
    return str(bid)


def test_a_stored_private_address_is_refused_at_the_request(
    client, org, session_factory, canary
) -> None:  # type: ignore[no-untyped-def]
    names = loopback_names()
    host = names[0] if names else "127.0.0.1"  # a name whose answer is loopback now
    bid = _sealed_batch(client, org, session_factory, f"http://{host}:{canary.port}/batches")
    h = org.headers("treasurer")
    r = client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
    assert r.status_code == 502, r.text
    assert "is refused" in r.json()["detail"] and "loopback" in r.json()["detail"]
    batch = client.get(f"/api/v1/remittances/{bid}", headers=h).json()
    assert batch["status"] == "sealed" and batch["delivery"]["outcome"] == "failed"
    time.sleep(0.3)
    assert canary.connections == 0  # refused before any connection


def test_redirects_are_not_followed(fund_server: FundServer, canary) -> None:  # type: ignore[no-untyped-def]
    fund_server.script = ["redirect"]
    fund_server.redirect_to = f"http://127.0.0.1:{canary.port}/steal"
    config = HttpJsonAdapter().validate_config({"url": f"{fund_server.url}/batches", **FAST})
    with pytest.raises(DeliveryFailed, match=r"refused the batch \(HTTP 307\)"):
        HttpJsonAdapter().deliver(document([100]), config)
    time.sleep(0.3)
    assert canary.connections == 0


def test_the_funds_reply_is_kept_short_plain_and_labelled(
    client, org, session_factory, fund_server: FundServer
) -> None:  # type: ignore[no-untyped-def]
    fund_server.script = ["chatty"]
    books = Books(session_factory, org.id)
    with books() as s:
        fund = make_fund(
            s, "NSSF", adapter="http_json", config={"url": f"{fund_server.url}/batches", **FAST}
        )
        owe(s, make_member(s, "M-1"), fund, 1000, date(2026, 11, 1), date(2026, 11, 30))
    h = org.headers("treasurer")
    bid = client.post(
        "/api/v1/remittances", json={"fund_code": "NSSF", "through": "2026-11-30"}, headers=h
    ).json()["id"]
    client.post(f"/api/v1/remittances/{bid}/seal", headers=h)
    r = client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
    assert r.status_code == 200, r.text
    answer = r.json()["delivery"]["answer"]
    assert set(answer) == {"http_status", "fund_reply", "fund_reply_truncated"}
    assert answer["http_status"] == 202 and answer["fund_reply_truncated"] is True
    reply = answer["fund_reply"]
    assert reply.startswith("Accepted. [2J <script>") and len(reply) <= http_json.REPLY_CHARS
    assert all(c.isprintable() for c in reply)
    page = client.get(f"/api/v1/remittances/{bid}", headers=h).json()
    assert page["delivery"]["answer"] == answer


def test_a_never_ending_answer_is_cut_off(fund_server: FundServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(http_json, "DELIVERY_SECONDS", 1.5)  # the bound, made short
    fund_server.script = ["drip"]
    config = HttpJsonAdapter().validate_config({"url": f"{fund_server.url}/batches", **FAST})
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="no answer within"):
        HttpJsonAdapter().deliver(document([100]), config)
    assert time.monotonic() - started < 5  # the drip alone lasts 20 s


def test_the_connection_goes_to_the_address_checked_with_the_host_kept(
    fund_server: FundServer, monkeypatch, nothing_allowed: None
) -> None:  # type: ignore[no-untyped-def]
    """The transport resolves the name, checks the addresses and connects to the one it
    checked (no second lookup for the connection to race), sending the name as Host. Here
    loopback is taken for public (the rule, not the network, is replaced) so that the real
    fund server on loopback stands for a public one."""
    names = loopback_names()
    if not names:
        pytest.skip("no name in /etc/hosts maps to loopback here")
    port = fund_server.url.rsplit(":", 1)[1]
    checked: list[str] = []

    def public(address):  # type: ignore[no-untyped-def]
        checked.append(str(address))
        return None

    monkeypatch.setattr(outbound, "refusal", public)
    assert not outbound.allowed_hosts().allows(names[0], int(port))  # nothing_allowed
    config = HttpJsonAdapter().validate_config({"url": f"http://{names[0]}:{port}/batches"})
    delivery = HttpJsonAdapter().deliver(document([100]), config)
    assert delivery.outcome == "delivered"
    assert fund_server.requests[-1]["host"] == f"{names[0]}:{port}"
    assert checked and all(a.startswith("127.") for a in checked)

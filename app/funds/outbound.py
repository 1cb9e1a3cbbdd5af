"""Outbound requests to a fund: never to this machine or a private network (SSRF).

An organisation's admin sets a fund adapter's URL; the server then makes the request. So an
address is refused unless it is a public one: a host that is, or resolves to, a loopback,
private, shared (100.64/10), link-local, multicast, reserved or unspecified address, IPv4 or
IPv6 (an IPv4 address mapped or embedded in IPv6 is judged as that IPv4 address), in any
spelling the resolver accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), and the names
`localhost` and `*.localhost` with or without a trailing dot. Only http and https.

It is checked twice:

- when the fund is saved (`check_url`, from the adapter's `validate_config`): the address as
  written, and what its name resolves to now (a name that does not resolve yet is let
  through: the check at request time is the one that counts);
- at every request (`GuardedTransport`): the name is resolved, EVERY address it resolves to
  is checked, and the connection goes to the address that was checked (the request keeps
  its Host header and its TLS server name), so a DNS answer that changes between the check
  and the connection (DNS rebinding) cannot aim it elsewhere. Redirects are not followed.

An operator may allow hosts the rule refuses (a fund's server on the private network, the
test suite's fund server on loopback) with COOPLEDGER_ADAPTER_ALLOWED_HOSTS: comma-separated
`host` or `host:port` (`[v6]:port`); a host listed is used as written, unchecked. The list is
the process's: `create_app` configures it from the app's settings, anything else (the CLI)
reads the environment's settings on first use.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.messages import N_, Template
from app.funds.adapters._config import ConfigRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
RESOLVE_SECONDS = 5.0  # a name that takes longer to resolve is not reached (request time)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


BAD_URL = Template("adapter_config.bad_url", N_("%(key)s is not a valid URL"))
NOT_HTTP = Template(
    "adapter_config.not_http", N_("%(key)s must be an http:// or https:// address with a host")
)
REFUSED_ADDRESS = Template("adapter_config.refused_address", N_("%(key)s may not point at %(why)s"))
ONLY_HTTP = Template("outbound.only_http", N_("only http:// and https:// addresses are reached"))
REFUSED_AT_REQUEST = Template(
    "outbound.refused_address", N_("the address %(host)s is refused: it points at %(why)s")
)


class UnsafeAddress(ConfigRefused):
    """The address is not one a fund adapter may reach (the message says why, in our words);
    `key` names the adapter_config key that holds it, when it comes from one."""


# -- the operator's allow-list ---------------------------------------------------------------


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """Hosts (optionally host:port) an operator lets the adapters reach whatever they are."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> AllowedHosts:
        entries: set[tuple[str, int | None]] = set()
        for raw in (text or "").split(","):
            item = raw.strip()
            if not item:
                continue
            host, port = item, None
            if item.startswith("["):  # [v6] or [v6]:port
                end = item.find("]")
                host, rest = item[: end + 1], item[end + 1 :]
                if rest.startswith(":") and rest[1:].isdigit():
                    port = int(rest[1:])
            elif item.count(":") == 1:
                name, _, number = item.partition(":")
                if number.isdigit():
                    host, port = name, int(number)
            entries.add((_canonical(_normal_host(host)), port))
        return cls(frozenset(entries))

    def allows(self, host: str, port: int | None) -> bool:
        host = _canonical(_normal_host(host))
        return (host, None) in self.entries or (host, port) in self.entries


def _canonical(host: str) -> str:
    """An IP address in its canonical spelling (so `127.1` matches `127.0.0.1`); a name as is."""
    address = _literal(host)
    return str(address) if address is not None else host


_allowed: AllowedHosts | None = None


def configure(hosts: str | None) -> AllowedHosts | None:
    """Set the process's allow-list (from COOPLEDGER_ADAPTER_ALLOWED_HOSTS); the previous one."""
    global _allowed
    previous, _allowed = _allowed, AllowedHosts.parse(hosts)
    return previous


def restore(previous: AllowedHosts | None) -> None:
    global _allowed
    _allowed = previous


@contextmanager
def allowing(hosts: str) -> Iterator[None]:
    """The allow-list extended with `hosts` for a while (the test suite's fund server)."""
    previous = allowed_hosts()
    extra = AllowedHosts.parse(hosts)
    restore(AllowedHosts(previous.entries | extra.entries))
    try:
        yield
    finally:
        restore(previous)


def allowed_hosts() -> AllowedHosts:
    global _allowed
    if _allowed is None:
        from app.core.settings import get_settings

        _allowed = AllowedHosts.parse(get_settings().adapter_allowed_hosts)
    return _allowed


# -- which addresses are refused --------------------------------------------------------------


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling the resolver takes; else None."""
    text = host.split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0) changes nothing here
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefx." for c in text) and text[0].isdigit():
        try:  # 2130706433, 0x7f.1, 0177.0.0.1, 127.1: inet_aton reads them as getaddrinfo does
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def refusal(address: IPAddress) -> str | None:
    """Why this address may not be reached (a few words), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    for word, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return word
    if not address.is_global:  # shared (100.64/10) and the other special-purpose ranges
        return "non-public"
    return None


def _refused_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = _resolver.submit(
        socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP
    ).result(timeout=RESOLVE_SECONDS)
    out: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    return out


def _host(url: httpx.URL) -> str:
    """The host as it goes on the wire (IDNA-encoded as httpx encodes it: the name resolved
    is the name the request would have used), lowercase, no trailing dot, no brackets."""
    return _normal_host(url.raw_host.decode("ascii", errors="replace"))


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def check_url(text: str, key: str = "url") -> str:
    """The URL if an adapter may be pointed at it; UnsafeAddress (naming `key`) otherwise.

    Checked when a fund is saved: the scheme, the host as written, and the addresses its name
    resolves to now. A name that does not resolve (yet) passes: every request checks again.
    """
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise UnsafeAddress(BAD_URL(key=key), key) from None
    if url.scheme not in SCHEMES or not url.host:
        raise UnsafeAddress(NOT_HTTP(key=key), key)
    host = _host(url)
    if allowed_hosts().allows(host, url.port):
        return text
    why = _why_refused(host, _port(url), strict=False)
    if why is not None:
        raise UnsafeAddress(REFUSED_ADDRESS(key=key, why=why), key)
    return text


def _why_refused(host: str, port: int, *, strict: bool) -> str | None:
    if _refused_name(host):
        return "this machine (localhost)"
    literal = _literal(host)
    if literal is not None:
        word = refusal(literal)
        return f"a {word} address" if word else None
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError, concurrent.futures.TimeoutError):
        return "an address that does not resolve" if strict else None
    for address in addresses:
        word = refusal(address)
        if word is not None:
            return f"a host that resolves to a {word} address"
    return None if addresses or not strict else "an address that does not resolve"


# -- at request time ---------------------------------------------------------------------------


def pinned_address(url: httpx.URL) -> IPAddress | None:
    """The checked address to connect to for `url`; None for a host the operator allows (used
    as it is). UnsafeAddress when the host is, or resolves (now) to, a refused address."""
    if url.scheme not in SCHEMES or not url.host:
        raise UnsafeAddress(ONLY_HTTP())
    host = _host(url)
    if allowed_hosts().allows(host, url.port):
        return None
    why = _why_refused(host, _port(url), strict=True)
    if why is not None:
        raise UnsafeAddress(REFUSED_AT_REQUEST(host=host, why=why))
    literal = _literal(host)
    if literal is not None:
        return literal
    return _resolve(host, _port(url))[0]  # every one was checked; the first is connected to


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that checks each request's address and connects to that address.

    The request's URL gets the checked IP address; its Host header (set by the client from
    the URL as written) stays, and for https the TLS server name (SNI) and the certificate
    check use the name as written (`sni_hostname`).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        address = pinned_address(request.url)
        if address is not None:
            host = request.url.host
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=str(address))
        return super().handle_request(request)


def client(timeout: httpx.Timeout) -> httpx.Client:
    """An httpx client for a fund: guarded transport, no redirects, no environment proxies."""
    return httpx.Client(
        transport=GuardedTransport(), timeout=timeout, follow_redirects=False, trust_env=False
    )

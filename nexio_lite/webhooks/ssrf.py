"""The SSRF guard for webhook targets, at submit time and at connect time.

Submit time — `check_url(url, policy)` returns None or a one-line reason (the 422
`invalid_webhook_url` message). It does no DNS: host names other than `localhost`
and `*.localhost` are judged at connect time.

Connect time — `guarded_connector(policy, limit)` returns an `aiohttp.TCPConnector`
that never opens a socket to a refused address. Two layers, both public aiohttp
API:

1. `GuardedResolver` wraps `aiohttp.ThreadedResolver` (the system resolver) and
   refuses a host name when *any* address it resolves to is refused, before
   aiohttp caches the answer. This gives the clear error for names and is the DNS
   rebinding defence: the addresses checked are the addresses connected to.
2. `guarded_socket`, passed as the connector's `socket_factory`, is called by
   aiohttp (via aiohappyeyeballs) for every address it is about to connect to,
   resolved or literal, cached or fresh, and refuses before a socket exists.
   This layer is needed because aiohttp's `TCPConnector._resolve_host` skips the
   resolver for IP-literal hosts (`http://127.0.0.1/`, `http://[::1]/`), and it
   makes the guarantee independent of how aiohttp reaches the connect step.

Both raise `RefusedAddressError` (an OSError); aiohttp surfaces it as an
`aiohttp.ClientConnectorError` whose `os_error` is that error (see
`is_refused_connection`). The guard covers direct connections: the delivery
session must not use a proxy (`trust_env=False`, no `proxy=`) and must not follow
redirects (`allow_redirects=False`), as the sender does.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from nexio_lite.logs import get_logger

log = get_logger("nexio_lite.webhooks")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match names the refusal. `ipaddress` flags and
# `is_global` are consulted after these, so the list makes the outcome independent
# of the Python version's idea of "global" without being the only line of defence.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignment"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo"),
    (_V6("2001::/23"), "IETF protocol assignment"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "segment routing"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64 = _V6("64:ff9b::/96")

_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"\d+|0x[0-9a-f]*")


@attrs.frozen
class UrlPolicy:
    """The webhook target rules from config (`webhooks.allow_private_targets`,
    `webhooks.require_https`)."""

    allow_private_targets: bool
    require_https: bool


class RefusedAddressError(OSError):
    """A connection to a refused address was prevented; no socket was opened."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)


# --- addresses -------------------------------------------------------------------


def address_refusal(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address (e.g. "loopback"), or None when it is.

    IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    addresses are judged by the IPv4 address they embed; Teredo and IPv4-compatible
    addresses are refused outright. Everything `ipaddress` does not consider global
    is refused too."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner = address_refusal(embedded)
        return None if inner is None else f"{inner}, embeds {embedded}"
    networks: tuple[tuple[Any, str], ...] = _REFUSED_V4 if ip.version == 4 else _REFUSED_V6
    for network, label in networks:
        if ip in network:
            return label
    return _flag_refusal(ip)


def is_refused_address(ip: IPAddress) -> bool:
    """True when `ip` is loopback, private, link-local, multicast, reserved,
    unspecified, broadcast, CGNAT, documentation, benchmarking, unique- or site-local,
    or embeds such an IPv4 address; see `address_refusal`."""
    return address_refusal(ip) is not None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _flag_refusal(ip: IPAddress) -> str | None:
    flags = (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (not ip.is_global, "not globally routable"),
    )
    return next((label for flagged, label in flags if flagged), None)


def _parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- submit time -----------------------------------------------------------------


def check_url(url: str, policy: UrlPolicy) -> str | None:
    """None when `url` is acceptable as a webhook target at submit time, otherwise a
    one-line reason.

    Always refused: anything but an absolute http(s) URL with a host, longer than
    2048 characters, with whitespace, control characters or backslashes, with
    credentials (`user:pass@`), port 0, a malformed host name, or a numeric host
    that is not a canonical dotted quad (`2130706433`, `0177.0.0.1`, `0x7f.0.0.1`,
    `127.1`: the resolver would read them as an address, so they are refused
    whatever the policy, with the address they stand for in the message).
    Refused unless `allow_private_targets`: an IP literal that `is_refused_address`
    refuses, and `localhost` / `*.localhost`. Plain http is refused when
    `require_https`. Other host names are not resolved here.

    Total: it never raises, whatever the string (an invalid punycode label such as
    `xn--a`, an unclosed `[::1`, an empty label). Should a check ever fail in a way
    not foreseen here, the URL is refused (fail closed) and the failure is logged."""
    try:
        return _check_url(url, policy)
    except Exception as exc:
        log.warning("webhook_url_check_failed", error=repr(exc))
        return "webhook_url is not a valid URL"


def _check_url(url: str, policy: UrlPolicy) -> str | None:
    parsed, reason = _parse_url(url)
    if parsed is None:
        return reason
    if policy.require_https and parsed.scheme != "https":
        return "webhook_url must use https"
    return _check_host(parsed, policy.allow_private_targets)


def _parse_url(url: str) -> tuple[URL | None, str | None]:
    if len(url) > MAX_URL_LENGTH:
        return None, f"webhook_url is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        return None, "webhook_url contains whitespace, control characters or backslashes"
    try:  # UnicodeError (a bad IDNA label) is a ValueError
        parsed = URL(url)
        _ = parsed.port
        netloc = urlsplit(url).netloc
    except (ValueError, TypeError):
        return None, "webhook_url is not a valid URL"
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        return None, "webhook_url must be an absolute http(s) URL with a host"
    if parsed.raw_user is not None or "@" in netloc:
        return None, "webhook_url must not contain credentials"
    if parsed.explicit_port == 0:
        return None, "webhook_url has an invalid port"
    if "[" in netloc and ":" not in parsed.raw_host:  # `[v1.x]`: brackets hold IPv6 only
        return None, f"webhook_url host {parsed.raw_host!r} is not a valid IP address"
    return parsed, None


def _check_host(parsed: URL, allow_private: bool) -> str | None:
    host = _decoded_host(parsed)
    if host is None:
        return f"webhook_url host {parsed.raw_host!r} is not a valid host name"
    if ":" in host:
        return _check_literal(_parse_address(host), host, allow_private)
    name = host.lower().removesuffix(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return _check_numeric_host(host, allow_private)
    raw = (parsed.raw_host or "").lower().removesuffix(".")
    if len(raw) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in raw.split(".")):
        return f"webhook_url host {host!r} is not a valid host name"
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        return f"webhook_url host {host!r} is a loopback name; private targets are not allowed"
    return None


def _decoded_host(parsed: URL) -> str | None:
    """The host with its IDNA (punycode) labels decoded, or None when a label does not
    decode (`xn--a`, `xn--`, a label that does not round-trip)."""
    try:
        return parsed.host or ""
    except ValueError:
        return None


def _check_numeric_host(host: str, allow_private: bool) -> str | None:
    ip = legacy_ipv4(host.lower().removesuffix("."))
    if ip is None:
        return f"webhook_url host {host!r} is not a valid IPv4 address"
    if str(ip) != host:
        return (
            f"webhook_url host {host!r} is a non-canonical IPv4 address (it means {ip}); "
            "write it as a dotted quad"
        )
    return _check_literal(ip, host, allow_private)


def _check_literal(ip: IPAddress | None, host: str, allow_private: bool) -> str | None:
    if ip is None:
        return f"webhook_url host {host!r} is not a valid IP address"
    reason = None if allow_private else address_refusal(ip)
    if reason is None:
        return None
    return (
        f"webhook_url target {ip} is not a public address ({reason}); "
        "private targets are not allowed"
    )


def legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """`text` read as `inet_aton` reads it: one to four dot-separated parts, each
    decimal, octal (leading 0) or hex (0x); the last part fills the remaining bytes
    (`127.1` is 127.0.0.1, `2130706433` is 127.0.0.1). None when it is not one."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_inet_aton_number(part) for part in parts]
    if any(v is None for v in values):
        return None
    *head, last = [v for v in values if v is not None]
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _inet_aton_number(part: str) -> int | None:
    lowered = part.lower()
    if re.fullmatch(r"0x[0-9a-f]+", lowered):
        return int(lowered[2:], 16)
    if re.fullmatch(r"0[0-7]+", lowered):
        return int(lowered, 8)
    if re.fullmatch(r"0|[1-9][0-9]*", lowered):
        return int(lowered)
    return None


# --- connect time ----------------------------------------------------------------


class GuardedResolver(AbstractResolver):
    """Resolves with `inner` (default `aiohttp.ThreadedResolver`, the system
    resolver) and raises `RefusedAddressError` when any resolved address is refused
    (or unparseable), so a name is never connected to through a refused address."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            _refuse_if_needed(result["host"], host)
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """A `socket_factory` for `aiohttp.TCPConnector`: a plain stream socket for the
    address in `addr_info` (family, type, proto, canonname, sockaddr), or
    `RefusedAddressError` before any socket exists when the address is refused."""
    family, type_, proto, _, sockaddr = addr_info
    _refuse_if_needed(str(sockaddr[0]), str(sockaddr[0]))
    return socket.socket(family=family, type=type_, proto=proto)


def _refuse_if_needed(address: str, host: str) -> None:
    ip = _parse_address(address)
    reason = "not an IP address" if ip is None else address_refusal(ip)
    if reason is None:
        return
    target = address if address == host else f"{host} ({address})"
    raise RefusedAddressError(f"webhook target {target} refused: not a public address ({reason})")


def guarded_connector(policy: UrlPolicy, limit: int) -> aiohttp.TCPConnector:
    """A connector for webhook delivery (create it inside the running event loop).
    Unless `policy.allow_private_targets`, it cannot open a connection to a refused
    address, whether the URL names a host or an IP literal (see the module doc)."""
    if policy.allow_private_targets:
        return aiohttp.TCPConnector(limit=limit)
    return aiohttp.TCPConnector(
        limit=limit, resolver=GuardedResolver(), socket_factory=guarded_socket
    )


def is_refused_connection(exc: BaseException) -> bool:
    """True when `exc` (typically an `aiohttp.ClientConnectorError`) comes from the
    guard refusing an address, so the sender can record `refused_address`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RefusedAddressError):
            return True
        seen.add(id(current))
        os_error = getattr(current, "os_error", None)
        current = os_error if isinstance(os_error, BaseException) else current.__cause__
    return False

"""The SSRF guard: URL checks at submit time, address checks at connect time."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from nexio_lite.webhooks import ssrf
from nexio_lite.webhooks.ssrf import (
    GuardedResolver,
    RefusedAddressError,
    UrlPolicy,
    check_url,
    guarded_connector,
    guarded_socket,
    is_refused_address,
    is_refused_connection,
    legacy_ipv4,
)

STRICT = UrlPolicy(allow_private_targets=False, require_https=False)
OPEN = UrlPolicy(allow_private_targets=True, require_https=False)
HTTPS = UrlPolicy(allow_private_targets=False, require_https=True)

REFUSED_LITERAL_HOSTS = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.255.1.2",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "[::1]",
    "[::]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[fec0::1]",
    "[ff02::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::7f00:1]",
    "[2002:7f00:1::]",
    "[2002:a00:1::]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::a9fe:a9fe]",
    "[2001::1]",
    "[2001:db8::1]",
]
NON_CANONICAL_IPV4_HOSTS = [
    "2130706433",  # decimal 127.0.0.1
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hex
    "0x7f000001",
    "017700000001",
    "127.1",  # short form
    "127.0.1",
    "10.1",
    "0",
    "127.0.0.1.",  # trailing dot
]
PUBLIC_HOSTS = [
    "example.com",
    "hooks.example.com",
    "93.184.215.14",
    "8.8.8.8",
    "[2606:4700:4700::1111]",
    "[::ffff:8.8.8.8]",
    "[64:ff9b::808:808]",
    "[2002:808:808::1]",
]


# --- submit time -------------------------------------------------------------------


@pytest.mark.parametrize("host", REFUSED_LITERAL_HOSTS)
def test_literal_in_a_refused_range_is_refused(host: str) -> None:
    reason = check_url(f"http://{host}:8080/hook", STRICT)
    assert reason is not None
    assert "private targets are not allowed" in reason


@pytest.mark.parametrize("host", REFUSED_LITERAL_HOSTS)
def test_literal_in_a_refused_range_is_allowed_with_private_targets(host: str) -> None:
    assert check_url(f"http://{host}:8080/hook", OPEN) is None


@pytest.mark.parametrize("host", NON_CANONICAL_IPV4_HOSTS)
def test_non_canonical_ipv4_is_refused_whatever_the_policy(host: str) -> None:
    for policy in (STRICT, OPEN):
        reason = check_url(f"http://{host}/hook", policy)
        assert reason is not None
        assert "non-canonical IPv4" in reason


def test_non_canonical_message_names_the_address_it_stands_for() -> None:
    assert "127.0.0.1" in (check_url("http://0x7f.0.0.1/", STRICT) or "")
    assert "127.0.0.1" in (check_url("http://2130706433/", STRICT) or "")


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "1.2.3.0x", "0x", "08.0.0.1"])
def test_host_ending_in_a_number_must_be_a_valid_ipv4(host: str) -> None:
    assert check_url(f"http://{host}/", OPEN) is not None


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_public_target_is_accepted(host: str) -> None:
    assert check_url(f"http://{host}/hook", STRICT) is None
    assert check_url(f"https://{host}/hook", HTTPS) is None


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "api.localhost"])
def test_localhost_names_are_refused_unless_private_targets_allowed(host: str) -> None:
    assert "loopback name" in (check_url(f"http://{host}:9000/", STRICT) or "")
    assert check_url(f"http://{host}:9000/", OPEN) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@example.com/hook",
        "http://user@example.com/hook",
        "https://:@example.com/",
        "http://@example.com/",
        "http://user:pass@127.0.0.1/",
    ],
)
def test_credentials_are_refused_whatever_the_policy(url: str) -> None:
    for policy in (STRICT, OPEN):
        assert check_url(url, policy) == "webhook_url must not contain credentials"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "mailto:ops@example.com",
        "/hooks/nexio",
        "hooks/nexio",
        "example.com/hook",
        "//example.com/hook",
        "http:example.com",
        "http://",
        "",
    ],
)
def test_non_http_or_relative_urls_are_refused_whatever_the_policy(url: str) -> None:
    for policy in (STRICT, OPEN):
        assert check_url(url, policy) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://exa mple.com/",
        " http://example.com/",
        "http://example.com/\n",
        "http://example.com\\@127.0.0.1/",
        "http://%31%32%37.0.0.1/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://-bad-.example.com/",
        "http://[::1/",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    assert check_url(url, OPEN) is not None


def test_https_is_required_when_configured() -> None:
    assert check_url("http://example.com/hook", HTTPS) == "webhook_url must use https"
    assert check_url("https://example.com/hook", HTTPS) is None
    assert check_url("HTTPS://Example.COM/hook", HTTPS) is None


def test_url_length_limit_is_2048() -> None:
    base = "https://example.com/"
    assert check_url(base + "a" * (2048 - len(base)), STRICT) is None
    assert "2048" in (check_url(base + "a" * (2049 - len(base)), STRICT) or "")


def test_international_domain_names_are_accepted() -> None:
    assert check_url("https://bücher.example/hook", HTTPS) is None


# Hosts that break IDNA decoding, URL parsing or the host-name grammar: each must be
# refused with a reason, never with an exception (which the API would answer with 500).
NASTY_HOSTS = [
    "xn--a.example",  # punycode that decodes to an invalid code point
    "xn--a",
    "xn--",  # empty punycode label
    "xn---",
    "example.xn--",
    "xn--a.xn--b",
    "xn--zz-.example",  # does not round-trip
    "xn--ab--.example",
    "xn--a-ecp.ru",
    "a" * 64 + ".example",  # label over 63 characters
    ("a" * 63 + ".") * 4 + "example",  # name over 253 characters
    "é" * 70 + ".example",  # label over 63 characters once punycoded
    "a..b",
    ".",
    "..",
    ".example",
    "a b",
    "a\tb",
    "[::1",
    "[::1]x",
    "[]",
    "[::1%]",
    "[1:2:3:4:5:6:7:8:9]",
    "[v1.x]",  # IPvFuture: brackets hold an IPv6 address or nothing
    "[127.0.0.1]",
    "%41.example",
    "%",
    "%zz",
    "\x00",
    "\udcff.example",
    "-a.example",
    "::1",
    "1" * 3000,
]


@pytest.mark.parametrize("host", NASTY_HOSTS)
@pytest.mark.parametrize("template", ["http://{}/", "https://{}:8080/hook?x=1", "http://{}"])
@pytest.mark.parametrize("policy", [STRICT, OPEN, HTTPS])
def test_a_malformed_host_gets_a_reason_never_an_exception(
    host: str, template: str, policy: UrlPolicy
) -> None:
    reason = check_url(template.format(host), policy)
    assert isinstance(reason, str)
    assert reason.startswith("webhook_url")


def test_an_invalid_punycode_label_is_named_in_the_reason() -> None:
    reason = check_url("http://xn--a.example/", OPEN)
    assert reason == "webhook_url host 'xn--a.example' is not a valid host name"


@pytest.mark.parametrize(
    "url",
    ["", "http", "http:", "http://", "//x", "http:///x", "http://:80/", "http://a:b:c/",
     "http://a:-1/", "http://a:8o/", "http://[::1]:99999/", "http://@/", "\ud800",
     "http://" + "é" * 3000, "http://a/" + "%" * 2000, "http://a#\u2028"],
)  # fmt: skip
def test_any_string_gets_an_answer_never_an_exception(url: str) -> None:
    reason = check_url(url, OPEN)
    assert reason is None or reason.startswith("webhook_url")


def test_a_check_that_fails_unexpectedly_refuses_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(url: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ssrf, "_parse_url", broken)
    assert check_url("https://example.com/hook", OPEN) == "webhook_url is not a valid URL"


# --- addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.2", "10.1.0.2"),
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4.5", None),
        ("256.1", None),
        ("1.16777216", None),
        ("09", None),
        ("", None),
    ],
)
def test_legacy_ipv4_reads_like_inet_aton(text: str, expected: str | None) -> None:
    result = legacy_ipv4(text)
    assert (None if result is None else str(result)) == expected


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "100.127.255.255", "::ffff:192.168.0.1", "64:ff9b::a00:1", "2001:0::5"],
)
def test_is_refused_address(address: str) -> None:
    assert is_refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.4.4"])
def test_public_address_is_not_refused(address: str) -> None:
    assert not is_refused_address(ipaddress.ip_address(address))


def test_guarded_socket_refuses_before_creating_a_socket() -> None:
    addr_info = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))
    with pytest.raises(RefusedAddressError, match=r"127\.0\.0\.1"):
        guarded_socket(addr_info)
    public = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("8.8.8.8", 80))
    guarded_socket(public).close()


# --- connect time ------------------------------------------------------------------


class FixedResolver(AbstractResolver):
    """Answers every name with the given addresses: a stand-in for a DNS server."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_resolver_refuses_a_name_when_any_address_is_refused() -> None:
    """DNS rebinding: a name answering one public and one private address is refused."""
    resolver = GuardedResolver(FixedResolver("93.184.215.14", "10.0.0.7"))
    with pytest.raises(RefusedAddressError, match=r"hooks\.example\.com \(10\.0\.0\.7\)"):
        await resolver.resolve("hooks.example.com", 443)


async def test_resolver_passes_public_answers_through() -> None:
    resolver = GuardedResolver(FixedResolver("93.184.215.14", "2606:4700::1111"))
    results = await resolver.resolve("hooks.example.com", 443)
    assert [r["host"] for r in results] == ["93.184.215.14", "2606:4700::1111"]
    await resolver.close()


async def test_resolver_refuses_unparseable_answers() -> None:
    with pytest.raises(RefusedAddressError, match="not an IP address"):
        await GuardedResolver(FixedResolver("not-an-ip")).resolve("x.example", 80)


Server = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def counting_server(aiohttp_server: Server) -> tuple[TestServer, list[str]]:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = await aiohttp_server(app, host="127.0.0.1")
    return server, hits


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_guarded_connector_never_reaches_a_loopback_server(
    counting_server: tuple[TestServer, list[str]], host: str
) -> None:
    """By name (through the resolver) and by IP literal (which aiohttp does not resolve),
    the request fails before any connection and the server sees nothing."""
    server, hits = counting_server
    connector = guarded_connector(STRICT, limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.post(f"http://{host}:{server.port}/hook", data=b"{}")
    assert is_refused_connection(caught.value)
    assert "refused" in str(caught.value)
    assert hits == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_connector_reaches_the_server_when_private_targets_allowed(
    counting_server: tuple[TestServer, list[str]], host: str
) -> None:
    server, hits = counting_server
    url = f"http://{host}:{server.port}/hook"
    async with (
        aiohttp.ClientSession(connector=guarded_connector(OPEN, limit=4)) as session,
        session.post(url, data=b"{}") as response,
    ):
        assert response.status == 200
    assert hits == ["/hook"]


def test_is_refused_connection_ignores_other_errors() -> None:
    assert not is_refused_connection(ConnectionRefusedError(111, "refused"))
    assert not is_refused_connection(TimeoutError())
    assert is_refused_connection(RefusedAddressError("x"))

"""Fetch stage: statuses, validators, redirects, caps, SSRF guard, slow servers."""

from __future__ import annotations

import gzip
import http.server
import ipaddress
import socket
import socketserver
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpcore
import httpx
import pytest

from worker.errors import BlockedAddress, DeadlineExceeded, FetchError, TransientFetchError
from worker.pipeline.fetch import (
    AddressGuard,
    FetchLimits,
    IPAddress,
    NotModified,
    PinnedBackend,
    build_client,
    check_address,
    fetch,
    fetch_feed,
    fetch_page,
    parse_retry_after,
)
from worker.records import Page

HTML = b"<!doctype html><html><head><title>T</title></head><body><p>Hello</p></body></html>"
LIMITS = FetchLimits()
Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, limits: FetchLimits = LIMITS) -> httpx.Client:
    return build_client(limits, transport=httpx.MockTransport(handler))


def html(headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "text/html; charset=utf-8", **(headers or {})}, content=HTML)


# ----------------------------------------------------------------------- statuses


def test_200_returns_page_with_validators() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "gzip, deflate"
        assert "Wirewatch" in request.headers["User-Agent"]
        return html({"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})

    page = fetch_page(client_for(handler), "https://news.example.org/a", LIMITS)
    assert isinstance(page, Page)
    assert page.body == HTML
    assert page.status == 200
    assert page.content_type == "text/html; charset=utf-8"
    assert page.final_url == page.url == "https://news.example.org/a"
    assert page.etag == '"v1"'
    assert page.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_304_sends_validators_and_returns_not_modified() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(304)

    out = fetch(
        client_for(handler),
        "https://news.example.org/feed",
        LIMITS,
        etag='"abc"',
        last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
    )
    assert out == NotModified(url="https://news.example.org/feed")
    assert seen["if-none-match"] == '"abc"'
    assert seen["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_429_with_retry_after_seconds() -> None:
    client = client_for(lambda _: httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(TransientFetchError, match="429") as caught:
        fetch(client, "https://news.example.org/", LIMITS)
    assert caught.value.retry_after == 120.0


def test_429_with_retry_after_date_uses_server_clock() -> None:
    server_now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    headers = {
        "Date": format_datetime(server_now, usegmt=True),
        "Retry-After": format_datetime(server_now + timedelta(seconds=90), usegmt=True),
    }
    client = client_for(lambda _: httpx.Response(429, headers=headers))
    with pytest.raises(TransientFetchError) as caught:
        fetch(client, "https://news.example.org/", LIMITS)
    assert caught.value.retry_after == 90.0


def test_503_is_transient() -> None:
    client = client_for(lambda _: httpx.Response(503))
    with pytest.raises(TransientFetchError, match="503") as caught:
        fetch(client, "https://news.example.org/", LIMITS)
    assert caught.value.retry_after is None


def test_404_is_permanent_with_status() -> None:
    client = client_for(lambda _: httpx.Response(404))
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetch(client, "https://news.example.org/gone", LIMITS)
    assert not isinstance(caught.value, TransientFetchError)


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_network_errors_are_transient(exc: Exception) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(TransientFetchError):
        fetch(client_for(handler), "https://news.example.org/", LIMITS)


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 00:01:00 GMT", now) == 60.0
    assert parse_retry_after("Sun, 31 Dec 2023 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


# ---------------------------------------------------------------------- redirects


def test_redirects_followed_and_final_url_kept() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        return html()

    page = fetch_page(client_for(handler), "https://news.example.org/old", LIMITS)
    assert isinstance(page, Page)
    assert page.url == "https://news.example.org/old"
    assert page.final_url == "https://news.example.org/new"


def test_redirect_limit() -> None:
    hops: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(302, headers={"Location": f"/r{len(hops)}"})

    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(client_for(handler), "https://news.example.org/r0", FetchLimits(max_redirects=3))
    assert len(hops) == 4


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://2130706433/",
        "http://[::ffff:10.0.0.1]/",
        "http://0x7f.1/",
    ],
)
def test_redirect_to_private_address_refused(location: str) -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(302, headers={"Location": location})

    with pytest.raises(BlockedAddress):
        fetch(client_for(handler), "https://news.example.org/", LIMITS)
    assert requested == ["https://news.example.org/"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://news.example.org/x", "gopher://x/"])
def test_only_http_schemes(url: str) -> None:
    with pytest.raises(FetchError, match="scheme"):
        fetch(client_for(lambda _: html()), url, LIMITS)


def test_redirect_to_file_scheme_refused() -> None:
    client = client_for(lambda _: httpx.Response(302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(FetchError, match="scheme"):
        fetch(client, "https://news.example.org/", LIMITS)


@pytest.mark.parametrize("url", ["http://xn--/a", "http://xn--zz.example/a"])
def test_malformed_idn_host_is_a_fetch_error(url: str) -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return html()

    with pytest.raises(FetchError, match="invalid host name") as caught:
        fetch_page(client_for(handler), url, LIMITS)
    assert "\n" not in str(caught.value) and requested == []


def test_redirect_to_malformed_idn_host_is_a_fetch_error() -> None:
    client = client_for(lambda _: httpx.Response(302, headers={"Location": "http://xn--/next"}))
    with pytest.raises(FetchError, match="invalid redirect target"):
        fetch_page(client, "https://news.example.org/", LIMITS)


# ---------------------------------------------------------------- size and types


def test_size_cap_plain_body_streamed_without_length() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 65536

    client = client_for(lambda _: httpx.Response(200, headers={"Content-Type": "text/html"}, content=chunks()))
    with pytest.raises(FetchError, match="over 1000000 bytes"):
        fetch(client, "https://news.example.org/", FetchLimits(max_bytes=1_000_000))


def test_size_cap_from_content_length() -> None:
    client = client_for(lambda _: html({"Content-Length": "999999999"}))
    with pytest.raises(FetchError, match="Content-Length"):
        fetch(client, "https://news.example.org/", FetchLimits(max_bytes=1_000_000))


def _gzip_zeros(total: int) -> Iterator[bytes]:
    """A gzip stream of *total* zero bytes, produced incrementally (~1 KB per MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    for _ in range(total >> 20):
        out = packer.compress(block)
        if out:
            yield out
    yield packer.flush()


def test_gzip_bomb_stops_at_decoded_cap_with_small_memory() -> None:
    bomb = b"".join(_gzip_zeros(500 << 20))  # 500 MB of zeros
    assert len(bomb) < 1_000_000

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}, content=iter([bomb])
        )

    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="once decoded"):
            fetch(client_for(handler), "https://news.example.org/", LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMITS.max_bytes


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw deflate, as some servers send
    ],
)
def test_compressed_bodies_decoded(coding: str, encode: Callable[[bytes], bytes]) -> None:
    client = client_for(
        lambda _: httpx.Response(
            200, headers={"Content-Type": "text/html", "Content-Encoding": coding}, content=iter([encode(HTML)])
        )
    )
    page = fetch_page(client, "https://news.example.org/", LIMITS)
    assert isinstance(page, Page)
    assert page.body == HTML


@pytest.mark.parametrize("coding", ["gzip, gzip", "br", "zstd"])
def test_stacked_or_unknown_codings_refused(coding: str) -> None:
    client = client_for(
        lambda _: httpx.Response(200, headers={"Content-Type": "text/html", "Content-Encoding": coding}, content=b"x")
    )
    with pytest.raises(FetchError, match="coding"):
        fetch(client, "https://news.example.org/", LIMITS)


def test_corrupt_gzip_is_a_fetch_error() -> None:
    client = client_for(
        lambda _: httpx.Response(
            200, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}, content=iter([b"not gzip at all"])
        )
    )
    with pytest.raises(FetchError, match="corrupt gzip"):
        fetch(client, "https://news.example.org/", LIMITS)


def test_non_html_refused_for_pages() -> None:
    client = client_for(lambda _: httpx.Response(200, headers={"Content-Type": "image/png"}, content=b"\x89PNG"))
    with pytest.raises(FetchError, match="not HTML: image/png"):
        fetch_page(client, "https://news.example.org/logo", LIMITS)


def test_feed_types() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        kind = "application/rss+xml" if request.url.path == "/rss" else "image/png"
        return httpx.Response(200, headers={"Content-Type": kind}, content=b"<rss/>")

    client = client_for(handler)
    assert isinstance(fetch_feed(client, "https://news.example.org/rss", LIMITS), Page)
    with pytest.raises(FetchError, match="not a feed: image/png"):
        fetch_feed(client, "https://news.example.org/img", LIMITS)


# -------------------------------------------------------------------- SSRF guard


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("2130706433", "loopback"),  # decimal
        ("0177.0.0.1", "loopback"),  # octal
        ("0x7f.0.0.1", "loopback"),  # hex
        ("0x7f000001", "loopback"),
        ("127.1", "loopback"),  # short form
        ("127.0.0.1.", "loopback"),  # trailing dot
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:7f00:1", "loopback"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:0101::1", "private"),  # 6to4 of 192.168.1.1
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.1.2", "shared address space"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("240.0.0.1", "private|reserved"),
        ("255.255.255.255", "private|reserved"),
        ("08.0.0.1", "ambiguous"),
        ("1.2.3.256", "ambiguous"),
    ],
)
def test_literal_hosts_refused(host: str, reason: str) -> None:
    with pytest.raises(BlockedAddress, match=reason):
        AddressGuard().check_literal(host)


@pytest.mark.parametrize("host", ["93.184.216.34", "2606:4700::1", "::ffff:8.8.8.8", "134744072", "news.example.org"])
def test_public_and_named_hosts_pass_literal_check(host: str) -> None:
    AddressGuard().check_literal(host)


def test_decimal_url_refused_by_fetch() -> None:
    with pytest.raises(BlockedAddress, match="loopback"):
        fetch(client_for(lambda _: html()), "http://2130706433/", LIMITS)
    with pytest.raises(BlockedAddress, match="loopback"):
        fetch(client_for(lambda _: html()), "http://[::ffff:127.0.0.1]:8080/", LIMITS)


def test_allowed_networks_exemption() -> None:
    allowed = (ipaddress.ip_network("127.0.0.1/32"),)
    check_address(ipaddress.ip_address("127.0.0.1"), allowed)
    check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed)
    with pytest.raises(BlockedAddress):
        check_address(ipaddress.ip_address("127.0.0.2"), allowed)
    page = fetch(client_for(lambda _: html()), "http://127.0.0.1/", FetchLimits(allowed_networks=allowed))
    assert isinstance(page, Page)


class _RecordingBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.connected: list[str] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        self.connected.append(host)
        return httpcore.NetworkStream()


def fake_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Callable[[str, int], list[IPAddress]]:
    def resolve(host: str, _port: int) -> list[IPAddress]:
        if calls is not None:
            calls.append(host)
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


def test_pinned_backend_connects_to_checked_address() -> None:
    inner = _RecordingBackend()
    calls: list[str] = []
    guard = AddressGuard(resolver=fake_resolver({"news.example.org": ["93.184.216.34"]}, calls))
    PinnedBackend(guard, inner).connect_tcp("news.example.org", 443)
    assert inner.connected == ["93.184.216.34"]
    assert calls == ["news.example.org"]


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.5"], ["93.184.216.34", "127.0.0.1"], ["::ffff:169.254.169.254"], ["100.100.100.200"]],
)
def test_pinned_backend_refuses_if_any_answer_is_private(answers: list[str]) -> None:
    inner = _RecordingBackend()
    guard = AddressGuard(resolver=fake_resolver({"rebind.example": answers}))
    with pytest.raises(BlockedAddress, match=r"rebind\.example"):
        PinnedBackend(guard, inner).connect_tcp("rebind.example", 80)
    assert inner.connected == []


def test_pinned_backend_numeric_host_never_reaches_resolver() -> None:
    calls: list[str] = []
    guard = AddressGuard(resolver=fake_resolver({}, calls))
    with pytest.raises(BlockedAddress, match="loopback"):
        PinnedBackend(guard, _RecordingBackend()).connect_tcp("2130706433", 80)
    assert calls == []


def test_unix_sockets_refused() -> None:
    with pytest.raises(BlockedAddress):
        PinnedBackend(AddressGuard()).connect_unix_socket("/var/run/docker.sock")


# ---------------------------------------------------------- real loopback server


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def serve() -> Iterator[Callable[[type[socketserver.BaseRequestHandler]], int]]:
    servers: list[_Server] = []

    def start(handler: type[socketserver.BaseRequestHandler]) -> int:
        server = _Server(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


def test_real_transport_pins_resolution_and_keeps_host_header(serve: Callable[..., int]) -> None:
    port = serve(_FeedHandler)
    calls: list[str] = []
    limits = FetchLimits(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout=5)
    resolver = fake_resolver({"wire.test": ["127.0.0.1"]}, calls)
    with build_client(limits, resolver=resolver) as client:
        page = fetch_page(client, f"http://wire.test:{port}/feed", limits)
    assert isinstance(page, Page)
    assert page.body == f"host=wire.test:{port}".encode()
    assert calls == ["wire.test"]


def test_real_transport_refuses_loopback_without_exemption(serve: Callable[..., int]) -> None:
    port = serve(_FeedHandler)
    limits = FetchLimits(timeout=5)
    resolver = fake_resolver({"wire.test": ["127.0.0.1"]})
    with build_client(limits, resolver=resolver) as client, pytest.raises(BlockedAddress, match="loopback"):
        fetch(client, f"http://wire.test:{port}/", limits)


class _Trickle(socketserver.BaseRequestHandler):
    """Sends *prefix* then one byte every 0.25 s until the client goes away."""

    prefix = b""

    def handle(self) -> None:
        self.request.recv(65536)
        try:
            self.request.sendall(self.prefix)
            for _ in range(200):
                self.request.sendall(b"x")
                time.sleep(0.25)
        except OSError:
            return


class _TrickleBody(_Trickle):
    prefix = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"


class _TrickleHeaders(_Trickle):
    prefix = b"HTTP/1.1 200 OK\r\nX-Slow: "


@pytest.mark.parametrize("handler", [_TrickleBody, _TrickleHeaders])
def test_total_timeout_cuts_off_trickling_server(serve: Callable[..., int], handler: type[_Trickle]) -> None:
    port = serve(handler)
    limits = FetchLimits(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout=5, total_timeout=1.5)
    started = time.monotonic()
    with build_client(limits) as client, pytest.raises(DeadlineExceeded, match=r"deadline of 1\.5 s"):
        fetch(client, f"http://127.0.0.1:{port}/", limits)
    assert time.monotonic() - started < 4


class _Silent(socketserver.BaseRequestHandler):
    """Reads the request, then says nothing until the client goes away."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.recv(1)


def test_a_read_timeout_before_the_deadline_is_not_the_deadline(serve: Callable[..., int]) -> None:
    port = serve(_Silent)
    limits = FetchLimits(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout=0.5, total_timeout=30)
    with build_client(limits) as client, pytest.raises(TransientFetchError, match="timeout") as caught:
        fetch(client, f"http://127.0.0.1:{port}/", limits)
    assert not isinstance(caught.value, DeadlineExceeded)


def test_total_timeout_with_injected_transport() -> None:
    def slow() -> Iterator[bytes]:
        for _ in range(50):
            time.sleep(0.05)
            yield b"x"

    client = client_for(lambda _: httpx.Response(200, headers={"Content-Type": "text/html"}, content=slow()))
    with pytest.raises(DeadlineExceeded, match=r"deadline of 0\.3 s"):
        fetch(client, "https://news.example.org/", FetchLimits(total_timeout=0.3))


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    limits = FetchLimits(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout=2)
    with build_client(limits) as client, pytest.raises(TransientFetchError):
        fetch(client, f"http://127.0.0.1:{port}/", limits)

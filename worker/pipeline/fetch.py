"""Fetch stage: one URL in, a :class:`~worker.records.Page` (or :class:`NotModified`) out.

Pure stage: no Celery, no database. The caller builds one :class:`httpx.Client` with
:func:`build_client` and hands it to :func:`fetch` / :func:`fetch_page` / :func:`fetch_feed`.

Hostile servers are assumed. Every defence lives here:

* **SSRF guard.** Only ``http``/``https``. Every hop (the first URL and each redirect) is
  checked before it is requested: IP literals, including the legacy numeric forms that
  ``inet_aton`` accepts (``2130706433``, ``0x7f.1``, ``127.1``) and IPv6 forms embedding
  an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo), are classified with
  :mod:`ipaddress`. Host names are resolved **once** per connection by
  :class:`PinnedBackend`, *all* answers are checked, and the socket is opened to a
  checked address, so a DNS answer that changes between check and connect (rebinding)
  cannot slip through. TLS SNI and certificate checks and the ``Host`` header still use
  the name from the URL. :attr:`FetchLimits.allowed_networks` exempts explicit CIDRs.
* **Size.** The body is decoded here (gzip/deflate only, one coding) with a bounded
  inflater, so a compression bomb stops at :attr:`FetchLimits.max_bytes` of *decoded*
  output without ever holding more than that.
* **Time.** connect/read timeouts per socket operation, plus a wall-clock deadline
  (:attr:`FetchLimits.total_timeout`) covering every hop, enforced on each socket read so
  a server trickling one byte per second (headers or body) is cut off.

Outcomes: a :class:`~worker.records.Page`; :class:`NotModified` for a 304; otherwise an
exception from :mod:`worker.errors`::

    TransientFetchError   timeouts, connection errors, 408, 429, 5xx (retry_after set
                          from Retry-After when the server sends one)
    DeadlineExceeded      the wall-clock deadline passed (a TransientFetchError: worth a
                          later attempt, not an immediate one)
    FetchError            other 4xx, bad scheme/URL, too many redirects, body over the
                          cap, unwanted content type, undecodable body
    BlockedAddress        the SSRF guard refused an address (subclass of FetchError)
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Protocol

import httpcore
import httpx

from worker.errors import BlockedAddress, DeadlineExceeded, FetchError, TransientFetchError
from worker.records import Page

__all__ = [
    "FEED_ACCEPT",
    "HTML_ACCEPT",
    "AddressGuard",
    "FetchLimits",
    "NotModified",
    "PinnedBackend",
    "Resolver",
    "build_client",
    "check_address",
    "fetch",
    "fetch_feed",
    "fetch_page",
    "parse_retry_after",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: ``resolver(host, port) -> addresses``: every address the name resolves to.
Resolver = Callable[[str, int], Sequence[IPAddress]]

DEFAULT_USER_AGENT = "Wirewatch/0.1 (news ingestion; +mailto:wirewatch@localhost)"
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.5"
FEED_ACCEPT = (
    "application/rss+xml,application/atom+xml,application/rdf+xml;q=0.9,application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.1"
)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})

_REDIRECTS = frozenset(
    {
        HTTPStatus.MOVED_PERMANENTLY,
        HTTPStatus.FOUND,
        HTTPStatus.SEE_OTHER,
        HTTPStatus.TEMPORARY_REDIRECT,
        HTTPStatus.PERMANENT_REDIRECT,
    }
)
_RETRYABLE = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})
_CHUNK = 64 * 1024
# A socket read whose timeout was shortened to the deadline can return a hair early.
_DEADLINE_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one fetch; the defaults suit news pages and feeds."""

    max_bytes: int = 5_000_000  # cap on the DECODED body, enforced while streaming
    timeout: float = 20.0  # each connect / read / write
    total_timeout: float = 60.0  # wall clock for the whole fetch, every hop included
    max_redirects: int = 5
    allowed_networks: tuple[IPNetwork, ...] = ()  # exempt although private/loopback

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout <= 0 or self.total_timeout <= 0:
            msg = "FetchLimits: max_bytes, timeout and total_timeout must be positive"
            raise ValueError(msg)
        if self.max_redirects < 0:
            msg = "FetchLimits: max_redirects must be >= 0"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server answered 304 to our conditional GET: the stored copy is current."""

    url: str


# --------------------------------------------------------------------------- SSRF guard

_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier NAT
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d (also :: and ::1)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")


def _parse_numeric_host(host: str) -> ipaddress.IPv4Address | None:
    """Decode the IPv4 spellings ``inet_aton`` accepts, or None when *host* is a name.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` and ``0x7f.1`` all mean
    127.0.0.1 to the system resolver, so they must mean it to the guard too. A host that
    looks numeric but does not decode (``08.1``, ``1.2.3.256``) is refused: the C library
    and a DNS server could disagree about what it means.
    """
    if not _NUMERIC_HOST.match(host):
        return None
    parts: list[int] = []
    for part in host.split("."):
        try:
            if part.startswith("0x"):
                parts.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                parts.append(int(part, 8))
            else:
                parts.append(int(part, 10))
        except ValueError:
            raise BlockedAddress(f"ambiguous numeric host {host!r}") from None
    *head, last = parts
    if any(p > 0xFF for p in head) or last >= 1 << (8 * (4 - len(head))):
        raise BlockedAddress(f"ambiguous numeric host {host!r}")
    value = last
    for i, p in enumerate(head):
        value |= p << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _literal_address(host: str) -> IPAddress | None:
    """The address *host* spells literally (any form), or None when it is a DNS name."""
    host = host.strip("[]").rstrip(".").lower()
    host = host.split("%", 1)[0]  # IPv6 zone id: fe80::1%eth0 / %25eth0
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _parse_numeric_host(host)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: nor ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _forbidden_reason(ip: IPAddress) -> str | None:
    """Why *ip* must not be reached, or None when it is a public unicast address."""
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (
            isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_ADDRESS_SPACE,
            "shared address space (100.64.0.0/10)",
        ),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def check_address(ip: IPAddress, allowed_networks: Iterable[IPNetwork] = ()) -> None:
    """Raise :class:`BlockedAddress` unless *ip* may be fetched.

    Public unicast addresses pass; so does anything inside *allowed_networks* (an IPv6
    address carrying an IPv4 one is exempt when either form is inside). Everything else
    (loopback, private, link-local, multicast, reserved, unspecified, 100.64/10, and
    IPv6 forms that embed such an IPv4 address) is refused with the reason.
    """
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    allowed = tuple(allowed_networks)
    candidates: tuple[IPAddress, ...] = (ip,) if embedded is None else (ip, embedded)
    if any(c.version == n.version and c in n for c in candidates for n in allowed):
        return
    if embedded is not None:
        if ip in _NAT64_LOCAL:
            raise BlockedAddress(f"{ip} is a local-use NAT64 address")
        reason = _forbidden_reason(embedded)
        if reason is not None:
            raise BlockedAddress(f"{ip} embeds {embedded}, which is {reason}")
        if ip in _IPV4_COMPATIBLE:
            raise BlockedAddress(f"{ip} is a deprecated IPv4-compatible IPv6 address")
        return  # NAT64 / 6to4 / Teredo / mapped to a public IPv4 address
    reason = _forbidden_reason(ip)
    if reason is not None:
        raise BlockedAddress(f"{ip} is {reason}")


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve *host* with the system resolver (``getaddrinfo``), every answer, in order.

    Raises :class:`FetchError` when the name does not exist and
    :class:`TransientFetchError` for other resolver failures.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        no_name = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
        if exc.errno in no_name:
            raise FetchError(f"cannot resolve {host!r}: {exc.strerror}") from exc
        raise TransientFetchError(f"DNS failure for {host!r}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise FetchError(f"invalid host name {host!r}") from exc
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Resolves host names and checks every answer against the SSRF policy."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = system_resolver

    def check_literal(self, host: str) -> None:
        """Check *host* when it spells an address; DNS names are checked at connect."""
        ip = _literal_address(host)
        if ip is not None:
            check_address(ip, self.allowed_networks)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address *host* stands for, all checked; raise if any one is refused.

        Refusing the whole name when one answer is bad (rather than skipping it) keeps
        the rule simple and closes round-robin rebinding tricks.
        """
        literal = _literal_address(host)
        answers = [literal] if literal is not None else list(self.resolver(host, port))
        if not answers:
            raise FetchError(f"{host!r} resolved to no address")
        for ip in answers:
            try:
                check_address(ip, self.allowed_networks)
            except BlockedAddress as exc:
                raise BlockedAddress(f"{host!r} resolves to {exc}") from None
        return answers


# ------------------------------------------------------------- pinned network backend

# The wall-clock deadline (time.monotonic()) of the fetch running in this context; the
# socket reads below shorten their timeout to it. A ContextVar because httpcore hands
# streams no per-request state but the timeout dict.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("wirewatch_fetch_deadline", default=None)


def _bounded(timeout: float | None) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("total timeout exceeded")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation also respects the fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host (httpcore passes it), not the pinned IP, so
        # SNI and certificate verification are unaffected by pinning.
        inner = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """httpcore network backend that resolves once, checks, and connects to that address.

    httpcore calls :meth:`connect_tcp` with the URL's host; we resolve it through the
    guard (all answers checked) and open the socket to a checked address, trying them
    in order. The name is never resolved again for this connection.
    """

    def __init__(self, guard: AddressGuard, inner: httpcore.NetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._guard.resolve(host, port)
        last: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for ip in addresses:
            try:
                stream = self._inner.connect_tcp(str(ip), port, _bounded(timeout), local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        if last is None:  # unreachable: resolve() never returns an empty list
            raise FetchError(f"no address to connect to for {host!r}")
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddress(f"unix socket {path!r} refused")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with the connection pool built on :class:`PinnedBackend`.

    httpx 0.28 has no ``network_backend=`` argument, so we rebuild ``_pool`` the way
    ``HTTPTransport.__init__`` does, plus the backend. No proxy: the guard must see the
    real destination (the client is built with ``trust_env=False`` for that reason).
    """

    def __init__(self, guard: AddressGuard) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=PinnedBackend(guard),
        )


def build_client(
    limits: FetchLimits,
    *,
    transport: httpx.BaseTransport | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
    resolver: Resolver | None = None,
) -> httpx.Client:
    """A client for :func:`fetch`: redirects off (fetch follows them hop by hop).

    Without *transport* the client connects through :class:`PinnedBackend` (DNS answers
    checked and pinned; *resolver* defaults to the system one). With an injected
    *transport* (tests: ``httpx.MockTransport``) no sockets are opened, and the guard
    still checks every URL literal and redirect target in :func:`fetch`.
    """
    if transport is None:
        guard = AddressGuard(limits.allowed_networks, resolver or system_resolver)
        transport = _GuardedTransport(guard)
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(limits.timeout),
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
    )


# ------------------------------------------------------------------------ retry-after


#: The longest wait a Retry-After header can ask for (seconds).
MAX_RETRY_AFTER = 7 * 86400


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    *now* is the reference time for a date (naive means UTC). A date in the past gives
    0.0; a missing or unparseable value gives None; anything beyond
    :data:`MAX_RETRY_AFTER` (a week) gives that (a server asking for years, or a number
    too large for a float, is capped, not obeyed). Callers cap it further to their backoff.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), MAX_RETRY_AFTER))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return min(float(MAX_RETRY_AFTER), max(0.0, (when - now).total_seconds()))


def _response_time(response: httpx.Response) -> datetime:
    """The server's idea of now (its Date header) so Retry-After dates ignore clock skew."""
    date = response.headers.get("Date")
    if date:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            parsed = parsedate_to_datetime(date)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- body


class _Decompressor(Protocol):
    """The part of ``zlib.decompressobj()`` we use (its class is private)."""

    @property
    def unconsumed_tail(self) -> bytes: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def eof(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes: ...
    def flush(self, length: int = ..., /) -> bytes: ...


class _Inflater:
    """Streams one content coding back to bytes, never producing more than *limit*."""

    def __init__(self, coding: str, limit: int, url: str) -> None:
        self._coding = coding
        self._limit = limit
        self._url = url
        self._produced = 0
        self._fresh = True
        self._d = self._new()

    def _new(self, *, raw_deflate: bool = False) -> _Decompressor:
        if self._coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)

    def _take(self, piece: bytes) -> bytes:
        self._produced += len(piece)
        if self._produced > self._limit:
            raise FetchError(f"body over {self._limit} bytes once decoded: {self._url}")
        return piece

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            try:
                piece = self._d.decompress(data, self._limit - self._produced + 1)
            except zlib.error as exc:
                if self._coding == "deflate" and self._fresh:
                    # Servers send raw deflate as often as zlib-wrapped: retry once raw.
                    self._fresh = False
                    self._d = self._new(raw_deflate=True)
                    continue
                raise FetchError(f"corrupt {self._coding} body: {self._url}") from exc
            self._fresh = False
            out += self._take(piece)
            data = self._d.unconsumed_tail
            if self._d.eof:
                data = self._d.unused_data
                if data and self._coding == "gzip":  # a further gzip member
                    self._d = self._new()
                else:
                    break
        return bytes(out)

    def flush(self) -> bytes:
        try:
            return self._take(self._d.flush())
        except zlib.error as exc:
            raise FetchError(f"corrupt {self._coding} body: {self._url}") from exc


def _decoded_chunks(response: httpx.Response, limits: FetchLimits, url: str) -> Iterator[bytes]:
    """The response body, content coding removed, capped at ``limits.max_bytes``."""
    codings = [
        c.strip().lower()
        for c in response.headers.get("Content-Encoding", "").split(",")
        if c.strip() and c.strip().lower() != "identity"
    ]
    if len(codings) > 1:
        raise FetchError(f"stacked content codings refused ({', '.join(codings)}): {url}")
    coding = codings[0] if codings else None
    if coding == "x-gzip":
        coding = "gzip"
    if coding not in (None, "gzip", "deflate"):
        raise FetchError(f"unsupported content coding {coding!r}: {url}")
    declared = response.headers.get("Content-Length", "")
    if coding is None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(f"body over {limits.max_bytes} bytes (Content-Length {declared}): {url}")
    if response.is_stream_consumed:
        # Only injected transports hand back an already-read body (``httpx.Response(
        # content=b"...")``); httpx has decoded it already, so just apply the cap.
        if len(response.content) > limits.max_bytes:
            raise FetchError(f"body over {limits.max_bytes} bytes: {url}")
        yield response.content
        return
    inflater = _Inflater(coding, limits.max_bytes, url) if coding else None
    size = 0
    for raw in response.iter_raw(_CHUNK):
        # The deadline again, for injected transports that bypass our network streams.
        deadline = _DEADLINE.get()
        if deadline is not None and time.monotonic() > deadline:
            raise _deadline_error(limits, url)
        chunk = inflater.feed(raw) if inflater else raw
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(f"body over {limits.max_bytes} bytes: {url}")
        yield chunk
    if inflater:
        yield inflater.flush()


# ---------------------------------------------------------------------------- fetch


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _check_url(url: httpx.URL, guard: AddressGuard) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError(f"scheme {url.scheme!r} refused: {url}")
    host = _host(url)
    if not host:
        raise FetchError(f"URL without host: {url}")
    guard.check_literal(host)


def _host(url: httpx.URL) -> str:
    """The URL's host, decoded. httpx parses a malformed internationalized name (``xn--``
    with no valid Punycode after it) and only fails when the host is read, with
    ``idna.IDNAError`` (a UnicodeError): that is a bad link, not a crash."""
    try:
        return url.host
    except UnicodeError as exc:
        raw = url.raw_host.decode("ascii", errors="replace")
        raise FetchError(f"invalid host name {raw!r} in {url}: {exc}") from exc


def _status_error(response: httpx.Response, url: str) -> Exception:
    status = response.status_code
    if status in _RETRYABLE or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), _response_time(response))
        return TransientFetchError(f"HTTP {status} for {url}", retry_after=retry_after)
    return FetchError(f"HTTP {status} for {url}")


def fetch(
    client: httpx.Client,
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: str = "*/*",
    content_types: Callable[[str], bool] | Collection[str] | None = None,
) -> Page | NotModified:
    """GET *url* (conditionally when *etag*/*last_modified* are given), following redirects.

    Each hop is checked by the SSRF guard before it is requested; at most
    ``limits.max_redirects`` redirects are followed. *content_types* (a set of media
    types, or a predicate on the media type) is checked before the body is read; the
    refusal reads ``FetchError("not HTML: image/png")`` style with the media type.

    Returns a :class:`Page` (body decoded, at most ``limits.max_bytes``) for a 2xx, or
    :class:`NotModified` for a 304. Raises :class:`TransientFetchError` (with
    ``retry_after``) for timeouts, connection errors, 408/429/5xx, and its subclass
    :class:`DeadlineExceeded` when ``limits.total_timeout`` ran out; :class:`BlockedAddress`
    for refused addresses; :class:`FetchError` for everything else that cannot succeed
    (malformed host names included).
    """
    guard = AddressGuard(limits.allowed_networks)  # literal checks only; DNS at connect
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    token = _DEADLINE.set(time.monotonic() + limits.total_timeout)
    try:
        current = _parse_url(url)
        for _hop in range(limits.max_redirects + 1):
            _check_url(current, guard)
            result = _request_once(
                client, current, headers=headers, limits=limits, original=url, content_types=content_types
            )
            if isinstance(result, httpx.URL):
                current = result
                continue
            return result
        raise FetchError(f"more than {limits.max_redirects} redirects: {url}")
    except httpx.TimeoutException as exc:
        deadline = _DEADLINE.get()
        if deadline is not None and time.monotonic() >= deadline - _DEADLINE_SLACK:
            raise _deadline_error(limits, url) from exc
        raise TransientFetchError(f"timeout fetching {url}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientFetchError(f"network error fetching {url}: {exc!r}") from exc
    finally:
        _DEADLINE.reset(token)


def _deadline_error(limits: FetchLimits, url: str) -> DeadlineExceeded:
    return DeadlineExceeded(f"wall-clock deadline of {limits.total_timeout:.4g} s exceeded: {url}")


def _parse_url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}") from exc


def _request_once(
    client: httpx.Client,
    current: httpx.URL,
    *,
    headers: dict[str, str],
    limits: FetchLimits,
    original: str,
    content_types: Callable[[str], bool] | Collection[str] | None,
) -> Page | NotModified | httpx.URL:
    """One hop: a final outcome, or the next URL to follow."""
    request = client.build_request("GET", current, headers=headers)
    try:
        response = client.send(request, stream=True)
    except UnicodeError as exc:
        # httpx prepares the redirect request even with redirects off, reading the host of
        # the Location: a malformed internationalized name raises idna.IDNAError there.
        raise FetchError(f"invalid redirect target from {current}: {exc}") from exc
    try:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("Location")
            if not location:
                raise FetchError(f"HTTP {status} without Location for {current}")
            try:
                return current.join(location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise FetchError(f"bad redirect {location!r} from {current}") from exc
        if status == HTTPStatus.NOT_MODIFIED:
            return NotModified(url=original)
        if not response.is_success:
            raise _status_error(response, str(current))
        content_type = response.headers.get("Content-Type", "")
        media = _media_type(content_type)
        if content_types is not None and not _type_ok(media, content_types):
            kind = _KIND_LABELS.get(id(content_types), "an accepted type")
            raise FetchError(f"not {kind}: {media or '(no content type)'}")
        body = b"".join(_decoded_chunks(response, limits, str(current)))
        return Page(
            url=original,
            final_url=str(current),
            status=status,
            content_type=content_type,
            body=body,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )
    finally:
        response.close()


def _type_ok(media: str, allowed: Callable[[str], bool] | Collection[str]) -> bool:
    return allowed(media) if callable(allowed) else media in allowed


def _is_feed_type(media: str) -> bool:
    """Feeds arrive under many labels; the parser decides. Images, video, PDF... do not."""
    return (
        media == ""
        or media.startswith("text/")
        or media in ("application/xml", "application/octet-stream")
        or (media.startswith("application/") and media.endswith(("+xml", "/rss", "/atom")))
    )


_KIND_LABELS = {id(HTML_TYPES): "HTML", id(_is_feed_type): "a feed"}


def fetch_page(
    client: httpx.Client,
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Page | NotModified:
    """Fetch an article page: :func:`fetch` restricted to HTML-ish types.

    Only text/html, application/xhtml+xml and text/plain are accepted; anything else
    raises ``FetchError("not HTML: image/png")`` before the body is read.
    """
    return fetch(
        client,
        url,
        limits,
        etag=etag,
        last_modified=last_modified,
        accept=HTML_ACCEPT,
        content_types=HTML_TYPES,
    )


def fetch_feed(
    client: httpx.Client,
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Page | NotModified:
    """Fetch a feed: :func:`fetch` accepting XML, RSS, Atom, RDF and text types (or none)."""
    return fetch(
        client,
        url,
        limits,
        etag=etag,
        last_modified=last_modified,
        accept=FEED_ACCEPT,
        content_types=_is_feed_type,
    )

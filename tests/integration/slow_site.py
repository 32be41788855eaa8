"""A loopback news site with a page that trickles forever, next to a strike report: the
scenario of `ingest --once` holding everything back for one slow page (issue 14). Used by
tests/integration/test_ingest_once.py and bench/slow_source.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Written for these tests: a strike report the extractor must turn into an incident.
GOOD = (
    "ODESA (Reuters) - A Russian drone strike on a grain terminal in the port city of Izmail killed four "
    "dock workers and injured nine on Wednesday night, the regional governor said.\n\n"
    "Firefighters worked until morning to put out the blaze, and two warehouses were destroyed."
)
QUIET = (
    "LISBON (Reuters) - The city council approved a new tram line on Tuesday after a two-year debate. "
    "Construction starts in the spring and the line should open within three years, the mayor said."
)
PUBLISHED = datetime(2024, 3, 14, 8, 0, tzinfo=UTC)


@dataclass
class Site:
    """A feed and its pages on 127.0.0.1. While `slow` is set, /a/slow.html sends its headers
    and then one byte every 0.2 s for as long as the client keeps reading."""

    links: list[str] = field(default_factory=lambda: ["/a/slow.html", "/a/good.html"])
    slow: bool = True
    base: str = ""
    slow_started_at: list[datetime] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def feed_url(self) -> str:
        return f"{self.base}/feed.xml"

    def feed(self) -> bytes:
        items = "".join(
            f"<item><title>Story {n}</title><link>{self.base + link if link.startswith('/') else link}</link>"
            f"<guid>story-{n}</guid><pubDate>{format_datetime(PUBLISHED)}</pubDate></item>"
            for n, link in enumerate(self.links)
        )
        xml = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback Wire</title>{items}</channel></rss>'
        return xml.encode()


def _page(title: str, text: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def serve(site: Site) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/feed.xml":
                self._send(site.feed(), "application/rss+xml")
            elif path == "/a/good.html":
                self._send(_page("Drone strike hits grain terminal", GOOD), "text/html; charset=utf-8")
            elif path == "/a/slow.html" and site.slow:
                self._trickle()
            elif path == "/a/slow.html":
                self._send(_page("Council approves tram line", QUIET), "text/html; charset=utf-8")
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _trickle(self) -> None:
            with site.lock:
                site.slow_started_at.append(datetime.now(UTC))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:  # the client gave up
                return

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

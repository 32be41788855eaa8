"""A loopback news site with a page that trickles forever, next to a strike report: the
scenario of `ingest --once` holding everything back for one slow page (issue 14). Used by
tests/integration/test_ingest_once.py and bench/slow_source.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import ThreadingHTTPServer

from tests.integration.loopback import QuietHandler, start

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
HTML = {"Content-Type": "text/html; charset=utf-8"}


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
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802  # http.server's name
            path = self.path.split("?")[0]
            if path == "/feed.xml":
                self.send(200, site.feed(), {"Content-Type": "application/rss+xml"})
            elif path == "/a/good.html":
                self.send(200, _page("Drone strike hits grain terminal", GOOD), HTML)
            elif path == "/a/slow.html" and site.slow:
                self._trickle()
            elif path == "/a/slow.html":
                self.send(200, _page("Council approves tram line", QUIET), HTML)
            else:
                self.send_error(404)

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

    server = start(Handler)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    return server

"""A small news site served on loopback: RSS/Atom feeds per outlet and HTML article pages.

    NewsSite(outlets).publish(stories) -> appearance time (epoch seconds)
    site.start() -> base URL ("http://127.0.0.1:PORT")          site.stop()
    site.feed_url(outlet_slug), site.page_url(story)

Used by ``wirewatch demo`` (the bundled articles in ``site/articles.jsonl``) and by
``bench/e2e.py`` (thousands of generated ones, published in waves). Pages carry navigation,
related links and a footer, so the service's main-text extraction has boilerplate to drop.
Feeds answer ``If-None-Match`` with 304 when nothing was published since the validator was
issued. Stdlib only: ``ThreadingHTTPServer`` on 127.0.0.1, port chosen by the OS.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

SITE_DIR = Path(__file__).parent / "site"


@dataclass(frozen=True, slots=True)
class Outlet:
    slug: str
    name: str
    kind: str = "rss"  # rss | atom


@dataclass(frozen=True, slots=True)
class Story:
    id: str
    outlet: str
    title: str
    published: datetime
    text: str  # paragraphs separated by blank lines
    author: str | None = None

    @property
    def path(self) -> str:
        return f"/{self.outlet}/{self.published:%Y/%m}/{self.id}.html"

    @property
    def summary(self) -> str:
        first = self.text.split("\n\n", 1)[0]
        return first if len(first) <= 300 else first[:297] + "..."


DEMO_OUTLETS = (
    Outlet("meridian", "Meridian Wire", "rss"),
    Outlet("northgate", "Northgate Post", "atom"),
    Outlet("coastline", "Coastline Daily", "rss"),
)


def load_demo_stories(path: Path = SITE_DIR / "articles.jsonl") -> list[Story]:
    """The bundled sample articles (fictional events, written for this project)."""
    stories = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            stories.append(
                Story(
                    id=d["id"],
                    outlet=d["outlet"],
                    title=d["title"],
                    text=d["text"],
                    published=datetime.fromisoformat(d["published"]).astimezone(UTC),
                    author=d.get("author"),
                )
            )
    return stories


class NewsSite:
    """Thread-safe: stories may be published while the server runs."""

    def __init__(self, outlets: Iterable[Outlet], *, feed_size: int = 100, tracking_params: bool = True) -> None:
        self.outlets = {o.slug: o for o in outlets}
        self.feed_size = feed_size
        self.tracking_params = tracking_params  # feed links carry ?utm_... (the service strips them)
        self._lock = threading.Lock()
        self._stories: dict[str, list[Story]] = {slug: [] for slug in self.outlets}
        self._pages: dict[str, Story] = {}
        self._feeds: dict[str, tuple[bytes, str]] = {}  # outlet -> (body, etag), rebuilt on publish
        self.appeared: dict[str, float] = {}  # page path -> epoch seconds it first appeared in a feed
        self.stats = {"feed_200": 0, "feed_304": 0, "pages": 0, "not_found": 0}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- content -----------------------------------------------------------------------------

    def publish(self, stories: Iterable[Story]) -> float:
        """Make stories visible (pages and feed items) now; returns the appearance time."""
        with self._lock:
            now = time.time()
            touched = set()
            for st in stories:
                if st.outlet not in self.outlets:
                    raise ValueError(f"unknown outlet {st.outlet!r}")
                self._stories[st.outlet].append(st)
                self._pages[st.path] = st
                self.appeared.setdefault(st.path, now)
                touched.add(st.outlet)
            for slug in touched:
                self._feeds.pop(slug, None)
            return now

    def feed_url(self, slug: str) -> str:
        return f"{self.base_url}/{slug}/{'atom' if self.outlets[slug].kind == 'atom' else 'rss'}.xml"

    def page_url(self, story: Story) -> str:
        return self.base_url + story.path

    def _item_link(self, story: Story) -> str:
        return self.page_url(story) + ("?utm_source=feed&utm_medium=rss" if self.tracking_params else "")

    def feed(self, slug: str) -> tuple[bytes, str]:
        with self._lock:
            if slug not in self._feeds:
                items = sorted(self._stories[slug], key=lambda s: s.published, reverse=True)[: self.feed_size]
                build = _atom if self.outlets[slug].kind == "atom" else _rss
                body = build(self, self.outlets[slug], items).encode("utf-8")
                self._feeds[slug] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            return self._feeds[slug]

    def page(self, path: str) -> Story | None:
        with self._lock:
            return self._pages.get(path)

    # -- server ------------------------------------------------------------------------------

    def start(self) -> str:
        site = self

        class Handler(_Handler):
            pass

        Handler.site = site
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="news-site", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> NewsSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    site: NewsSite
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo's output is its table, not an access log."""

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(0 if status == 304 else len(body)))
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        site = self.site
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] in site.outlets and parts[1] in ("rss.xml", "atom.xml"):
            body, etag = site.feed(parts[0])
            kind = site.outlets[parts[0]].kind
            ctype = "application/atom+xml; charset=utf-8" if kind == "atom" else "application/rss+xml; charset=utf-8"
            inm = self.headers.get("If-None-Match")
            if inm is not None and etag in [t.strip().removeprefix("W/") for t in inm.split(",")]:
                site.stats["feed_304"] += 1
                self._send(304, b"", ctype, {"ETag": etag, "Cache-Control": "max-age=0"})
                return
            site.stats["feed_200"] += 1
            self._send(200, body, ctype, {"ETag": etag, "Cache-Control": "max-age=0"})
            return
        if path in ("", "/"):
            self._send(200, _index(site).encode("utf-8"), "text/html; charset=utf-8")
            return
        story = site.page(path)
        if story is None:
            site.stats["not_found"] += 1
            self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html; charset=utf-8")
            return
        site.stats["pages"] += 1
        self._send(200, _page(site, story).encode("utf-8"), "text/html; charset=utf-8")


def _rss(site: NewsSite, outlet: Outlet, items: list[Story]) -> str:
    entries = "".join(
        f"""
    <item>
      <title>{escape(s.title)}</title>
      <link>{escape(site._item_link(s))}</link>
      <guid isPermaLink="false">{escape(outlet.slug + ":" + s.id)}</guid>
      <pubDate>{format_datetime(s.published, usegmt=True)}</pubDate>
      <description>{escape(s.summary)}</description>
    </item>"""
        for s in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>{escape(outlet.name)}: World</title>
    <link>{escape(site.base_url)}/</link>
    <description>World news from {escape(outlet.name)} (sample site bundled with Wirewatch)</description>
    <language>en</language>{entries}
  </channel>
</rss>
"""


def _atom(site: NewsSite, outlet: Outlet, items: list[Story]) -> str:
    updated = max((s.published for s in items), default=datetime(2025, 1, 1, tzinfo=UTC))
    entries = "".join(
        f"""
  <entry>
    <title>{escape(s.title)}</title>
    <link rel="alternate" type="text/html" href="{escape(site._item_link(s))}"/>
    <id>tag:{outlet.slug}.example,2025:{escape(s.id)}</id>
    <published>{s.published.isoformat()}</published>
    <updated>{s.published.isoformat()}</updated>
    <summary>{escape(s.summary)}</summary>
    <author><name>{escape(s.author or outlet.name)}</name></author>
  </entry>"""
        for s in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{escape(outlet.name)}: World</title>
  <id>tag:{outlet.slug}.example,2025:world</id>
  <link rel="self" href="{escape(site.feed_url(outlet.slug))}"/>
  <updated>{updated.isoformat()}</updated>{entries}
</feed>
"""


def _chrome(site: NewsSite, outlet: Outlet, title: str, main: str, head: str = "") -> str:
    nav = " | ".join(f'<a href="/{o.slug}/">{html.escape(o.name)}</a>' for o in site.outlets.values())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)} | {html.escape(outlet.name)}</title>
{head}
</head>
<body>
<header class="site-header">
  <nav class="main-nav"><a href="/">Home</a> | World | Business | Sport | Opinion | {nav}</nav>
  <div class="breaking">Subscribe to our newsletter for the day's top stories</div>
</header>
{main}
<footer class="site-footer">
  <p>&copy; 2025 {html.escape(outlet.name)}. All rights reserved. Terms of use | Privacy policy | Contact us</p>
  <p>This is a sample site bundled with Wirewatch; its reports describe fictional events.</p>
</footer>
</body>
</html>
"""


def _page(site: NewsSite, story: Story) -> str:
    outlet = site.outlets[story.outlet]
    paras = "\n".join(f"    <p>{html.escape(p)}</p>" for p in story.text.split("\n\n"))
    with site._lock:
        others = [s for s in site._stories[story.outlet] if s.id != story.id][:3]
    related = "".join(f'<li><a href="{s.path}">{html.escape(s.title)}</a></li>' for s in others)
    byline = f'<p class="byline">By <span class="author">{html.escape(story.author)}</span></p>' if story.author else ""
    head = f"""<link rel="canonical" href="{html.escape(site.page_url(story))}">
<meta property="og:title" content="{html.escape(story.title)}">
<meta property="article:published_time" content="{story.published.isoformat()}">
<meta name="author" content="{html.escape(story.author or outlet.name)}">"""
    main = f"""<main>
  <article>
    <h1>{html.escape(story.title)}</h1>
    {byline}
    <time datetime="{story.published.isoformat()}">{story.published:%d %B %Y %H:%M} GMT</time>
    <div class="article-body">
{paras}
    </div>
  </article>
  <aside class="related"><h2>Related stories</h2><ul>{related}</ul></aside>
</main>"""
    return _chrome(site, outlet, story.title, main, head)


def _index(site: NewsSite) -> str:
    outlet = next(iter(site.outlets.values()))
    links = "".join(
        f'<li><a href="{site.feed_url(o.slug)}">{html.escape(o.name)} feed</a></li>' for o in site.outlets.values()
    )
    return _chrome(site, outlet, "Sample news site", f"<main><h1>Sample news site</h1><ul>{links}</ul></main>")

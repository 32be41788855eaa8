"""Issue 11 points 1, 2, 3 and 11 against the real stores (SQLite and PostgreSQL) and a
loopback site: distinct articles stay distinct, every duplicate says why, feed items keep
their identity and are fetched again when they change, one bad entry never blocks its feed,
and undated entries get the time they were first seen."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import ThreadingHTTPServer

import pytest
from sqlmodel import col, func, select

from tests.conftest import make_settings
from tests.integration.loopback import QuietHandler, start, stop
from worker import jobs
from worker.records import Entry as EntryRecord
from worker.resources import Resources
from worker.store import repo
from worker.store.db import session_scope
from worker.store.models import Article, Entry, Failure, Feed, IncidentHistory, Report

pytestmark = pytest.mark.integration

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><article><h1>{title}</h1><p>{text}</p></article></body></html>"""


@dataclass
class Site:
    """Loopback pages keyed by path (with query); tests change them between polls."""

    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    base: str = ""
    hits: dict[str, int] = field(default_factory=dict)

    def html(self, path: str, title: str, text: str, head: str = "") -> None:
        self.pages[path] = ("text/html; charset=utf-8", PAGE.format(title=title, text=text, head=head).encode())

    def feed(self, path: str, items: list[str]) -> str:
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{"".join(items)}</channel></rss>'
        self.pages[path] = ("application/rss+xml", body.encode())
        return self.base + path


def _serve(site: Site, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802  # http.server's name
            path = self.path if self.path in site.pages else self.path.split("?")[0]  # tracking params
            site.hits[path] = site.hits.get(path, 0) + 1
            ctype, body = site.pages.get(path, ("text/plain", b"not found"))
            self.send(200 if path in site.pages else 404, body, {"Content-Type": ctype})

    server = start(Handler)
    site.base = f"http://{host}:{server.server_address[1]}"
    return server


@pytest.fixture
def web() -> Iterator[Site]:
    s = Site()
    server = _serve(s)
    yield s
    stop(server)


@pytest.fixture
def other_web() -> Iterator[Site]:
    """Another site (another host name for loopback)."""
    s = Site()
    server = _serve(s, host="localhost")
    yield s
    stop(server)


def item(link: str, title: str, guid: str | None = None, date: datetime | None = None, extra: str = "") -> str:
    g = f"<guid>{guid}</guid>" if guid else ""
    d = f"<pubDate>{format_datetime(date)}</pubDate>" if date else ""
    return f"<item><title>{title}</title><link>{link}</link>{g}{d}{extra}</item>"


def story(n: int) -> str:
    return (
        f"Story number {n}: the council of district {n} met on Tuesday to discuss the water supply, "
        f"road repairs and a new school, officials said after a meeting that lasted {n + 2} hours."
    )


def poll_and_fetch(res: Resources, feed_url: str) -> list[int]:
    with session_scope(res.engine) as s:
        repo.add_feed(s, feed_url, interval=60)
        fid = s.exec(select(Feed.id).where(Feed.url == feed_url)).one()
        s.get_one(Feed, fid).lease_until = None
    assert fid is not None
    assert fid in jobs.tick(res, all_feeds=True)
    ids = jobs.poll_feed(res, fid)
    for eid in ids:
        jobs.fetch_entry(res, eid)
    return ids


def statuses(res: Resources) -> dict[str, str]:
    with session_scope(res.engine) as s:
        return {e.url: e.status for e in s.exec(select(Entry)).all()}


def count(res: Resources, model: type) -> int:
    with session_scope(res.engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


# --- 1. distinct articles stay distinct; duplicates say why ----------------------------------


def test_stories_told_apart_by_their_query_string_stay_distinct(res: Resources, web: Site) -> None:
    links = []
    for n in range(1, 11):
        path = f"/news.php?storyid={n}&utm_source=rss"
        web.html(path, f"Council {n}", story(n))
        links.append(item(web.base + path, f"Council {n}"))
    poll_and_fetch(res, web.feed("/feed.xml", links))
    assert set(statuses(res).values()) == {"fetched"}
    assert count(res, Article) == 10


def test_pages_declaring_the_home_page_canonical_stay_distinct(res: Resources, web: Site) -> None:
    links = []
    for n in range(1, 11):
        path = f"/story/{n}"
        web.html(path, f"Council {n}", story(n), head='<link rel="canonical" href="/">')
        links.append(item(web.base + path, f"Council {n}"))
    poll_and_fetch(res, web.feed("/feed.xml", links))
    assert count(res, Article) == 10
    with session_scope(res.engine) as s:
        assert not s.exec(select(Article).where(col(Article.canonical_url).endswith(web.base + "/"))).first()


def test_another_site_cannot_suppress_an_article_through_its_canonical(
    res: Resources, web: Site, other_web: Site
) -> None:
    real = web.base + "/real/story"
    web.html("/real/story", "Council", story(1))
    other_web.html("/copy", "Council copy", story(2), head=f'<link rel="canonical" href="{real}">')
    poll_and_fetch(res, other_web.feed("/feed.xml", [item(other_web.base + "/copy", "copy")]))
    poll_and_fetch(res, web.feed("/feed.xml", [item(real, "real")]))
    assert statuses(res) == {other_web.base + "/copy": "fetched", real: "fetched"}
    with session_scope(res.engine) as s:
        assert s.exec(select(Article).where(Article.canonical_url == real)).one().url == real


def test_every_duplicate_entry_says_why(res: Resources, web: Site) -> None:
    web.html("/a/1", "Council", story(1))
    web.html("/b/1", "Council again", story(1), head=f'<link rel="canonical" href="{web.base}/a/1">')
    poll_and_fetch(res, web.feed("/one.xml", [item(web.base + "/a/1?utm_medium=rss", "Council")]))
    poll_and_fetch(res, web.feed("/two.xml", [item(web.base + "/a/1", "Council")]))  # same article, 2nd feed
    poll_and_fetch(res, web.feed("/three.xml", [item(web.base + "/b/1", "Council again")]))  # canonical, same text
    with session_scope(res.engine) as s:
        (first,) = s.exec(select(Article)).all()
        dups = s.exec(select(Entry).where(Entry.status == "duplicate")).all()
        assert len(dups) == 2
        for e in dups:
            assert e.article_id == first.id
            assert e.reason and f"article {first.id}" in e.reason
            assert repo.entry_reasons(s, e.feed_id)  # the store API the operator commands read


# --- 2. feed item identity -------------------------------------------------------------------


def test_one_guid_with_two_links_stores_both(res: Resources, web: Site) -> None:
    web.html("/a", "A", story(1))
    web.html("/b", "B", story(2))
    poll_and_fetch(res, web.feed("/f.xml", [item(web.base + "/a", "A", "same"), item(web.base + "/b", "B", "same")]))
    assert statuses(res) == {web.base + "/a": "fetched", web.base + "/b": "fetched"}


TOLL = "KYIV (Reuters) - A missile strike killed {n} people in Kharkiv on Monday, the regional governor said."


def test_an_updated_item_is_fetched_again_and_the_incident_history_shows_the_change(res: Resources, web: Site) -> None:
    when = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    web.html("/strike", "Strike kills three", TOLL.format(n="three"))
    url = web.feed("/f.xml", [item(web.base + "/strike", "Strike kills three", "s1", when)])
    poll_and_fetch(res, url)
    jobs.extract_articles(res)
    with session_scope(res.engine) as s:
        (report,) = s.exec(select(Report)).all()
        incident_id = report.incident_id
        assert incident_id is not None and report.killed_best == 3

    # The outlet updates the story: new title, new date, new toll. Same guid, same link.
    web.html("/strike", "Strike kills 42", TOLL.format(n="42"))
    web.feed("/f.xml", [item(web.base + "/strike", "Strike kills 42", "s1", when.replace(hour=18))])
    refetched = poll_and_fetch(res, url)
    assert len(refetched) == 1 and web.hits["/strike"] == 2
    jobs.extract_articles(res)
    with session_scope(res.engine) as s:
        (article,) = s.exec(select(Article)).all()
        assert "42" in article.text and article.title == "Strike kills 42"
        (report,) = s.exec(select(Report)).all()
        assert report.killed_best == 42 and report.incident_id == incident_id
        history = s.exec(select(IncidentHistory).where(IncidentHistory.incident_id == incident_id)).all()
        assert any(h.changes.get("killed_best") == [3, 42] for h in history), [h.changes for h in history]
        (entry,) = s.exec(select(Entry)).all()
        assert entry.revision == 1 and entry.reason and "updated" in entry.reason

    # Polled again unchanged: not fetched a third time.
    poll_and_fetch(res, url)
    assert web.hits["/strike"] == 2


# --- 3. one bad entry never blocks its feed --------------------------------------------------


def test_bad_entries_are_recorded_against_their_feed_and_the_rest_is_stored(res: Resources, web: Site) -> None:
    for n in range(3):
        web.html(f"/ok/{n}", f"ok {n}", story(n))
    items = [
        item(web.base + "/ok/0", "fine"),
        item(web.base + "/" + "x" * 2100, "link too long"),
        item(web.base + "/ok/1", "guid too long", guid="g" * 2100),
        item(web.base + "/ok/2", "NUL&#0; in the title"),
    ]
    url = web.feed("/f.xml", items)
    poll_and_fetch(res, url)
    with session_scope(res.engine) as s:
        feed = s.exec(select(Feed).where(Feed.url == url)).one()
        assert feed.lease_until is None and feed.error_count == 0
        stored = {e.url: e for e in s.exec(select(Entry)).all()}
        assert set(stored) == {web.base + "/ok/0", web.base + "/ok/2"}
        assert all(e.status == "fetched" for e in stored.values())
        assert "\x00" not in (stored[web.base + "/ok/2"].title or "")
        failures = s.exec(select(Failure)).all()
        assert all(f.feed_id == feed.id for f in failures)
        # The two oversize entries, each with its reason (and the &#0; that made the XML malformed).
        assert len([f for f in failures if "longer than" in f.reason]) == 2, [f.reason[:150] for f in failures]


def test_the_store_refuses_oversize_values_itself_and_keeps_the_rest(res: Resources) -> None:
    with session_scope(res.engine) as s:
        repo.add_feed(s, "https://n.example/feed")
        fid = s.exec(select(Feed.id)).one()
        assert fid is not None
        entries = [
            EntryRecord(guid="ok", url="https://n.example/ok"),
            EntryRecord(guid="long", url="https://n.example/" + "y" * 3000),
            EntryRecord(guid="nul", url="https://n.example/nul", title="a\x00b"),
        ]
        ids = repo.add_entries(s, fid, entries)
    assert len(ids) == 2
    with session_scope(res.engine) as s:
        assert {e.guid for e in s.exec(select(Entry)).all()} == {"ok", "nul"}
        (failure,) = s.exec(select(Failure)).all()
        assert failure.feed_id == fid and "url" in failure.reason


def test_a_feed_of_70000_entries_is_stored_whole(pg_res: Resources) -> None:
    n = 70_000
    entries = [EntryRecord(guid=f"g{i}", url=f"https://n.example/a/{i}") for i in range(n)]
    with session_scope(pg_res.engine) as s:
        repo.add_feed(s, "https://n.example/feed")
        fid = s.exec(select(Feed.id)).one()
        assert fid is not None
        assert len(repo.add_entries(s, fid, entries)) == n
    with session_scope(pg_res.engine) as s:
        assert len(repo.add_entries(s, fid, entries)) == 0  # a second poll adds nothing
    assert count(pg_res, Entry) == n


@pytest.fixture
def pg_res(pg_url: str) -> Iterator[Resources]:
    from tests.conftest import _reset

    _reset(pg_url)
    r = Resources.from_settings(make_settings(pg_url))
    yield r
    r.close()


# --- 11. dates -------------------------------------------------------------------------------


def test_an_undated_entry_gets_the_time_it_was_first_seen(res: Resources, web: Site) -> None:
    web.html("/a", "A", story(1))
    web.html("/b", "B", story(2))
    items = [item(web.base + "/a", "A"), item(web.base + "/b", "B", date=datetime(2099, 1, 1, tzinfo=UTC))]
    poll_and_fetch(res, web.feed("/f.xml", items))
    with session_scope(res.engine) as s:
        seen = {e.url: e.seen_at for e in s.exec(select(Entry)).all()}
        for a in s.exec(select(Article)).all():
            assert a.published_at == seen[a.url]

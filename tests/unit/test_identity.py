"""Issue 11 points 1, 2, 3, 5 and 11, the pure parts: what identifies an article and a feed
item, what a feed entry may carry into the database, Retry-After caps and publication dates.

The store-level counterparts (real PostgreSQL and SQLite) are in
``tests/integration/test_entries.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.jobs import backoff_seconds
from worker.pipeline.feeds import MAX_FIELD_CHARS, parse_feed
from worker.pipeline.fetch import parse_retry_after
from worker.pipeline.normalize import canonical_url, normalize, same_site, trusted_canonical
from worker.records import Entry, Page

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- 1. article identity ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "https://n.example/news.php?storyid={}",
        "https://n.example/view?newsId={}&utm_source=rss",
        "https://n.example/index.php?art={}&fbclid=xyz",
        "https://n.example/show.asp?section=world&sid={}",
    ],
)
def test_query_parameters_that_identify_content_are_kept(template: str) -> None:
    urls = {canonical_url(template.format(n)) for n in range(1, 11)}
    assert len(urls) == 10


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://n.example/a?utm_source=x&utm_medium=rss&id=3", "https://n.example/a?id=3"),
        ("https://n.example/a?gclid=1&fbclid=2&mc_cid=3&igshid=4", "https://n.example/a"),
        ("https://n.example/a?b=2&a=1", "https://n.example/a?a=1&b=2"),
        ("https://n.example/a?p=7#comments", "https://n.example/a?p=7"),
    ],
)
def test_only_known_tracking_parameters_and_fragments_are_stripped(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_same_site_compares_registrable_domains() -> None:
    assert same_site("https://www.bbc.co.uk/news/1", "https://news.bbc.co.uk/2")
    assert not same_site("https://a.blogspot.com/1", "https://b.blogspot.com/1")  # a public suffix
    assert not same_site("https://evil.example/1", "https://victim.example/1")
    assert same_site("http://127.0.0.1:8001/a", "http://127.0.0.1:8002/b")
    assert not same_site("http://127.0.0.1/a", "http://127.0.0.2/a")


@pytest.mark.parametrize(
    ("canonical", "trusted"),
    [
        ("https://daily.example/world/story-1", True),
        ("/world/story-1", True),  # relative: resolved against the page
        ("https://other.example/world/story-1", False),  # another site cannot claim an article
        ("/", False),  # the home page is a template's mistake, not this article
        ("https://daily.example", False),
        ("mailto:x@daily.example", False),
    ],
)
def test_a_canonical_link_is_trusted_only_on_the_same_site(canonical: str, trusted: bool) -> None:
    got = trusted_canonical(canonical, "https://daily.example/a/1?storyid=1")
    assert (got is not None) == trusted


HTML = """<!doctype html><html><head><title>T</title><link rel="canonical" href="{canonical}"></head>
<body><article><p>An artillery barrage hit the northern district of the town on Tuesday, killing four people
and wounding eleven, the regional health office said in a statement.</p></article></body></html>"""


def _page(url: str, canonical: str) -> Page:
    body = HTML.format(canonical=canonical).encode()
    return Page(url=url, final_url=url, status=200, content_type="text/html; charset=utf-8", body=body)


def test_normalize_ignores_a_canonical_on_another_site() -> None:
    url = "https://attacker.example/copy"
    art = normalize(_page(url, "https://victim.example/real-story"), Entry(guid="g", url=url))
    assert art.canonical_url == url


def test_normalize_ignores_a_canonical_pointing_home() -> None:
    url = "https://daily.example/news.php?storyid=4"
    art = normalize(_page(url, "/"), Entry(guid="g", url=url))
    assert art.canonical_url == url


# --- 2. feed item identity ------------------------------------------------------------------


def _rss(items: str) -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def test_item_fingerprint_changes_with_title_date_or_content() -> None:
    base = "<item><title>{t}</title><link>https://n.example/a</link><guid>g1</guid><pubDate>{d}</pubDate>{c}</item>"
    d1, d2 = "Mon, 30 Nov 2026 10:00:00 GMT", "Mon, 30 Nov 2026 18:00:00 GMT"
    (a,) = parse_feed(_rss(base.format(t="Three killed", d=d1, c="")), "https://n.example/feed", now=NOW).entries
    (b,) = parse_feed(_rss(base.format(t="Three killed", d=d1, c="")), "https://n.example/feed", now=NOW).entries
    (c,) = parse_feed(_rss(base.format(t="42 killed", d=d1, c="")), "https://n.example/feed", now=NOW).entries
    (d,) = parse_feed(_rss(base.format(t="Three killed", d=d2, c="")), "https://n.example/feed", now=NOW).entries
    (e,) = parse_feed(
        _rss(base.format(t="Three killed", d=d1, c="<description>toll rises</description>")),
        "https://n.example/feed",
        now=NOW,
    ).entries
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, d.fingerprint, e.fingerprint}) == 4


def test_same_guid_with_two_links_gives_two_identities() -> None:
    items = (
        "<item><title>A</title><link>https://n.example/a</link><guid>same</guid></item>"
        "<item><title>B</title><link>https://n.example/b</link><guid>same</guid></item>"
    )
    a, b = parse_feed(_rss(items), "https://n.example/feed", now=NOW).entries
    assert a.guid == b.guid and a.url != b.url
    assert a.identity != b.identity


# --- 3. bad entries: refused with a reason before the database ------------------------------------


def test_oversize_link_or_guid_is_skipped_with_a_reason_and_the_rest_kept() -> None:
    long_link = "https://n.example/" + "a" * MAX_FIELD_CHARS
    items = (
        f"<item><title>long link</title><link>{long_link}</link></item>"
        f"<item><title>long guid</title><link>https://n.example/g</link><guid>{'g' * (MAX_FIELD_CHARS + 1)}</guid></item>"
        "<item><title>fine</title><link>https://n.example/ok</link></item>"
    )
    doc = parse_feed(_rss(items), "https://n.example/feed", now=NOW)
    assert [e.url for e in doc.entries] == ["https://n.example/ok"]
    assert len(doc.warnings) == 2
    assert all("longer than" in w for w in doc.warnings)


def test_nul_and_control_characters_never_reach_the_database() -> None:
    items = "<item><title>Strike&#0; kills &#1;two</title><link>https://n.example/a</link><guid>g&#0;1</guid></item>"
    (e,) = parse_feed(_rss(items), "https://n.example/feed", now=NOW).entries
    assert e.title is not None and "\x00" not in e.title and "\x01" not in e.title
    assert "\x00" not in e.guid


def test_an_oversize_title_is_cut_not_refused() -> None:
    items = f"<item><title>{'t' * 50_000}</title><link>https://n.example/a</link></item>"
    (e,) = parse_feed(_rss(items), "https://n.example/feed", now=NOW).entries
    assert e.title is not None and len(e.title) <= MAX_FIELD_CHARS


# --- 5. Retry-After is capped -------------------------------------------------------------------


@pytest.mark.parametrize("header", ["315360000", "Fri, 31 Dec 9999 23:59:59 GMT", "99999999999999", "1" + "0" * 400])
def test_retry_after_never_pushes_a_poll_beyond_the_backoff_cap(header: str) -> None:
    wait = parse_retry_after(header, NOW)
    delay = backoff_seconds(300, 1, 21600, wait)
    assert 300 <= delay <= 21600
    NOW + timedelta(seconds=delay)  # representable: no OverflowError


def test_a_reasonable_retry_after_is_still_honoured() -> None:
    assert backoff_seconds(60, 1, 21600, parse_retry_after("3600", NOW)) == 3600


# --- 11. publication dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date", ["Mon, 01 Jan 0001 00:00:00 GMT", "Thu, 01 Jan 2099 00:00:00 GMT", "0001-01-01T00:00:00Z"]
)
def test_absurd_feed_dates_are_not_publication_dates(date: str) -> None:
    items = f"<item><title>x</title><link>https://n.example/a</link><pubDate>{date}</pubDate></item>"
    (e,) = parse_feed(_rss(items), "https://n.example/feed", now=NOW).entries
    assert e.published_at is None


def test_a_plausible_feed_date_is_kept() -> None:
    items = (
        "<item><title>x</title><link>https://n.example/a</link><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate></item>"
    )
    (e,) = parse_feed(_rss(items), "https://n.example/feed", now=NOW).entries
    assert e.published_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_an_undated_entry_falls_back_to_the_time_it_was_first_seen() -> None:
    seen = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    url = "https://daily.example/a"
    art = normalize(_page(url, url), Entry(guid="g", url=url, seen_at=seen))
    assert art.published_at == seen


def test_an_absurd_page_date_falls_back_to_first_seen() -> None:
    seen = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    url = "https://daily.example/a"
    html = HTML.format(canonical=url).replace(
        "<title>T</title>", '<title>T</title><meta property="article:published_time" content="2099-05-01T00:00:00Z">'
    )
    page = Page(url=url, final_url=url, status=200, content_type="text/html", body=html.encode())
    art = normalize(page, Entry(guid="g", url=url, seen_at=seen))
    assert art.published_at == seen

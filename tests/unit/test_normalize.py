"""Normalization: main text without boilerplate, dateline, canonical URL, time, language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.errors import ContentError
from worker.pipeline.normalize import canonical_url, content_hash, find_dateline, normalize
from worker.records import Entry, Page

HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Strike hits market | Daily</title>
<meta property="article:published_time" content="2021-03-04T08:15:00+03:00">
<link rel="canonical" href="https://daily.example/world/strike-hits-market?utm_source=twitter"></head>
<body><header><nav><a href="/">Home</a> <a href="/sport">Sport</a> <a href="/subscribe">Subscribe</a></nav></header>
<main><article><h1>Strike hits market</h1><p class="byline">By Jane Roe</p>
<p>BAGHDAD (Reuters) - A car bomb exploded in a crowded market in eastern Baghdad early on Thursday, killing
at least 14 people and wounding 30 others, police and medical sources said.</p>
<p>No group immediately claimed responsibility for the blast, which tore through stalls selling vegetables
and clothes as shoppers gathered before the weekend.</p></article>
<aside><h3>Most read</h3><a href="/x">Ten recipes for a quick dinner</a></aside></main>
<footer>Copyright Daily. Cookie policy. Terms of use.</footer></body></html>"""


def page(body: str, content_type: str = "text/html; charset=utf-8", url: str = "https://daily.example/a/1") -> Page:
    return Page(url=url, final_url=url, status=200, content_type=content_type, body=body.encode())


def test_main_text_metadata_and_dateline() -> None:
    entry = Entry(guid="1", url="https://daily.example/a/1?utm_medium=rss", title="Strike hits market")
    art = normalize(page(HTML), entry, source="Daily")
    assert art.text.startswith("BAGHDAD (Reuters) - A car bomb")
    for boilerplate in ("Subscribe", "Ten recipes", "Cookie policy", "By Jane Roe", "Strike hits market\n"):
        assert boilerplate not in art.text
    assert art.url == entry.url  # as fetched from the feed
    assert art.canonical_url == "https://daily.example/world/strike-hits-market"
    assert art.published_at is not None and art.published_at.tzinfo is not None
    assert art.published_at.astimezone(UTC).date().isoformat() == "2021-03-04"
    assert art.dateline is not None and (art.dateline.place, art.dateline.agency) == ("Baghdad", "Reuters")
    assert art.language == "en" and art.source == "Daily"


def test_feed_time_wins_over_page_metadata() -> None:
    when = datetime(2021, 3, 4, 6, 0, tzinfo=UTC)
    art = normalize(page(HTML), Entry(guid="1", url="https://daily.example/a/1", published_at=when))
    assert art.published_at == when


def test_plain_text_body_in_normalized_form() -> None:
    text = (
        "beirut ( reuters ) - jets thought to be russian killed at least 42 civilians trying to escape "
        "clashes in the farming belt when their ferries were hit on the river , activists said ."
    )
    art = normalize(page(text, "text/plain; charset=utf-8"), Entry(guid="2", url="https://w.example/2"))
    assert art.text == text
    assert art.dateline is not None and (art.dateline.place, art.dateline.agency) == ("Beirut", "reuters")


@pytest.mark.parametrize(
    ("head", "place", "agency"),
    [
        ("KYIV (Reuters) - Russian", "Kyiv", "Reuters"),
        ("KYIV, Ukraine (AP) — Russian", "Kyiv", "AP"),
        ("Mogadishu, Oct 15 (Reuters) - A", "Mogadishu", "Reuters"),
        ("deir al zor ( afp ) - jets", "Deir Al Zor", "afp"),
        ("SANAA -- Saudi-led", "Sanaa", None),
    ],
)
def test_datelines(head: str, place: str, agency: str | None) -> None:
    d = find_dateline(head)
    assert d is not None and d.place == place and d.agency == agency


def test_no_dateline_in_ordinary_prose() -> None:
    assert find_dateline("The army said on Tuesday (local time) that - in its view - the raid was lawful.") is None


@pytest.mark.parametrize(
    "variant",
    [
        "https://News.Example/world/story.html?utm_source=rss&utm_campaign=x",
        "https://news.example/world/story.html?fbclid=abc#comments",
        "https://news.example/amp/world/story.html",
        "https://news.example/world/story.html?outputType=amp",
    ],
)
def test_canonical_url_removes_tracking_and_amp(variant: str) -> None:
    assert canonical_url(variant) == "https://news.example/world/story.html"


def test_canonical_url_keeps_meaningful_parameters() -> None:
    assert canonical_url("https://n.example/story?id=42&utm_source=x") == "https://n.example/story?id=42"


def test_content_hash_folds_case_and_punctuation() -> None:
    assert content_hash("Air strike, Kills 12.") == content_hash("air strike kills 12")
    assert content_hash("air strike kills 12") != content_hash("air strike kills 13")


def test_page_without_text_is_a_content_error() -> None:
    with pytest.raises(ContentError):
        normalize(page("<html><body><nav>Home</nav></body></html>"), Entry(guid="3", url="https://w.example/3"))

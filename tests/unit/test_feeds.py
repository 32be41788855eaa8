"""Feed parsing: formats, links, dates, hostile XML, encodings, imports."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.errors import FeedError
from worker.pipeline.feeds import looks_like_opml, parse_feed, parse_opml, parse_url_list

FEED_URL = "https://news.example.org/world/feed.xml"

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Example World Desk</title>
  <link>https://news.example.org/</link>
  <item>
    <title>Bridge reopens after repairs</title>
    <link>https://news.example.org/a/bridge</link>
    <guid isPermaLink="false">tag:news.example.org,2024:1</guid>
    <pubDate>Tue, 05 Mar 2024 14:30:00 +0200</pubDate>
    <description>The &lt;b&gt;river&lt;/b&gt; crossing is open again.</description>
  </item>
  <item>
    <title>Relative link item</title>
    <link>/a/relative</link>
  </item>
  <item>
    <title>Guid only</title>
    <guid>https://news.example.org/a/permalink</guid>
  </item>
  <item><title>No link at all</title></item>
  <item><title>Script link</title><link>javascript:alert(1)</link></item>
</channel></rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example.net/blog/">
  <title>Atom Sample</title>
  <id>urn:uuid:feed-1</id>
  <updated>2024-01-02T03:04:05Z</updated>
  <entry>
    <title>First post</title>
    <id>urn:uuid:entry-1</id>
    <link rel="alternate" href="posts/first"/>
    <updated>2024-01-02T03:04:05-05:00</updated>
    <summary>Short summary</summary>
  </entry>
</feed>
"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://rdf.example.com/"><title>RDF Sample</title></channel>
  <item rdf:about="https://rdf.example.com/x"><title>X</title><link>https://rdf.example.com/x</link></item>
</rdf:RDF>
"""


def test_rss_entries_links_guids_and_dates() -> None:
    doc = parse_feed(RSS, FEED_URL)
    assert doc.title == "Example World Desk"
    first, relative, guid_only = doc.entries
    assert first.guid == "tag:news.example.org,2024:1"
    assert first.url == "https://news.example.org/a/bridge"
    assert first.title == "Bridge reopens after repairs"
    assert first.published_at == datetime(2024, 3, 5, 12, 30, tzinfo=UTC)
    assert first.summary is not None
    assert "river" in first.summary
    assert relative.url == "https://news.example.org/a/relative"
    assert relative.guid == relative.url  # no guid: falls back to the link
    assert relative.published_at is None
    assert guid_only.url == "https://news.example.org/a/permalink"
    skipped = [w for w in doc.warnings if w.startswith("skipped")]
    assert len(skipped) == 2
    assert any("no link" in w for w in skipped)
    assert any("javascript" in w for w in skipped)


def test_atom_with_xml_base_and_offset_date() -> None:
    doc = parse_feed(ATOM, "https://atom.example.net/feed")
    assert doc.title == "Atom Sample"
    (entry,) = doc.entries
    assert entry.url == "https://atom.example.net/blog/posts/first"
    assert entry.guid == "urn:uuid:entry-1"
    assert entry.published_at == datetime(2024, 1, 2, 8, 4, 5, tzinfo=UTC)
    assert entry.published_at.tzinfo is UTC
    assert entry.summary == "Short summary"
    assert doc.warnings == ()


def test_rdf() -> None:
    doc = parse_feed(RDF, "https://rdf.example.com/rss")
    assert [e.url for e in doc.entries] == ["https://rdf.example.com/x"]


def test_empty_channel_is_a_feed_without_entries() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
    doc = parse_feed(body, FEED_URL)
    assert doc.entries == ()
    assert doc.title == "T"


# ------------------------------------------------------------------- hostile XML


def _assert_fast_and_small(body: bytes) -> FeedError:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FeedError, match="entity declaration") as caught:
            parse_feed(body, FEED_URL)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 20 * len(body) + 5_000_000
    return caught.value


def test_billion_laughs_rejected() -> None:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    body = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(lines) + "\n]>\n"
        '<rss version="2.0"><channel><title>&lol9;</title></channel></rss>'
    ).encode()
    _assert_fast_and_small(body)


def test_quadratic_blowup_rejected() -> None:
    # One plain entity referenced many times: feedparser would keep it as "safe".
    blob = "A" * 40_000
    refs = "&big;" * 10_000
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "{blob}">\n]>\n'
        f'<rss version="2.0"><channel><title>x</title><item><title>t</title>'
        f"<link>https://e.example/a</link><description>{refs}</description></item>"
        "</channel></rss>"
    ).encode()
    _assert_fast_and_small(body)


@pytest.mark.parametrize(
    "decl",
    [
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
        '<!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd"> %remote;',
        '<!entity lower "case">',
    ],
)
def test_xxe_and_parameter_entities_rejected(decl: str) -> None:
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [ {decl} ]>\n'
        '<rss version="2.0"><channel><title>&xxe;</title></channel></rss>'
    ).encode()
    _assert_fast_and_small(body)


def test_entity_declaration_hidden_in_utf16_rejected() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [<!ENTITY a "b">]>\n'
        '<rss version="2.0"><channel><title>&a;</title></channel></rss>'
    )
    _assert_fast_and_small(text.encode("utf-16"))


def test_entity_declaration_hidden_in_utf7_rejected() -> None:
    text = '<!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"><channel><title>&a;</title></channel></rss>'
    body = b'<?xml version="1.0" encoding="utf-7"?>' + text.encode("utf-7")
    # Whether or not feedparser honours UTF-7, it must never expand the entity.
    try:
        doc = parse_feed(body, FEED_URL)
    except FeedError:
        return
    assert doc.title != "b"


def test_external_dtd_is_never_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY secret "LEAKED-SECRET">')
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">\n'
        '<rss version="2.0"><channel><title>t &secret;</title><item><title>i</title>'
        "<link>https://e.example/a</link></item></channel></rss>"
    ).encode()
    doc = parse_feed(body, FEED_URL)
    assert "LEAKED" not in repr(doc)


def test_netscape_rss091_doctype_still_accepted() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        b'<rss version="0.91"><channel><title>Old</title><item><title>i</title>'
        b"<link>https://old.example/i</link></item></channel></rss>"
    )
    doc = parse_feed(body, FEED_URL)
    assert [e.url for e in doc.entries] == ["https://old.example/i"]


def test_body_naming_a_local_file_is_not_opened() -> None:
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed(b"/etc/passwd", FEED_URL)


def test_oversized_body_refused() -> None:
    with pytest.raises(FeedError, match="over 100 bytes"):
        parse_feed(b" " * 50 + RSS, FEED_URL, max_bytes=100)


# ------------------------------------------------------- malformed and encodings


def test_malformed_xml_recovers_entries_with_warning() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & bold</title>'
        b"<item><title>One</title><link>https://m.example/1</link></item>"
        b"<item><title>Two <b>unclosed</title><link>https://m.example/2</link></item>"
        b"</channel>"
    )
    doc = parse_feed(body, FEED_URL)
    assert "https://m.example/1" in [e.url for e in doc.entries]
    assert any(w.startswith("recovered from malformed feed") for w in doc.warnings)


def test_garbage_bytes_refused() -> None:
    with pytest.raises(FeedError):
        parse_feed(bytes(range(256)) * 20, FEED_URL)


def test_empty_body_refused() -> None:
    with pytest.raises(FeedError, match="empty"):
        parse_feed(b"  \n", FEED_URL)


def test_html_page_is_not_a_feed() -> None:
    page = (
        b"<!doctype html><html><head><title>Home</title></head><body>"
        b'<h1>Welcome</h1><a href="/news">News</a></body></html>'
    )
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed(page, FEED_URL)


def test_latin1_declared_feed() -> None:
    body = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel>'
        "<title>Caf\u00e9 du monde</title><item><title>Gr\u00fc\u00dfe aus K\u00f6ln</title>"
        "<link>https://l.example/k</link></item></channel></rss>"
    ).encode("latin-1")
    doc = parse_feed(body, FEED_URL)
    assert doc.title == "Caf\u00e9 du monde"
    assert doc.entries[0].title == "Gr\u00fc\u00dfe aus K\u00f6ln"


def test_cp1252_declared_feed_with_smart_quotes() -> None:
    body = (
        '<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel>'
        "<title>\u201cQuoted\u201d \u2013 desk \u20ac</title><item><title>x</title>"
        "<link>https://c.example/x</link></item></channel></rss>"
    ).encode("cp1252")
    doc = parse_feed(body, FEED_URL)
    assert doc.title == "\u201cQuoted\u201d \u2013 desk \u20ac"


def test_utf8_declared_but_cp1252_bytes_does_not_crash() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Na\u00efve \u201cfeed\u201d</title><item><title>x</title>"
        "<link>https://w.example/x</link></item></channel></rss>"
    ).encode("cp1252")
    doc = parse_feed(body, FEED_URL)
    assert [e.url for e in doc.entries] == ["https://w.example/x"]
    assert doc.title is not None


# --------------------------------------------------------------------- imports


OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Wire services">
      <outline type="rss" text="Desk A" xmlUrl="https://a.example/rss" />
      <outline type="rss" text="Text only" title="Desk B" xmlUrl=" https://b.example/atom " />
      <outline type="rss" text="Dup" xmlUrl="https://a.example/rss" />
    </outline>
    <outline type="rss" xmlUrl="http://c.example/feed"/>
    <outline type="rss" text="Bad" xmlUrl="ftp://d.example/feed"/>
  </body>
</opml>
"""


def test_opml_nested_outlines() -> None:
    assert parse_opml(OPML) == [
        ("https://a.example/rss", "Desk A"),
        ("https://b.example/atom", "Desk B"),
        ("http://c.example/feed", None),
    ]


def test_opml_with_entities_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "b">]><opml><body/></opml>'
    with pytest.raises(FeedError, match="hostile"):
        parse_opml(body)


_BODY = OPML.split(b"\n", 1)[1]  # from <opml> on, without the XML declaration
_EXPECTED = [("https://a.example/rss", "Desk A"), ("https://b.example/atom", "Desk B"), ("http://c.example/feed", None)]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xef\xbb\xbf" + OPML, id="utf8-bom"),
        pytest.param(b"\n\n  \t" + OPML, id="leading-whitespace"),
        pytest.param(b"\xef\xbb\xbf\r\n" + OPML, id="bom-then-newline"),
        pytest.param(b"<!-- exported by a reader, 2026-12-04 -->\n" + _BODY, id="leading-comment"),
        pytest.param(b'<?xml version="1.0"?>\n<!-- exported -->\n' + _BODY, id="comment-after-declaration"),
        pytest.param(b"<!DOCTYPE opml>\n" + _BODY, id="bare-doctype"),
        pytest.param(b'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "opml.dtd">' + _BODY, id="doctype-system-id"),
        pytest.param(_BODY, id="no-declaration"),
    ],
)
def test_opml_as_readers_export_it(body: bytes) -> None:
    assert looks_like_opml(body)
    assert parse_opml(body) == _EXPECTED


def test_opml_folders_nested_deeply_are_followed() -> None:
    body = (
        b'<opml version="1.0"><body><outline text="News"><outline text="Africa"><outline text="Sahel">'
        b'<outline text="Deep" xmlUrl="https://deep.example/rss"/></outline></outline>'
        b'<outline text="Top" xmlUrl="https://top.example/rss"/></outline></body></opml>'
    )
    assert parse_opml(body) == [("https://deep.example/rss", "Deep"), ("https://top.example/rss", "Top")]


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><opml><body>'
        b'<outline text="&b;" xmlUrl="https://a.example/rss"/></body></opml>',
        b'\xef\xbb\xbf<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body/></opml>',
        b'<!DOCTYPE opml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><opml><body/></opml>',
    ],
    ids=["billion-laughs", "external-entity-after-bom", "parameter-entity"],
)
def test_opml_entity_declarations_refused_even_with_a_doctype_allowed(body: bytes) -> None:
    with pytest.raises(FeedError, match="hostile"):
        parse_opml(body)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"https://a.example/rss\n", False),
        (b"\xef\xbb\xbf# my feeds\nhttps://a.example/rss\n", False),
        (b"  <opml/>", True),
        (b"<rss version='2.0'/>", True),  # XML, refused by parse_opml with its root named
    ],
)
def test_opml_or_url_list(data: bytes, expected: bool) -> None:
    assert looks_like_opml(data) is expected


def test_opml_malformed_and_wrong_root() -> None:
    with pytest.raises(FeedError, match="malformed OPML"):
        parse_opml(b"<opml><body><outline></opml>")
    with pytest.raises(FeedError, match="not OPML"):
        parse_opml(b"<rss/>")


def test_url_list() -> None:
    text = "# my feeds\n\nhttps://a.example/rss\n  http://b.example/feed.xml  \nhttps://a.example/rss\n"
    assert parse_url_list(text) == ["https://a.example/rss", "http://b.example/feed.xml"]


@pytest.mark.parametrize("bad", ["a.example/rss", "ftp://a.example/x", "https://a b/"])
def test_url_list_bad_line_named(bad: str) -> None:
    with pytest.raises(FeedError, match="line 2"):
        parse_url_list(f"https://ok.example/\n{bad}\n")

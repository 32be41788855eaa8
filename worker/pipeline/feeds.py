"""Feed stage: feed bytes in, a :class:`~worker.records.FeedDoc` out; plus list imports.

:func:`parse_feed` reads RSS 0.9x/2.0, Atom 1.0 and RDF with feedparser, after a guard
that refuses hostile XML *before* feedparser sees it:

* any entity declaration (``<!ENTITY``) is refused. That one rule covers billion laughs
  and quadratic blowup (feedparser's loose parser keeps and expands "safe" internal
  entities: an 80 KB feed was measured expanding to 1.17 GB) and XXE (external and
  parameter entities). Legitimate feeds do not declare entities; a bare DOCTYPE
  (RSS 0.91's Netscape one) is still accepted, and external DTDs are never fetched.
  The scan runs on the bytes as given *and* on the UTF-8 text feedparser will actually
  parse (its own transcoding), so UTF-16/UTF-32/EBCDIC/UTF-7 spellings cannot hide one.
* bodies over ``max_bytes`` are refused, which bounds feedparser's time and memory.
* feedparser gets a file-like object, never a ``str`` or ``bytes`` it might take for a
  URL or a file name to open.

Malformed XML does not crash: feedparser's "bozo" flag becomes a warning on the
returned :class:`FeedDoc` when entries were recovered, and :class:`FeedError` when
nothing usable was (``"malformed feed: ..."``) or the bytes are not a feed at all
(``"not a feed: ..."``, e.g. an HTML page).

:func:`parse_opml` and :func:`parse_url_list` read the files ``wirewatch feeds import``
takes.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree as DefusedET
import feedparser
from defusedxml import DefusedXmlException
from feedparser.encodings import convert_to_utf8

from worker.errors import FeedError
from worker.records import Entry, FeedDoc

if TYPE_CHECKING:
    from collections.abc import Mapping
    from xml.etree.ElementTree import Element

__all__ = [
    "MAX_FEED_BYTES",
    "MAX_FIELD_CHARS",
    "clean_text",
    "looks_like_opml",
    "parse_feed",
    "parse_opml",
    "parse_url_list",
    "plausible_time",
]

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 5_000_000
#: The longest link or guid an entry may carry (the store's column size). A longer one is
#: refused with its reason; a longer title or summary is cut to this size instead.
MAX_FIELD_CHARS = 2048
#: Publication times outside [EARLIEST, now + FUTURE_SLACK] are a feed's placeholder or typo
#: (year 0001, 2099), not a publication time: the entry is then dated by when it was first seen.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
# C0 controls but tab, newline and carriage return, and DEL: PostgreSQL text cannot hold NUL
# and none of them means anything in a title or a link.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_WEB_SCHEMES = ("http", "https")


def _refuse_entity_declarations(body: bytes, content_type: str | None) -> None:
    """Raise :class:`FeedError` if *body* declares an entity in any encoding."""
    if _ENTITY_DECL.search(body) or _ENTITY_DECL.search(body.replace(b"\x00", b"")):
        raise FeedError("hostile XML refused: entity declaration (<!ENTITY)")
    # What feedparser will really parse: its own transcoding of the bytes to UTF-8.
    headers = {"content-type": content_type} if content_type else {}
    utf8 = convert_to_utf8(headers, body, {})
    if isinstance(utf8, bytes) and _ENTITY_DECL.search(utf8):
        raise FeedError("hostile XML refused: entity declaration (<!ENTITY) once decoded")


def _web_url(link: str, base: str) -> str | None:
    """*link* made absolute against *base*, or None unless it is a usable http(s) URL."""
    url = urljoin(base, link.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.hostname:
        return None
    return url


def _entry_link(raw: Mapping[str, Any]) -> str | None:
    link = raw.get("link")
    if isinstance(link, str) and link.strip():
        return link
    for candidate in raw.get("links") or ():
        href = candidate.get("href")
        if (
            isinstance(href, str)
            and href.strip()
            and candidate.get("rel", "alternate")
            in (
                "alternate",
                "self",
            )
        ):
            return href
    return None


def clean_text(value: str) -> str:
    """`value` without control characters (NUL and the rest of C0 but tab/newline/CR, DEL)."""
    return _CONTROL.sub("", value)


def plausible_time(when: datetime | None, now: datetime) -> datetime | None:
    """`when` if it can be a publication time seen at `now`, else None."""
    if when is None or when < EARLIEST or when > now + FUTURE_SLACK:
        return None
    return when


def _published(raw: Mapping[str, Any], now: datetime) -> datetime | None:
    """The entry's date as aware UTC (feedparser gives UTC ``struct_time``s), if plausible."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if isinstance(value, time.struct_time):
            try:
                when = plausible_time(datetime(*value[:6], tzinfo=UTC), now)
            except ValueError:
                continue
            if when is not None:
                return when
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str) and (clean := _CONTROL.sub("", value).strip()):
        return clean
    return None


def _fingerprint(raw: Mapping[str, Any]) -> str:
    """A hash of what the feed says about an item: it changes when the item is updated."""
    parts = [raw.get(k) for k in ("title", "published", "updated", "summary")]
    parts += [c.get("value") for c in raw.get("content") or () if isinstance(c, dict)]
    return hashlib.sha256("\x1f".join(str(p or "") for p in parts).encode()).hexdigest()


def _describe(raw: Mapping[str, Any], index: int) -> str:
    label = _text(raw.get("id")) or _text(raw.get("title")) or ""
    return f"entry {index}" + (f" ({label[:80]!r})" if label else "")


def parse_feed(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    max_bytes: int = MAX_FEED_BYTES,
    now: datetime | None = None,
) -> FeedDoc:
    """Parse an RSS/Atom/RDF document fetched from *url* into a :class:`FeedDoc`.

    Each entry becomes an :class:`Entry`: ``url`` is its link made absolute against
    *url* (and any ``xml:base``); ``guid`` is the feed's id, else the URL; ``title``
    stripped; ``published_at`` aware UTC (published, else updated, else None);
    ``summary`` as feedparser gives it (sanitized HTML). Entries without a usable
    http(s) link are skipped, each named with its reason in ``FeedDoc.warnings``;
    recovered XML errors are recorded there too. *content_type* (the HTTP header)
    helps feedparser pick the encoding. Entries whose link or guid is longer than
    :data:`MAX_FIELD_CHARS` are skipped the same way; control characters (NUL...) are
    removed from every text field; a date that cannot be a publication time at *now*
    (default: the current time) is dropped (see :func:`plausible_time`). Each entry
    carries a ``fingerprint`` of its title, dates, summary and content.

    Raises :class:`FeedError` for hostile XML (entity declarations), a body over
    *max_bytes*, bytes that are not a feed, and a malformed feed with nothing usable.
    """
    if len(body) > max_bytes:
        raise FeedError(f"feed over {max_bytes} bytes: {url}")
    if not body.strip():
        raise FeedError(f"empty feed: {url}")
    _refuse_entity_declarations(body, content_type)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    raw_entries: list[Mapping[str, Any]] = list(parsed.get("entries") or ())
    feed_meta: Mapping[str, Any] = parsed.get("feed") or {}
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(problem, feedparser.NonXMLContentType):
        problem = None  # about the HTTP header (often absent here), not the document

    if not parsed.get("version") and not raw_entries:
        reason = f": {problem}" if problem else ""
        raise FeedError(f"not a feed{reason}: {url}")
    if problem is not None and not raw_entries and not _text(feed_meta.get("title")):
        raise FeedError(f"malformed feed: {problem}: {url}")

    now = now or datetime.now(UTC)
    warnings: list[str] = []
    if problem is not None:
        warnings.append(f"recovered from malformed feed: {problem}")
    entries: list[Entry] = []
    for index, raw in enumerate(raw_entries):
        link = _entry_link(raw)
        link = _CONTROL.sub("", link) if link else None
        entry_url = _web_url(link, url) if link else None
        guid = _text(raw.get("id")) or entry_url
        why = None
        if entry_url is None:
            why = f"link {link.strip()[:200]!r} is not http(s)" if link else "no link"
        elif len(entry_url) > MAX_FIELD_CHARS:
            why = f"link longer than {MAX_FIELD_CHARS} characters ({len(entry_url)}): {entry_url[:120]}..."
        elif guid is not None and len(guid) > MAX_FIELD_CHARS:
            why = f"guid longer than {MAX_FIELD_CHARS} characters ({len(guid)}): {guid[:120]}..."
        if why is not None or entry_url is None or guid is None:
            warnings.append(f"skipped {_describe(raw, index)}: {why}")
            continue
        title, summary = _text(raw.get("title")), _text(raw.get("summary"))
        entries.append(
            Entry(
                guid=guid,
                url=entry_url,
                title=title[:MAX_FIELD_CHARS] if title else None,
                published_at=_published(raw, now),
                summary=summary,
                fingerprint=_fingerprint(raw),
            )
        )
    return FeedDoc(
        title=_text(feed_meta.get("title")),
        entries=tuple(entries),
        warnings=tuple(warnings),
    )


# ------------------------------------------------------------------------ imports


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


#: What may precede an OPML document's first ``<`` in files real readers export: a UTF-8 byte
#: order mark and whitespace (expat refuses both before an XML declaration).
_OPML_LEAD = b"\xef\xbb\xbf \t\r\n"


def looks_like_opml(data: bytes) -> bool:
    """True when `data` is XML (to read with :func:`parse_opml`), False for a URL list.

    Decided by the first character after a byte order mark and whitespace: a URL list line
    never starts with ``<``, while an exported OPML file may open with an XML declaration, a
    comment, a DOCTYPE or ``<opml>`` itself. XML that is not OPML is then refused by
    :func:`parse_opml` with the root element named, rather than read as bad URLs."""
    return data.lstrip(_OPML_LEAD).startswith(b"<")


def parse_opml(body: bytes) -> list[tuple[str, str | None]]:
    """Read an OPML subscription list: ``[(feed_url, title_or_None), ...]``.

    Every ``<outline>`` with an ``xmlUrl`` counts, however deeply nested in folders;
    the title is its ``title`` or else its ``text``. Duplicates keep the first title.
    Outlines whose ``xmlUrl`` is not an http(s) URL are skipped and logged (a warning
    naming each one). A leading byte order mark and whitespace are ignored. Parsed with
    defusedxml: a plain ``<!DOCTYPE opml>`` (some readers write one) is accepted, any
    entity declaration (billion laughs, XXE) is refused, external DTDs are never fetched.

    Raises :class:`FeedError` for hostile, malformed or non-OPML XML.
    """
    try:
        root: Element = DefusedET.fromstring(
            body.lstrip(_OPML_LEAD), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise FeedError(f"hostile OPML refused: {exc!r}") from exc
    except DefusedET.ParseError as exc:
        raise FeedError(f"malformed OPML: {exc}") from exc
    if _local(root.tag) != "opml":
        raise FeedError(f"not OPML: root element <{_local(root.tag)}>")
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for outline in root.iter():
        if _local(outline.tag) != "outline":
            continue
        attrs = {k.lower(): v for k, v in outline.attrib.items()}
        raw_url = attrs.get("xmlurl", "").strip()
        if not raw_url:
            continue  # a folder
        url = _web_url(raw_url, "")
        if url is None:
            log.warning("opml import: skipped outline with non-http(s) xmlUrl %r", raw_url)
            continue
        if url in seen:
            continue
        seen.add(url)
        out.append((url, _text(attrs.get("title")) or _text(attrs.get("text"))))
    return out


def parse_url_list(text: str) -> list[str]:
    """Read a plain list of feed URLs: one per line, ``#`` comments and blanks ignored.

    Returns the URLs in file order, duplicates dropped. The file is hand-written, so
    a line that is not an absolute http(s) URL is an error to fix, not to skip.

    Raises :class:`FeedError` naming the first bad line (1-based).
    """
    out: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        candidate = line.strip()
        if not candidate or candidate.startswith("#"):
            continue
        url = _web_url(candidate, "") if " " not in candidate else None
        if url is None or url != candidate:
            raise FeedError(f"line {number}: not an absolute http(s) URL: {candidate[:200]!r}")
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out

"""Normalize a fetched page into an Article: main text, title, time, author, language,
canonical URL and wire dateline.

    normalize(page, entry, source=...) -> Article          (raises ContentError)
    canonical_url(url) -> str
    find_dateline(text) -> Dateline | None

Main text comes from trafilatura (navigation, related links and footers dropped).
Plain-text bodies (text/plain) are taken as they are. Publication time: the feed's, else the
page's metadata. The canonical URL drops tracking parameters and AMP variants so the same
article reached twice is stored once; the URL as fetched is kept separately.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import courlan
import py3langid
import trafilatura
from dateutil import parser as dateparser

from worker.errors import ContentError
from worker.records import Article, Dateline, Entry, Page

MIN_TEXT_CHARS = 80
# C0 controls except tab/newline/CR, and DEL: PostgreSQL text cannot hold NUL, and none of
# them carries meaning in an article (issue 5, item 11).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AMP = re.compile(r"(/amp(?=/|$)|\.amp(?=\.html?$|$)|[?&](amp|outputType=amp)(=[^&]*)?$)", re.IGNORECASE)

# "AMMAN (Reuters) -", "KYIV, Ukraine (AP) —", "amman ( reuters ) -", "Mogadishu, Oct 15 (Reuters) -"
_DATELINE = re.compile(
    r"""^\s*
    (?P<place>[^\W\d_][\w'’.\- ]{1,40}?)          # city, any case
    (?:\s*,\s*[\w'’.\- ]{2,30}?)?                 # optional ", Country" or ", Oct 15"
    \s*\(\s*(?P<agency>[^\W\d_][\w.&' ]{0,30}?)\s*\)\s*
    (?:[-–—:]|--)\s*""",
    re.VERBOSE,
)
_BYLINE = re.compile(r"^\s*(by|von|par)\s+[\w .,'’-]{1,60}$", re.IGNORECASE)
_BARE_DATELINE = re.compile(r"^\s*(?P<place>[A-Z][A-Z'’.\- ]{2,30}[A-Z])\s*(?:[-–—:]|--)\s+")


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, no fragment, no tracking parameters, no AMP suffix."""
    try:
        clean = courlan.normalize_url(url, strict=True)
    except ValueError:
        clean = url
    return _AMP.sub("", clean)


def find_dateline(text: str) -> Dateline | None:
    """The wire dateline at the start of `text`, in normal or lowercase-normalized form."""
    head = text[:160]
    if m := _DATELINE.match(head):
        place = m.group("place").strip(" .-")
        return Dateline(place=_title(place), agency=m.group("agency").strip() or None, end=m.end())
    if m := _BARE_DATELINE.match(head):
        return Dateline(place=_title(m.group("place")), agency=None, end=m.end())
    return None


def _title(place: str) -> str:
    return place.title() if place.isupper() or place.islower() else place


def _strip_head(text: str, titles: list[str | None]) -> str:
    """Drop a leading headline or byline line that the extractor kept inside the body."""
    heads = {t.strip().casefold() for t in titles if t}
    lines = text.split("\n")
    while len(lines) > 1 and (lines[0].strip().casefold() in heads or _BYLINE.match(lines[0])):
        lines.pop(0)
    return "\n".join(lines).strip()


def _extract_main(page: Page) -> dict[str, Any] | None:
    """trafilatura's balanced extraction, then its recall-oriented mode for pages the first misses."""
    modes: tuple[dict[str, Any], ...] = ({}, {"favor_recall": True})
    for options in modes:
        doc = trafilatura.bare_extraction(
            page.body,
            url=page.final_url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            **options,
        )
        data = doc.as_dict() if doc is not None and not isinstance(doc, dict) else doc
        if isinstance(data, dict) and data.get("text"):
            return data
    return None


def _strip_tail(text: str) -> str:
    """Drop trailing link-like lines ("Read more in our archive"): short, no sentence end."""
    lines = text.split("\n")
    while len(lines) > 1 and len(lines[-1]) < 60 and not lines[-1].rstrip().endswith((".", '"', "”", "!", "?")):
        lines.pop()
    return "\n".join(lines).strip()


def content_hash(text: str) -> str:
    """Hash of the text with case, spacing and punctuation folded (exact-duplicate key)."""
    folded = re.sub(r"[\W_]+", " ", text.casefold()).strip()
    return hashlib.sha256(folded.encode()).hexdigest()


def detect_language(text: str) -> str | None:
    if not text.strip():
        return None
    lang, _score = py3langid.classify(text[:2000])
    return str(lang)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when: datetime = dateparser.parse(value)
    except (ValueError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _decode(page: Page) -> str:
    charset = "utf-8"
    if m := re.search(r"charset=([\w-]+)", page.content_type, re.IGNORECASE):
        charset = m.group(1)
    try:
        return page.body.decode(charset, errors="replace")
    except LookupError:
        return page.body.decode("utf-8", errors="replace")


def normalize(page: Page, entry: Entry, *, source: str | None = None, language: str | None = None) -> Article:
    """Extract the article from `page`. Raises ContentError when there is no usable text."""
    if page.content_type.split(";")[0].strip().lower() == "text/plain":
        text, title, author, page_time, canonical = _decode(page).strip(), None, None, None, None
    else:
        doc = _extract_main(page)
        if doc is None:
            raise ContentError(f"no main text found in {page.final_url}")
        title, author = doc.get("title"), doc.get("author")
        text = _strip_tail(_strip_head(str(doc["text"]).strip(), [entry.title, title]))
        page_time, canonical = doc.get("date"), doc.get("url")
    text = _CONTROL.sub("", text).strip()
    if len(text) < MIN_TEXT_CHARS:
        raise ContentError(f"main text too short ({len(text)} chars) in {page.final_url}")
    published = entry.published_at or _parse_time(page_time)
    base = canonical if canonical and canonical.startswith(("http://", "https://")) else page.final_url
    return Article(
        url=entry.url,
        canonical_url=canonical_url(base),
        title=(entry.title or title or "").strip(),
        text=text,
        published_at=published,
        source=source,
        author=author,
        language=detect_language(text) or language,
        dateline=find_dateline(text),
    )

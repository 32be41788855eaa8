"""Normalize a fetched page into an Article: main text, title, time, author, language,
canonical URL and wire dateline.

    normalize(page, entry, source=...) -> Article          (raises ContentError)
    canonical_url(url) -> str
    find_dateline(text) -> Dateline | None

Main text comes from trafilatura (navigation, related links and footers dropped).
Plain-text bodies (text/plain) are taken as they are. Publication time: the feed's, else the
page's metadata, else the time the entry was first seen (a time outside what a publication
time can be, year 0001 or 2099, is ignored). The canonical URL drops known tracking
parameters (courlan's list), fragments and AMP variants so the same article reached twice is
stored once, and keeps every other parameter (``news.php?storyid=7`` names a story). A page's
``<link rel=canonical>`` is trusted only when it points into the same site (registrable
domain) and not at the site's home page: another site cannot claim an article, and a
template that declares "/" everywhere cannot collapse a site's stories into one. The URL as
fetched is kept separately.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import courlan
import py3langid
import trafilatura
from courlan.urlutils import get_tldinfo
from dateutil import parser as dateparser

from worker.errors import ContentError
from worker.pipeline.feeds import plausible_time
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
    """Lower-case scheme/host, no fragment, no known tracking parameter (courlan's list, drawn
    from the AdGuard and ClearURLs tracking-parameter filters), parameters sorted, no AMP
    suffix. Every other query parameter is kept: it may be what names the story."""
    try:
        clean = courlan.normalize_url(url, strict=False)
        clean = urlunsplit(urlsplit(clean)._replace(fragment=""))
    except ValueError:
        clean = url
    return _AMP.sub("", clean)


def site(url: str) -> str | None:
    """The site a URL belongs to: its registrable domain (public suffix list), else its host
    (IP addresses, single-label and unlisted names)."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        _name, domain = get_tldinfo(url, fast=False)
        return str(domain).lower() if domain else host.removeprefix("www.")
    return host


def same_site(a: str, b: str) -> bool:
    """Whether two URLs belong to one site (see :func:`site`)."""
    sa, sb = site(a), site(b)
    return sa is not None and sa == sb


def trusted_canonical(canonical: str | None, page_url: str) -> str | None:
    """The page's declared canonical URL made absolute, if it may stand for the page: an
    http(s) URL on the same site as the page, other than the site's home page."""
    if not canonical or not canonical.strip():
        return None
    absolute = urljoin(page_url, canonical.strip())
    try:
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not same_site(absolute, page_url):
        return None
    if parts.path in ("", "/") and not parts.query:
        return None
    return absolute


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
    """Extract the article from `page`. Raises ContentError when there is no usable text.

    ``published_at`` is the feed's time, else the page's, else ``entry.seen_at``; the canonical
    URL is the page's declared one when :func:`trusted_canonical` accepts it, else the final
    URL's, both through :func:`canonical_url`."""
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
    now = datetime.now(UTC)
    published = plausible_time(entry.published_at, now) or plausible_time(_parse_time(page_time), now) or entry.seen_at
    own = canonical_url(page.final_url)
    declared = trusted_canonical(canonical, page.final_url)
    identity = canonical_url(declared) if declared else own
    return Article(
        url=entry.url,
        canonical_url=identity,
        canonical_declared=identity != own,
        title=(entry.title or title or "").strip(),
        text=text,
        published_at=published,
        source=source,
        author=author,
        language=detect_language(text) or language,
        dateline=find_dateline(text),
    )

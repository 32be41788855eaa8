"""Small frozen value types passed between pipeline stages.

    FeedDoc -> Entry -> Page -> Article -> [Incident]

Nothing here touches the network, the database or Celery. Every type converts to
plain JSON (``to_dict``) so it can cross the broker or land in a JSON column.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a feed: what the feed says about an article before we fetch it.

    ``identity`` (guid and link together) says which item this is: a feed that reuses one guid
    for two links lists two items. ``fingerprint`` hashes what the feed says about it (title,
    dates, summary, content): when it changes, the item was updated and is fetched again.
    ``seen_at`` is when Wirewatch first saw it (set by the store), the publication time of last
    resort."""

    guid: str
    url: str
    title: str | None = None
    published_at: datetime | None = None
    summary: str | None = None
    fingerprint: str | None = None
    seen_at: datetime | None = None

    @property
    def identity(self) -> str:
        return hashlib.sha256(f"{self.guid}\n{self.url}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FeedDoc:
    """A parsed feed: its title and entries, newest first as the feed lists them."""

    title: str | None
    entries: tuple[Entry, ...]
    # What the parser skipped or repaired, one line each ("skipped entry 3: no link",
    # "recovered from malformed feed: ..."): nothing is dropped silently.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """Bytes fetched from a URL, after redirects."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Dateline:
    """A wire dateline: ``AMMAN (Reuters) -`` -> place "Amman", agency "Reuters"."""

    place: str
    agency: str | None
    end: int  # character offset in the text where the story proper starts


@dataclass(frozen=True, slots=True)
class Article:
    """A normalized article: the input of extraction."""

    url: str
    canonical_url: str
    title: str
    text: str
    published_at: datetime | None
    source: str | None = None
    author: str | None = None
    language: str | None = None
    dateline: Dateline | None = None
    # The canonical URL is one the page declared for another address (rel=canonical on the same
    # site), not its own address normalized: the store then also asks for the same text.
    canonical_declared: bool = False


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a field's value came from: the sentence and the character span in the text."""

    field: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Count:
    """A casualty figure as ``{low, best, high}``; all None when the article gives none."""

    low: int | None = None
    best: int | None = None
    high: int | None = None

    @property
    def known(self) -> bool:
        return self.best is not None or self.low is not None or self.high is not None


@dataclass(frozen=True, slots=True)
class Place:
    """A resolved place. ``precision`` is one of town, near, district, province, country.

    ``admin1`` and ``admin2`` are the names of the GeoNames units the place lies in (from the
    gazetteer's own codes); ``feature`` says what the place is: village, town, city,
    neighbourhood, district, province or country (None when unknown). ``timezone`` is the
    place's own IANA zone (GeoNames), which dates read relative to its local day.
    """

    name: str
    country: str | None  # ISO 3166-1 alpha-2
    lat: float | None
    lon: float | None
    admin1: str | None = None
    precision: str = "town"
    admin2: str | None = None
    feature: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as one article reports it (a *report*, before deduplication)."""

    event_type: str
    date: date | None
    date_precision: str | None = None
    location: Place | None = None
    perpetrator: str | None = None
    perpetrator_certainty: str | None = None
    victims: str | None = None
    killed: Count = field(default_factory=Count)
    injured: Count = field(default_factory=Count)
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date"] = self.date.isoformat() if self.date else None
        out["evidence"] = [asdict(e) for e in self.evidence]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        loc = data.get("location")
        return cls(
            event_type=data["event_type"],
            date=date.fromisoformat(data["date"]) if data.get("date") else None,
            date_precision=data.get("date_precision"),
            location=Place(**loc) if loc else None,
            perpetrator=data.get("perpetrator"),
            perpetrator_certainty=data.get("perpetrator_certainty"),
            victims=data.get("victims"),
            killed=Count(**(data.get("killed") or {})),
            injured=Count(**(data.get("injured") or {})),
            evidence=tuple(Evidence(**e) for e in data.get("evidence") or ()),
        )

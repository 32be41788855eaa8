"""SQLModel tables.

    feeds ──< entries ──> articles ──< reports >── incidents ──< incident_history
                                       └──< report_keys    └──< corrections
    failures: anything that could not be processed, with its reason

Uniqueness lives in the database so that re-delivery of any message is harmless:
``feeds.url``, ``entries(feed_id, item_key)``, ``articles.canonical_url``,
``reports(article_id, ordinal)``.

Where an operator finds why something was not processed (the store API is in
:mod:`worker.store.repo`):

* ``failures``: every failure, each with its stage, error class, one-line reason, and the
  feed, entry and article it concerns (``repo.record_failure``; ``feed_id`` is always set
  when a feed is involved, entries refused before they became rows included);
* ``entries.status`` + ``entries.reason``: an entry skipped as a duplicate says of which
  article and why; an entry fetched again because the feed updated it says what changed
  (``repo.mark_entry``, read back with ``repo.entry_reasons``);
* ``articles.status = "held"``: extraction stopped by the machine, not the article (model
  missing, disk full); retried once a worker starts with its checks passing.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = True, index: bool = False, default: Any = None) -> Any:
    kwargs: dict[str, Any] = {"nullable": nullable, "index": index}
    if default is not None:
        return Field(default_factory=default, sa_type=UTCDateTime, sa_column_kwargs={}, **kwargs)
    return Field(default=None, sa_type=UTCDateTime, **kwargs)


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_type=sa.JSON)


def new_id() -> str:
    """A time-ordered 32-hex-digit id (the layout of a UUIDv7: milliseconds, then randomness), so
    new incidents land at the right edge of the primary-key index instead of on random pages."""
    return f"{time.time_ns() // 1_000_000:012x}{uuid.uuid4().hex[:20]}"


class Feed(SQLModel, table=True):
    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True, max_length=2048)
    name: str | None = None
    language: str | None = None
    interval: int = 300
    enabled: bool = True
    etag: str | None = None
    last_modified: str | None = None
    next_poll_at: datetime | None = _ts(index=True)
    lease_until: datetime | None = _ts()
    last_polled_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_status: int | None = None
    error_count: int = 0
    last_error: str | None = None
    created_at: datetime = _ts(nullable=False, default=utcnow)
    # Set by `wirewatch feeds remove`: the row stays (a tombstone, never polled) so the feed's
    # entries and articles keep saying where they came from, and config.toml cannot re-add it.
    removed_at: datetime | None = _ts()


class Entry(SQLModel, table=True):
    """A feed item as first seen; its status says where it is in the pipeline."""

    __tablename__ = "entries"
    __table_args__ = (
        sa.UniqueConstraint("feed_id", "item_key", name="uq_entries_feed_item"),
        sa.Index("ix_entries_feed_published", "feed_id", "published_at"),  # a feed's newest item
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feeds.id", index=True)
    # records.Entry.identity: a hash of guid and link (one guid may name two links).
    item_key: str = Field(max_length=64)
    guid: str = Field(max_length=2048)
    url: str = Field(max_length=2048, index=True)
    title: str | None = None
    published_at: datetime | None = _ts()
    # records.Entry.fingerprint: when the feed changes it, the item is fetched again.
    fingerprint: str | None = Field(default=None, max_length=64)
    revision: int = 0
    # new -> fetched | duplicate | failed | dropped (its feed was removed before it was fetched);
    # `reason` says why when it is not plainly fetched.
    status: str = Field(default="new", index=True, max_length=16)
    reason: str | None = None
    attempts: int = 0
    article_id: int | None = Field(default=None, foreign_key="articles.id")
    seen_at: datetime = _ts(nullable=False, default=utcnow)
    # When a fetch was last sent for it: entries still new long after are sent again (a fetch
    # message lost while the broker was down must not strand its entry).
    dispatched_at: datetime | None = _ts()


class Article(SQLModel, table=True):
    __tablename__ = "articles"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2048, unique=True)  # as fetched from the feed
    canonical_url: str = Field(max_length=2048, unique=True)
    feed_id: int | None = Field(default=None, foreign_key="feeds.id")
    title: str = ""
    text: str = ""
    published_at: datetime | None = _ts(index=True)
    source: str | None = None
    author: str | None = None
    language: str | None = None
    dateline_place: str | None = None
    dateline_agency: str | None = None
    content_hash: str = Field(max_length=64, index=True)
    minhash: bytes | None = None
    # Wire copy of an earlier article (MinHash LSH near-duplicate): counts once among sources.
    copy_of_id: int | None = Field(default=None, foreign_key="articles.id")
    # fetched -> extracted | failed | held (an environment problem: retried after the fix)
    status: str = Field(default="fetched", index=True, max_length=16)
    nlp_lease_until: datetime | None = _ts()
    # Who holds the lease (the task id): a redelivery of the same task reclaims its batch at once.
    nlp_claim: str | None = Field(default=None, max_length=64)
    # Extraction tasks holding this article that gave up (process died too often, or raised).
    # A suspect is then extracted alone, so one poison article cannot sink its batch mates.
    nlp_attempts: int = 0
    fetched_at: datetime = _ts(nullable=False, default=utcnow)
    extracted_at: datetime | None = _ts()


class ArticleBand(SQLModel, table=True):
    """MinHash LSH band keys of an article: near-duplicates share a key (indexed lookup)."""

    __tablename__ = "article_bands"

    article_id: int = Field(foreign_key="articles.id", primary_key=True)
    band: str = Field(max_length=24, primary_key=True, index=True)


class Incident(SQLModel, table=True):
    """A deduplicated incident; its fields are derived from its reports."""

    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_block", "country", "date"),
        # The web window's pages: newest event first, by type, and changed since (Atom).
        sa.Index("ix_incidents_date_id", "date", "id"),
        sa.Index("ix_incidents_type_date", "event_type", "date"),
        sa.Index("ix_incidents_updated", "updated_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    event_type: str
    date: dt.date | None = None
    date_precision: str | None = None
    location_name: str | None = None
    admin1: str | None = None
    country: str | None = Field(default=None, max_length=2)
    lat: float | None = None
    lon: float | None = None
    location_precision: str | None = None
    perpetrator: str | None = None
    perpetrator_certainty: str | None = None
    victims: str | None = None
    killed_low: int | None = None
    killed_best: int | None = None
    killed_high: int | None = None
    injured_low: int | None = None
    injured_best: int | None = None
    injured_high: int | None = None
    num_reports: int = 0
    num_independent_sources: int = 0
    first_reported_at: datetime | None = _ts()
    last_reported_at: datetime | None = _ts()
    merged_into: str | None = Field(default=None, max_length=32, index=True)
    # Set when an operator split this incident: it is never joined to another automatically.
    locked: bool = False
    # Why each derived field has its value ({"killed": "12 from ...; the latest credible ..."}).
    field_reasons: dict[str, Any] = _json()
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class Report(SQLModel, table=True):
    """One incident as one article reports it, and the link that joined it to an incident."""

    __tablename__ = "reports"
    __table_args__ = (
        sa.UniqueConstraint("article_id", "ordinal", name="uq_reports_article_ordinal"),
        sa.Index("ix_reports_block", "country", "date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True)
    ordinal: int = 0
    data: dict[str, Any] = _json()
    event_type: str
    date: dt.date | None = None
    country: str | None = Field(default=None, max_length=2)
    lat: float | None = None
    lon: float | None = None
    killed_best: int | None = None
    incident_id: str | None = Field(default=None, foreign_key="incidents.id", index=True)
    link_score: float | None = None
    link_reasons: dict[str, Any] = _json()
    linked_at: datetime | None = _ts()
    # The event's own names (people, streets, sites) the linker compares; None until first linked.
    names: list[str] | None = Field(default=None, sa_type=sa.JSON)


class ReportKey(SQLModel, table=True):
    """A report's event names, indexed with its date: reports of one event that a wrong geocode
    put far apart still find each other through a name they share (an indexed lookup)."""

    __tablename__ = "report_keys"
    __table_args__ = (sa.Index("ix_report_keys_key_day", "key", "day"),)

    key: str = Field(max_length=64, primary_key=True)
    report_id: int = Field(foreign_key="reports.id", primary_key=True, index=True)
    day: dt.date | None = None


class IncidentHistory(SQLModel, table=True):
    """Append-only: every change to an incident's derived fields, with the report that caused it."""

    __tablename__ = "incident_history"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id", index=True, max_length=32)
    at: datetime = _ts(nullable=False, default=utcnow)
    report_id: int | None = None
    # created | linked | joined | merged | unmerged | split | updated | relinked | recomputed
    action: str = Field(max_length=16)
    changes: dict[str, Any] = _json()
    other_incident_id: str | None = Field(default=None, max_length=32)  # the other side of a merge
    operator: str | None = Field(default=None, max_length=128)  # who, for an operator's correction
    note: str | None = None  # why, in the operator's words


class Correction(SQLModel, table=True):
    """An operator's decision; re-processing consults these before scoring."""

    __tablename__ = "corrections"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # merge | split | unmerge
    incident_id: str = Field(max_length=32)
    other_incident_id: str | None = Field(default=None, max_length=32)
    report_url: str | None = Field(default=None, max_length=2048)
    article_id: int | None = None
    note: str | None = None
    # Who made it: "web:<user>" (the web window's authenticated user) or "cli:<login>".
    operator: str | None = Field(default=None, max_length=128)
    undone_at: datetime | None = _ts()  # a merge an operator took back (unmerge)
    at: datetime = _ts(nullable=False, default=utcnow)


class Failure(SQLModel, table=True):
    """What could not be processed, and why. Nothing is dropped silently."""

    __tablename__ = "failures"

    id: int | None = Field(default=None, primary_key=True)
    stage: str = Field(max_length=16, index=True)  # poll | fetch | normalize | extract | link | task
    url: str | None = Field(default=None, max_length=2048)
    feed_id: int | None = Field(default=None, index=True)
    entry_id: int | None = None
    article_id: int | None = None
    task_id: str | None = Field(default=None, max_length=64)
    error: str = Field(max_length=64)
    reason: str
    attempts: int = 1
    at: datetime = _ts(nullable=False, index=True, default=utcnow)
    # When `wirewatch failures retry` queued its subject again (a later failure is a new row).
    retried_at: datetime | None = _ts()

"""Read queries for browsing the store (the web window): paged, indexed, no per-row queries.

    IncidentFilter                              what an analyst narrows the view by
    list_incidents(session, f, limit, after)    one page of live incidents, newest event first (keyset)
    map_points(session, f, limit)               id, place and toll of the view's incidents (small columns)
    changed_incidents(session, f, limit)        most recently created or updated (the Atom feed)
    incident_page(session, id, as_of)           one incident: fields, reports, history, corrections
    feed_status(session) / recent_failures(session, limit)

Pages are keyset-paged on ``(date, id)`` (index ``ix_incidents_date_id``): a deep page costs
what the first one does. Incidents without a date come after every dated one, by id.
A page's reports are read with one query for the whole page (``export.items_for``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from worker.store import export
from worker.store.models import Article, Correction, Entry, Failure, Feed, Incident, IncidentHistory, Report


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """A view of the incidents. Every field is optional; all given ones must hold."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    event_type: str | None = None
    perpetrator: str | None = None  # case-insensitive substring
    min_killed: int | None = None  # best estimate at least this
    text: str | None = None  # case-insensitive substring of place, perpetrator, victims or a report title

    def query_params(self) -> dict[str, str]:
        """The filter as URL query parameters (only the set ones)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None and v != "":
                out[f.name if f.name != "text" else "q"] = v.isoformat() if isinstance(v, dt.date) else str(v)
        return out


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: after (date, id) in newest-first order; date None = undated part."""

    date: dt.date | None
    id: str

    def encode(self) -> str:
        return f"{self.date.isoformat() if self.date else '-'}_{self.id}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        """Raises ValueError on anything but what ``encode`` writes."""
        day, sep, ident = raw.partition("_")
        if not sep or not ident.isalnum() or len(ident) > 32:
            raise ValueError(f"bad page cursor: {raw!r}")
        return cls(None if day == "-" else dt.date.fromisoformat(day), ident)


# The text an analyst's free-text filter searches on an incident, as one expression: the
# PostgreSQL trigram index ix_incidents_text_trgm (migration 0002) is built on exactly this.
INCIDENT_TEXT: sa.ColumnElement[str] = sa.literal_column(
    "(coalesce(incidents.location_name, '') || ' ' || coalesce(incidents.admin1, '') || ' ' "
    "|| coalesce(incidents.perpetrator, '') || ' ' || coalesce(incidents.victims, ''))"
)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: IncidentFilter) -> list[Any]:
    cond: list[Any] = [col(Incident.merged_into).is_(None), col(Incident.num_reports) > 0]
    if f.date_from is not None:
        cond.append(col(Incident.date) >= f.date_from)
    if f.date_to is not None:
        cond.append(col(Incident.date) <= f.date_to)
    if f.country:
        cond.append(col(Incident.country) == f.country.upper())
    if f.event_type:
        cond.append(col(Incident.event_type) == f.event_type)
    if f.perpetrator:
        cond.append(col(Incident.perpetrator).ilike(_like(f.perpetrator), escape="\\"))
    if f.min_killed is not None:
        cond.append(col(Incident.killed_best) >= f.min_killed)
    if f.text:
        pattern = _like(f.text)
        # Both parts can use a trigram index on PostgreSQL (migration 0002), so the union of
        # matching ids is found without scanning; SQLite scans.
        matching: sa.CompoundSelect[tuple[str]] = sa.union(
            sa.select(col(Incident.id)).where(INCIDENT_TEXT.ilike(pattern, escape="\\")),
            sa.select(col(Report.incident_id))
            .join(Article, col(Article.id) == col(Report.article_id))
            .where(col(Article.title).ilike(pattern, escape="\\")),
        )
        cond.append(col(Incident.id).in_(matching))
    return cond


def list_incidents(
    session: Session, f: IncidentFilter, *, limit: int = 50, after: Cursor | None = None
) -> tuple[list[Incident], Cursor | None]:
    """One page of the view, newest event first; returns the rows and the cursor of the next
    page (None on the last one). Two indexed range scans at most: dated, then undated."""
    cond = _where(f)
    rows: list[Incident] = []
    if after is None or after.date is not None:
        dated = [*cond, col(Incident.date).is_not(None)]
        if after is not None:
            # A row-value comparison, so the (date, id) index range-scans from the cursor.
            dated.append(sa.tuple_(col(Incident.date), col(Incident.id)) < sa.tuple_(after.date, after.id))
        q = select(Incident).where(*dated).order_by(col(Incident.date).desc(), col(Incident.id).desc())
        rows = list(session.exec(q.limit(limit + 1)).all())
    if len(rows) <= limit and f.date_from is None and f.date_to is None:
        undated = [*cond, col(Incident.date).is_(None)]
        if after is not None and after.date is None:
            undated.append(col(Incident.id) < after.id)
        q = select(Incident).where(*undated).order_by(col(Incident.id).desc())
        rows += list(session.exec(q.limit(limit + 1 - len(rows))).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, Cursor(rows[-1].date, rows[-1].id)


@dataclass(frozen=True, slots=True)
class Point:
    id: str
    lat: float
    lon: float
    event_type: str
    killed: int | None
    date: dt.date | None
    place: str | None


def map_points(session: Session, f: IncidentFilter, *, limit: int = 5000) -> list[Point]:
    """The view's incidents with coordinates, newest event first, at most `limit` (the map
    draws a marker for each; the page says when the view holds more)."""
    q = (
        sa.select(
            col(Incident.id),
            col(Incident.lat),
            col(Incident.lon),
            col(Incident.event_type),
            col(Incident.killed_best),
            col(Incident.date),
            col(Incident.location_name),
        )
        .where(*_where(f), col(Incident.lat).is_not(None), col(Incident.lon).is_not(None))
        .order_by(col(Incident.date).desc(), col(Incident.id).desc())
        .limit(limit)
    )
    return [Point(*row) for row in session.execute(q).all()]


def changed_incidents(session: Session, f: IncidentFilter, *, limit: int = 50) -> list[Incident]:
    """The view's incidents most recently created or changed (index on ``updated_at``)."""
    q = select(Incident).where(*_where(f)).order_by(col(Incident.updated_at).desc(), col(Incident.id).desc())
    return list(session.exec(q.limit(limit)).all())


def event_types(session: Session) -> list[str]:
    """Event types present (distinct over the (event_type, date) index)."""
    return [t for t in session.exec(select(Incident.event_type).distinct().order_by(Incident.event_type)).all() if t]


@dataclass(frozen=True, slots=True)
class IncidentPage:
    incident: Incident
    item: dict[str, Any]  # the export schema (as of `as_of` when given)
    history: list[IncidentHistory]
    corrections: list[Correction]
    merged_here: list[Incident]  # incidents merged into this one (each can be unmerged)
    article_text: dict[str, str]  # report URL -> article text (to place each evidence span)


def incident_page(session: Session, incident_id: str, *, as_of: datetime | None = None) -> IncidentPage | None:
    """Everything the page of one incident shows, in five queries; None when no such id."""
    inc = session.get(Incident, incident_id)
    if inc is None:
        return None
    pairs = export.report_rows(session, [incident_id], as_of=as_of).get(incident_id, [])
    item = export.item(session, inc, pairs, as_of=as_of)
    history = list(
        session.exec(
            select(IncidentHistory)
            .where(IncidentHistory.incident_id == incident_id)
            .order_by(col(IncidentHistory.at), col(IncidentHistory.id))
        ).all()
    )
    corrections = list(
        session.exec(
            select(Correction)
            .where(sa.or_(col(Correction.incident_id) == incident_id, col(Correction.other_incident_id) == incident_id))
            .order_by(col(Correction.id))
        ).all()
    )
    merged_here = list(
        session.exec(select(Incident).where(Incident.merged_into == incident_id).order_by(col(Incident.id))).all()
    )
    return IncidentPage(inc, item, history, corrections, merged_here, {a.url: a.text for _, a in pairs})


@dataclass(frozen=True, slots=True)
class FeedStatus:
    feed: Feed
    newest_item_at: datetime | None
    entries: int
    failures: int


def feed_status(session: Session, *, include_removed: bool = False) -> list[FeedStatus]:
    """Every feed with its newest item, entry count and failure count, in one query (each
    figure a correlated subquery over the ``(feed_id, ...)`` indexes). Feeds an operator
    removed (tombstones, see :mod:`worker.store.admin`) only when asked for."""
    newest = (
        select(func.max(Entry.published_at)).where(col(Entry.feed_id) == col(Feed.id)).correlate(Feed).scalar_subquery()
    )
    entries = select(func.count()).where(col(Entry.feed_id) == col(Feed.id)).correlate(Feed).scalar_subquery()
    fails = select(func.count()).where(col(Failure.feed_id) == col(Feed.id)).correlate(Feed).scalar_subquery()
    q = select(Feed, newest, entries, fails)
    if not include_removed:
        q = q.where(col(Feed.removed_at).is_(None))
    rows = session.exec(q.order_by(col(Feed.id))).all()
    return [FeedStatus(fd, _aware(n), e or 0, x or 0) for fd, n, e, x in rows]


def _aware(v: Any) -> datetime | None:
    """SQLite returns max() of a UTC column as a naive string/datetime: read it as UTC."""
    if v is None:
        return None
    when = datetime.fromisoformat(v) if isinstance(v, str) else v
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


def recent_failures(session: Session, *, limit: int = 100, feed_id: int | None = None) -> list[Failure]:
    q = select(Failure)
    if feed_id is not None:
        q = q.where(Failure.feed_id == feed_id)
    return list(session.exec(q.order_by(col(Failure.id).desc()).limit(limit)).all())


def with_filter(f: IncidentFilter, **changes: Any) -> IncidentFilter:
    return replace(f, **changes)

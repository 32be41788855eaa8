"""Incidents with their reports, in the export schema (JSON; CSV and GeoJSON derive from it).

    {"incidents": [{"id", "event_type", "date", "date_precision", "location": {...},
                    "perpetrator", "perpetrator_certainty", "victims", "killed": {low,best,high},
                    "injured": {...}, "num_reports", "num_independent_sources",
                    "first_reported_at", "last_reported_at",
                    "reports": [{"url", "source", "published_at", "title", "killed", "injured",
                                 "evidence": [...], "link": {"score", "reasons"}}]}]}

``as_of`` answers "what did we know then?": only reports published (or fetched) by then count.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from worker.store.linking import DERIVED_FIELDS, derive_from, incident_values
from worker.store.models import Article, Incident, Report


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def _count(low: int | None, best: int | None, high: int | None) -> dict[str, int | None]:
    return {"low": low, "best": best, "high": high}


def incidents(session: Session, *, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Every live incident (with at least one report), oldest event first."""
    rows = session.exec(
        select(Report, Article)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(col(Report.incident_id).is_not(None))
        .order_by(col(Article.published_at), col(Report.id))
    ).all()
    by_incident: dict[str, list[tuple[Report, Article]]] = {}
    for r, a in rows:
        if as_of is not None and (a.published_at or a.fetched_at) > as_of:
            continue
        by_incident.setdefault(r.incident_id or "", []).append((r, a))
    live = session.exec(select(Incident).where(col(Incident.merged_into).is_(None), Incident.num_reports > 0)).all()
    out = []
    for inc in live:
        pairs = by_incident.get(inc.id)
        if not pairs:
            continue
        fields = _fields(inc) if as_of is None else _fields_as_of(session, inc, pairs)
        fields["reports"] = [_report(r, a) for r, a in pairs]
        out.append(fields)
    out.sort(key=lambda i: (i["date"] or "", i["id"]))
    return out


def _fields(inc: Incident) -> dict[str, Any]:
    return {
        "id": inc.id,
        "event_type": inc.event_type,
        "date": inc.date.isoformat() if inc.date else None,
        "date_precision": inc.date_precision,
        "location": {
            "name": inc.location_name,
            "admin1": inc.admin1,
            "country": inc.country,
            "lat": inc.lat,
            "lon": inc.lon,
            "precision": inc.location_precision,
        },
        "perpetrator": inc.perpetrator,
        "perpetrator_certainty": inc.perpetrator_certainty,
        "victims": inc.victims,
        "killed": _count(inc.killed_low, inc.killed_best, inc.killed_high),
        "injured": _count(inc.injured_low, inc.injured_best, inc.injured_high),
        "num_reports": inc.num_reports,
        "num_independent_sources": inc.num_independent_sources,
        "first_reported_at": _iso(inc.first_reported_at),
        "last_reported_at": _iso(inc.last_reported_at),
    }


def _fields_as_of(session: Session, inc: Incident, pairs: list[tuple[Report, Article]]) -> dict[str, Any]:
    """The incident as its reports published by then made it (a transient row, never stored)."""
    d = derive_from(session, pairs)
    then = Incident(
        id=inc.id, first_reported_at=d.first_reported_at, last_reported_at=d.last_reported_at, **incident_values(d)
    )
    return _fields(then)


def _report(r: Report, a: Article) -> dict[str, Any]:
    data = r.data
    return {
        "url": a.url,
        "source": a.source,
        "published_at": _iso(a.published_at),
        "title": a.title,
        "copy_of": a.copy_of_id is not None,
        "event_type": data.get("event_type"),
        "date": data.get("date"),
        "location": data.get("location"),
        "perpetrator": data.get("perpetrator"),
        "killed": (data.get("killed") or {}).get("best"),
        "injured": (data.get("injured") or {}).get("best"),
        "evidence": data.get("evidence") or [],
        "link": {"score": r.link_score, "reasons": r.link_reasons},
    }


def report_rows(
    session: Session, incident_ids: Sequence[str], *, as_of: datetime | None = None
) -> dict[str, list[tuple[Report, Article]]]:
    """The (report, article) pairs of each incident, in publication order, in one query (known
    by `as_of` when given)."""
    if not incident_ids:
        return {}
    rows = session.exec(
        select(Report, Article)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(col(Report.incident_id).in_(list(incident_ids)))
        .order_by(col(Article.published_at), col(Report.id))
    ).all()
    out: dict[str, list[tuple[Report, Article]]] = {}
    for r, a in rows:
        if as_of is not None and (a.published_at or a.fetched_at) > as_of:
            continue
        out.setdefault(r.incident_id or "", []).append((r, a))
    return out


def item(
    session: Session, inc: Incident, pairs: list[tuple[Report, Article]], *, as_of: datetime | None = None
) -> dict[str, Any]:
    """One incident in the export schema, with its reports (`pairs` from ``report_rows``)."""
    fields = _fields(inc) if as_of is None or not pairs else _fields_as_of(session, inc, pairs)
    fields["reports"] = [_report(r, a) for r, a in pairs]
    return fields


def items_for(session: Session, incidents: Sequence[Incident]) -> list[dict[str, Any]]:
    """A page of incidents in the export schema, in the given order (two queries in all)."""
    by_incident = report_rows(session, [i.id for i in incidents])
    return [item(session, inc, by_incident.get(inc.id, [])) for inc in incidents]


def to_json(items: list[dict[str, Any]]) -> str:
    return json.dumps({"incidents": items}, indent=2, ensure_ascii=False)


CSV_COLUMNS = ["id", *DERIVED_FIELDS, "first_reported_at", "last_reported_at", "report_urls"]


def _flat(i: dict[str, Any]) -> dict[str, Any]:
    loc = i["location"]
    return {
        **{
            k: i[k]
            for k in (
                "id",
                "event_type",
                "date",
                "date_precision",
                "perpetrator",
                "perpetrator_certainty",
                "victims",
                "num_reports",
                "num_independent_sources",
                "first_reported_at",
                "last_reported_at",
            )
        },
        "location_name": loc["name"],
        "admin1": loc["admin1"],
        "country": loc["country"],
        "lat": loc["lat"],
        "lon": loc["lon"],
        "location_precision": loc["precision"],
        **{f"killed_{k}": v for k, v in i["killed"].items()},
        **{f"injured_{k}": v for k, v in i["injured"].items()},
        "report_urls": " ".join(r["url"] for r in i["reports"]),
    }


def to_csv(items: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for i in items:
        w.writerow(_flat(i))
    return buf.getvalue()


def to_geojson(items: list[dict[str, Any]]) -> str:
    features = [
        {
            "type": "Feature",
            "geometry": (
                {"type": "Point", "coordinates": [i["location"]["lon"], i["location"]["lat"]]}
                if i["location"]["lat"] is not None
                else None
            ),
            "properties": i,
        }
        for i in items
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=2, ensure_ascii=False)

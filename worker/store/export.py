"""Incidents with their reports, in the export schema (JSON; CSV and GeoJSON derive from it).

    {"incidents": [{"id", "event_type", "date", "date_precision", "location": {...},
                    "perpetrator", "perpetrator_certainty", "victims", "killed": {low,best,high},
                    "injured": {...}, "num_reports", "num_independent_sources",
                    "first_reported_at", "last_reported_at",
                    "reports": [{"url", "source", "outlet", "published_at", "title", "killed", "injured",
                                 "sentences": [text, ...],
                                 "evidence": [{"field", "sentence", "start", "end"}, ...],
                                 "link": {"score", "reasons"}}]}]}

A report's evidence names, per field, the sentence it was read from (an index into the
report's ``sentences``, each distinct sentence once: one sentence usually gives several
fields) and the character span in the article text.

CSV and GeoJSON are flat, one column (property) per field with scalar values only, so a
spreadsheet or a GIS (GDAL, QGIS) reads them as typed columns with no expression.

``as_of`` answers "what did we know then?": only reports published (or fetched) by then count.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from worker.pipeline.extract.gazetteer import country_name
from worker.store.linking import derive_from, incident_values
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
        "outlet": _outlet(a),
        "published_at": _iso(a.published_at),
        "title": a.title,
        "copy_of": a.copy_of_id is not None,
        "event_type": data.get("event_type"),
        "date": data.get("date"),
        "location": data.get("location"),
        "perpetrator": data.get("perpetrator"),
        "killed": (data.get("killed") or {}).get("best"),
        "injured": (data.get("injured") or {}).get("best"),
        **evidence_by_sentence(data.get("evidence") or []),
        "link": {"score": r.link_score, "reasons": r.link_reasons},
    }


def evidence_by_sentence(stored: list[dict[str, Any]]) -> dict[str, Any]:
    """A report's stored evidence (``{field, text, start, end}`` each) as its distinct
    ``sentences`` and ``evidence`` entries that point into them."""
    sentences: list[str] = []
    at: dict[str, int] = {}
    out = []
    for ev in stored:
        text = str(ev.get("text") or "")
        if text not in at:
            at[text] = len(sentences)
            sentences.append(text)
        out.append({"field": ev.get("field"), "sentence": at[text], "start": ev.get("start"), "end": ev.get("end")})
    return {"sentences": sentences, "evidence": out}


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


# Spreadsheet order: when and what, where (country to point), how many, who, then sources.
CSV_COLUMNS = [
    "id",
    "date",
    "date_precision",
    "event_type",
    "country_name",
    "country",
    "admin1",
    "location_name",
    "location_precision",
    "lat",
    "lon",
    "killed_best",
    "killed_low",
    "killed_high",
    "injured_best",
    "injured_low",
    "injured_high",
    "perpetrator",
    "perpetrator_certainty",
    "victims",
    "num_reports",
    "num_independent_sources",
    "outlets",
    "first_reported_at",
    "last_reported_at",
    "evidence",
    "report_titles",
    "report_urls",
]
LIST_SEPARATOR = "; "  # outlets
TITLE_SEPARATOR = " | "  # titles may hold "; "
URL_SEPARATOR = " "  # a URL holds no space


def flat(i: dict[str, Any]) -> dict[str, str | int | float | None]:
    """One incident as one row of scalars (the CSV row, the GeoJSON properties)."""
    loc, reports = i["location"], i["reports"]
    return {
        "id": i["id"],
        "date": i["date"],
        "date_precision": i["date_precision"],
        "event_type": i["event_type"],
        "country_name": country_name(loc["country"]) if loc["country"] else None,
        "country": loc["country"],
        "admin1": loc["admin1"],
        "location_name": loc["name"],
        "location_precision": loc["precision"],
        "lat": loc["lat"],
        "lon": loc["lon"],
        **{f"killed_{k}": i["killed"][k] for k in ("best", "low", "high")},
        **{f"injured_{k}": i["injured"][k] for k in ("best", "low", "high")},
        "perpetrator": i["perpetrator"],
        "perpetrator_certainty": i["perpetrator_certainty"],
        "victims": i["victims"],
        "num_reports": i["num_reports"],
        "num_independent_sources": i["num_independent_sources"],
        "outlets": LIST_SEPARATOR.join(dict.fromkeys(r["outlet"] for r in reports)),
        "first_reported_at": i["first_reported_at"],
        "last_reported_at": i["last_reported_at"],
        "evidence": _evidence_sentence(i),
        "report_titles": TITLE_SEPARATOR.join(r["title"] for r in reports if r["title"]),
        "report_urls": URL_SEPARATOR.join(r["url"] for r in reports),
    }


def _outlet(a: Article) -> str:
    """Who published an article, by name: the wire agency of its dateline ("Reuters"), else
    its feed's name, else the host of its URL."""
    return a.dateline_agency or a.source or urlsplit(a.url).hostname or a.url


def _agreement(i: dict[str, Any], r: dict[str, Any]) -> int:
    """How many of the incident's merged fields a report gives as the incident has them."""
    place = (r["location"] or {}).get("name")
    return sum(
        (
            r["event_type"] == i["event_type"],
            r["date"] == i["date"],
            place == i["location"]["name"],
            r["killed"] == i["killed"]["best"],
            r["perpetrator"] == i["perpetrator"],
        )
    )


def _evidence_sentence(i: dict[str, Any]) -> str | None:
    """The sentence the incident's fields come from: in the report that agrees most with the
    merged fields (the earliest on a tie), the one that tells the event (its type's), else
    its first evidence sentence."""
    told = [r for r in i["reports"] if r["evidence"]]
    if not told:
        return None
    best = max(told, key=lambda r: _agreement(i, r))
    ev = next((e for e in best["evidence"] if e["field"] == "event_type"), best["evidence"][0])
    return str(best["sentences"][ev["sentence"]])


def to_csv(items: list[dict[str, Any]]) -> str:
    """RFC 4180 CSV: a header, then one CRLF-ended row per incident; fields quoted when needed."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    w.writeheader()
    for i in items:
        w.writerow(flat(i))
    return buf.getvalue()


def to_geojson(items: list[dict[str, Any]]) -> str:
    """A FeatureCollection: a Point [lon, lat] per incident (geometry null where the place has
    no coordinates, as GeoJSON allows) with the CSV's columns as flat properties."""
    features = [
        {
            "type": "Feature",
            "geometry": (
                {"type": "Point", "coordinates": [i["location"]["lon"], i["location"]["lat"]]}
                if i["location"]["lat"] is not None and i["location"]["lon"] is not None
                else None
            ),
            "properties": flat(i),
        }
        for i in items
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=2, ensure_ascii=False)

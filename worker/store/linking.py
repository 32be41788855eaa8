"""Linking reports into incidents, in the database.

    link_report(session, report_id, policy) -> incident id
    find_copy_of(session, text, threshold) -> (signature, bands, original article id | None)
    merge_incidents / split_report / relink_all: operator corrections and re-processing

Candidate lookup goes through the ``(country, date)`` indexes of ``incidents`` with a date
window, so its cost does not grow with the size of the database. On PostgreSQL the whole
decision runs under a transaction-scoped advisory lock per country: two workers linking
reports of one strike at the same moment serialize, and the second sees the first's incident.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from worker.pipeline import dedupe
from worker.records import Count, Incident as IncidentRecord, Place
from worker.store.models import Article, ArticleBand, Correction, Incident, IncidentHistory, Report, utcnow

_DERIVED_FIELDS = (
    "event_type", "date", "date_precision", "location_name", "admin1", "country", "lat", "lon",
    "location_precision", "perpetrator", "perpetrator_certainty", "victims", "killed_low", "killed_best",
    "killed_high", "injured_low", "injured_best", "injured_high", "num_reports", "num_independent_sources",
)


def lock_key(country: str | None) -> int:
    """A stable signed 64-bit advisory-lock key per blocking key (country)."""
    digest = hashlib.blake2b(f"wirewatch:link:{country or '??'}".encode(), digest_size=8).digest()
    return int(struct.unpack(">q", digest)[0])


def _lock(session: Session, country: str | None) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(country)})


def evidence_text(data: dict[str, Any]) -> str:
    return " ".join(sorted({e.get("text", "") for e in data.get("evidence") or []}))


def _place(inc: Incident) -> Place | None:
    if inc.location_name is None and inc.lat is None:
        return None
    return Place(name=inc.location_name or "", country=inc.country, lat=inc.lat, lon=inc.lon,
                 admin1=inc.admin1, precision=inc.location_precision or "town")


def _candidates(session: Session, rec: IncidentRecord, policy: dedupe.Policy) -> list[dedupe.Candidate]:
    q = select(Incident).where(col(Incident.merged_into).is_(None), Incident.num_reports > 0)
    country = rec.location.country if rec.location else None
    q = q.where(Incident.country == country) if country else q.where(col(Incident.country).is_(None))
    if rec.date is not None:
        # Wide enough for a vague date on either side (a day-precise report may match a
        # week-precise incident); the scorer applies the exact window per pair.
        window = timedelta(days=policy.days_allowed(rec.date_precision, "week"))
        q = q.where(sa.or_(col(Incident.date).is_(None),
                           col(Incident.date).between(rec.date - window, rec.date + window)))
    loc = rec.location
    if loc is not None and loc.lat is not None and loc.lon is not None and loc.precision in ("town", "near"):
        # A box a little larger than max_km around the report (incidents without coordinates stay in).
        dlat = policy.max_km / 111.0
        dlon = dlat / max(0.2, math.cos(math.radians(loc.lat)))
        q = q.where(sa.or_(col(Incident.lat).is_(None),
                           sa.or_(col(Incident.location_precision).in_(("province", "country")),
                                  sa.and_(col(Incident.lat).between(loc.lat - dlat, loc.lat + dlat),
                                          col(Incident.lon).between(loc.lon - dlon, loc.lon + dlon)))))
    q = q.order_by(col(Incident.date), col(Incident.id)).limit(200)
    incidents = session.exec(q).all()
    if not incidents:
        return []
    ids = [i.id for i in incidents]
    reports = session.exec(select(Report).where(col(Report.incident_id).in_(ids))).all()
    by_incident: dict[str, list[Report]] = {}
    for r in reports:
        by_incident.setdefault(r.incident_id or "", []).append(r)
    out = []
    for inc in incidents:
        rs = by_incident.get(inc.id, [])
        out.append(dedupe.Candidate(
            id=inc.id, event_type=inc.event_type, date=inc.date, location=_place(inc),
            perpetrator=inc.perpetrator, killed=Count(inc.killed_low, inc.killed_best, inc.killed_high),
            evidence_text=" ".join(evidence_text(r.data) for r in rs),
            article_ids=frozenset(r.article_id for r in rs), date_precision=inc.date_precision,
        ))
    return out


def link_report(session: Session, report_id: int, policy: dedupe.Policy) -> str:
    """Attach the report to the best-scoring incident above the threshold, or start one.

    Idempotent: a report already linked keeps its incident.
    """
    report = session.get_one(Report, report_id)
    if report.incident_id is not None:
        return report.incident_id
    rec = IncidentRecord.from_dict(report.data)
    _lock(session, rec.location.country if rec.location else None)
    session.refresh(report)
    if report.incident_id is not None:  # linked by a concurrent worker while we waited
        return report.incident_id
    text = evidence_text(report.data)
    decisions = [(dedupe.score(rec, report.article_id, text, c, policy), c) for c in _candidates(session, rec, policy)]
    decisions.sort(key=lambda dc: (-dc[0].score, dc[1].id))
    best = next(((d, c) for d, c in decisions if d.link), None)
    if best is None:
        incident = Incident(event_type=rec.event_type)
        session.add(incident)
        session.flush()
        report.link_score, report.link_reasons = None, {"new": True, "candidates": len(decisions)}
        action = "created"
    else:
        decision, cand = best
        incident = session.get_one(Incident, cand.id)
        report.link_score, report.link_reasons = decision.score, decision.reasons
        action = "linked"
    report.incident_id = incident.id
    report.linked_at = utcnow()
    session.flush()
    recompute(session, incident.id, report_id=report_id, action=action)
    return incident.id


def recompute(session: Session, incident_id: str, *, report_id: int | None = None, action: str = "recomputed") -> None:
    """Re-derive the incident from its reports; append what changed to its history."""
    incident = session.get_one(Incident, incident_id)
    rows = session.exec(
        select(Report, Article).join(Article, col(Article.id) == col(Report.article_id))
        .where(Report.incident_id == incident_id)
    ).all()
    views = [dedupe.ReportView(IncidentRecord.from_dict(r.data), a.published_at, key)
             for (r, a), key in zip(rows, source_keys(session, [a for _, a in rows]), strict=True)]
    before = {f: getattr(incident, f) for f in _DERIVED_FIELDS}
    if views:
        d = dedupe.derive(views)
        loc = d.location
        values: dict[str, Any] = {
            "event_type": d.event_type, "date": d.date, "date_precision": d.date_precision,
            "location_name": loc.name if loc else None, "admin1": loc.admin1 if loc else None,
            "country": loc.country if loc else None, "lat": loc.lat if loc else None,
            "lon": loc.lon if loc else None, "location_precision": loc.precision if loc else None,
            "perpetrator": d.perpetrator, "perpetrator_certainty": d.perpetrator_certainty, "victims": d.victims,
            "killed_low": d.killed.low, "killed_best": d.killed.best, "killed_high": d.killed.high,
            "injured_low": d.injured.low, "injured_best": d.injured.best, "injured_high": d.injured.high,
            "num_reports": d.num_reports, "num_independent_sources": d.num_independent_sources,
        }
        incident.first_reported_at, incident.last_reported_at = d.first_reported_at, d.last_reported_at
    else:
        values = {"num_reports": 0, "num_independent_sources": 0}
    for f, v in values.items():
        setattr(incident, f, v)
    incident.updated_at = utcnow()
    changes = {f: [_jsonable(before[f]), _jsonable(values[f])] for f in values if before[f] != values[f]}
    if changes or action != "recomputed":
        session.add(IncidentHistory(incident_id=incident_id, report_id=report_id, action=action, changes=changes))
    session.flush()


def source_keys(session: Session, articles: Sequence[Article]) -> list[str]:
    """Independent-source key per article: its outlet, or for a wire copy its original's outlet."""
    roots = {a.copy_of_id for a in articles if a.copy_of_id is not None}
    names = dict(session.exec(select(Article.id, Article.source).where(col(Article.id).in_(roots))).all()) if roots else {}
    out = []
    for a in articles:
        root = a.copy_of_id if a.copy_of_id is not None else a.id
        name = names.get(root) if a.copy_of_id is not None else a.source
        out.append((name or f"article:{root}").casefold())
    return out


def _jsonable(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


# --- wire copies ------------------------------------------------------------------------------

def find_copy_of(session: Session, text: str, threshold: float) -> tuple[bytes, list[str], int | None]:
    """MinHash the text; return its signature, its LSH band keys and the earliest stored
    article it nearly duplicates (estimated Jaccard >= threshold), if any."""
    sig = dedupe.minhash(text)
    bands = dedupe.lsh_bands(sig, threshold)
    rows = session.exec(
        select(Article.id, Article.minhash, Article.copy_of_id)
        .join(ArticleBand, col(ArticleBand.article_id) == col(Article.id))
        .where(col(ArticleBand.band).in_(bands)).distinct().order_by(col(Article.id))
    ).all()
    for aid, data, copy_of in rows:
        if data and dedupe.from_signature(data).jaccard(sig) >= threshold:
            return dedupe.signature_bytes(sig), bands, copy_of or aid
    return dedupe.signature_bytes(sig), bands, None


def store_bands(session: Session, article_id: int, bands: Sequence[str]) -> None:
    for b in bands:
        session.merge(ArticleBand(article_id=article_id, band=b))


# --- operator corrections ---------------------------------------------------------------------

def _report_urls(session: Session, incident_id: str) -> list[str]:
    return sorted(session.exec(
        select(Article.url).join(Report, col(Report.article_id) == col(Article.id)).where(Report.incident_id == incident_id)
    ).all())


def merge_incidents(session: Session, keep: str, other: str, *, record: bool = True, note: str | None = None) -> None:
    """Move every report of `other` into `keep`; `other` stays as a tombstone pointing at `keep`."""
    if keep == other:
        return
    target, gone = session.get_one(Incident, keep), session.get_one(Incident, other)
    if record:
        session.add(Correction(kind="merge", incident_id=keep, other_incident_id=other, note=note,
                               report_url="\n".join(_report_urls(session, keep) + ["--"] + _report_urls(session, other))))
    for r in session.exec(select(Report).where(Report.incident_id == other)).all():
        r.incident_id = target.id
        r.link_reasons = {"operator": "merge", "from": other}
        r.link_score = 1.0
    gone.merged_into = target.id
    session.flush()
    recompute(session, target.id, action="merged")
    recompute(session, gone.id, action="merged")


def split_report(session: Session, incident_id: str, url: str, *, record: bool = True, note: str | None = None) -> str:
    """Move the reports of the article at `url` out of `incident_id` into a new incident."""
    rows = session.exec(
        select(Report).join(Article, col(Article.id) == col(Report.article_id))
        .where(Report.incident_id == incident_id, sa.or_(col(Article.url) == url, col(Article.canonical_url) == url))
    ).all()
    if not rows:
        raise LookupError(f"incident {incident_id} has no report from {url}")
    if record:
        session.add(Correction(kind="split", incident_id=incident_id, report_url=url, article_id=rows[0].article_id,
                               note=note))
    new = Incident(event_type=rows[0].event_type)
    session.add(new)
    session.flush()
    for r in rows:
        r.incident_id = new.id
        r.link_reasons = {"operator": "split", "from": incident_id}
        r.link_score = None
    session.flush()
    recompute(session, incident_id, action="split")
    recompute(session, new.id, action="split")
    return new.id


def incident_of_url(session: Session, url: str) -> str | None:
    return session.exec(
        select(Report.incident_id).join(Article, col(Article.id) == col(Report.article_id))
        .where(sa.or_(col(Article.url) == url, col(Article.canonical_url) == url), col(Report.incident_id).is_not(None))
    ).first()


def apply_corrections(session: Session) -> int:
    """Replay operator corrections (in order) onto the current links, by report URL, so they
    survive re-processing. Returns how many applied."""
    applied = 0
    for c in session.exec(select(Correction).order_by(col(Correction.id))).all():
        if c.kind == "split" and c.report_url:
            inc = incident_of_url(session, c.report_url)
            if inc is not None and len(_report_urls(session, inc)) > 1:
                split_report(session, inc, c.report_url, record=False)
                applied += 1
        elif c.kind == "merge" and c.report_url:
            left, _, right = c.report_url.partition("\n--")
            a = next((i for u in left.split("\n") if u and (i := incident_of_url(session, u))), None)
            b = next((i for u in right.split("\n") if u and (i := incident_of_url(session, u))), None)
            if a and b and a != b:
                merge_incidents(session, a, b, record=False)
                applied += 1
    return applied


def relink_all(session: Session, policy: dedupe.Policy) -> int:
    """Re-process every report: unlink, link again in publication order, replay corrections.

    Old incidents stay (empty) so their history remains readable. Returns the number of
    incidents that hold reports afterwards.
    """
    session.execute(sa.update(Report).values(incident_id=None, link_score=None, link_reasons={}))
    session.execute(sa.update(Incident).values(num_reports=0, num_independent_sources=0))
    order = session.exec(
        select(Report.id).join(Article, col(Article.id) == col(Report.article_id))
        .order_by(col(Article.published_at), col(Article.url), col(Report.ordinal))
    ).all()
    for rid in order:
        assert rid is not None
        link_report(session, rid, policy)
    apply_corrections(session)
    return len(session.exec(select(Incident.id).where(Incident.num_reports > 0, col(Incident.merged_into).is_(None))).all())

"""Linking reports into incidents, in the database.

    link_report(session, report_id, policy) -> incident id
    find_copy_of(session, text, threshold) -> (signature, bands, original article id | None)
    merge_incidents / split_report / unmerge_incidents / relink_all: operator corrections and re-processing

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
from worker.records import Incident as IncidentRecord
from worker.records import Place
from worker.store.models import Article, ArticleBand, Correction, Incident, IncidentHistory, Report, utcnow

DERIVED_FIELDS = (  # incident columns derived from its reports
    "event_type",
    "date",
    "date_precision",
    "location_name",
    "admin1",
    "country",
    "lat",
    "lon",
    "location_precision",
    "perpetrator",
    "perpetrator_certainty",
    "victims",
    "killed_low",
    "killed_best",
    "killed_high",
    "injured_low",
    "injured_best",
    "injured_high",
    "num_reports",
    "num_independent_sources",
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
    return Place(
        name=inc.location_name or "",
        country=inc.country,
        lat=inc.lat,
        lon=inc.lon,
        admin1=inc.admin1,
        precision=inc.location_precision or "town",
    )


def _candidate_incidents(session: Session, rec: IncidentRecord, policy: dedupe.Policy) -> list[Incident]:
    """Live incidents in the report's block: same country, date window, a box around the place."""
    q = select(Incident).where(col(Incident.merged_into).is_(None), Incident.num_reports > 0)
    country = rec.location.country if rec.location else None
    q = q.where(Incident.country == country) if country else q.where(col(Incident.country).is_(None))
    if rec.date is not None:
        # Wide enough for a vague date on either side (a day-precise report may match a
        # week-precise one); the scorer applies the exact window per pair.
        window = timedelta(days=policy.days_allowed(rec.date_precision, "week"))
        q = q.where(
            sa.or_(col(Incident.date).is_(None), col(Incident.date).between(rec.date - window, rec.date + window))
        )
    loc = rec.location
    if loc is not None and loc.lat is not None and loc.lon is not None and loc.precision in ("town", "near"):
        # A box a little larger than max_km around the report (incidents without coordinates stay in).
        dlat = policy.max_km / 111.0
        dlon = dlat / max(0.2, math.cos(math.radians(loc.lat)))
        q = q.where(
            sa.or_(
                col(Incident.lat).is_(None),
                sa.or_(
                    col(Incident.location_precision).in_(("province", "country")),
                    sa.and_(
                        col(Incident.lat).between(loc.lat - dlat, loc.lat + dlat),
                        col(Incident.lon).between(loc.lon - dlon, loc.lon + dlon),
                    ),
                ),
            )
        )
    return list(session.exec(q.order_by(col(Incident.id)).limit(200)).all())


def _report_candidates(session: Session, incidents: Sequence[Incident]) -> dict[str, list[dedupe.Candidate]]:
    """Each incident's reports, each as a candidate with its own claims."""
    if not incidents:
        return {}
    reports = session.exec(select(Report).where(col(Report.incident_id).in_([i.id for i in incidents]))).all()
    articles: dict[str, frozenset[int]] = {}
    for r in reports:
        articles[r.incident_id or ""] = articles.get(r.incident_id or "", frozenset()) | {r.article_id}
    out: dict[str, list[dedupe.Candidate]] = {}
    for r in reports:
        c = IncidentRecord.from_dict(r.data)
        out.setdefault(r.incident_id or "", []).append(
            dedupe.Candidate(
                id=r.incident_id or "",
                event_type=c.event_type,
                date=c.date,
                location=c.location,
                perpetrator=c.perpetrator,
                killed=c.killed,
                evidence_text=evidence_text(r.data),
                article_ids=articles[r.incident_id or ""],
                date_precision=c.date_precision,
            )
        )
    return out


def link_report(session: Session, report_id: int, policy: dedupe.Policy) -> str:
    """Attach the report to the incident it matches, or start one; returns the incident id.

    Matching is pairwise, report against report (an incident matches when one of its reports
    does), and a report that matches several incidents joins them into one. The clusters are
    then the connected parts of the report-to-report match graph, which do not depend on the
    order reports arrive in. Two reports of one article are never joined, and incidents an
    operator split are never joined automatically. Idempotent: a linked report keeps its incident.
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
    incidents = {i.id: i for i in _candidate_incidents(session, rec, policy)}
    best_by_incident: dict[str, dedupe.Decision] = {}
    for inc_id, cands in _report_candidates(session, list(incidents.values())).items():
        decisions = [dedupe.score(rec, report.article_id, text, c, policy) for c in cands]
        best_by_incident[inc_id] = max(decisions, key=lambda d: d.score)
    matches = sorted((d.score, i) for i, d in best_by_incident.items() if d.link)
    if not matches:
        incident = Incident(event_type=rec.event_type)
        session.add(incident)
        session.flush()
        report.link_score = None
        report.link_reasons = {"new": True, "candidates": len(best_by_incident)}
        action = "created"
    else:
        score, best_id = matches[-1]
        incident = incidents[best_id]
        report.link_score, report.link_reasons = score, best_by_incident[best_id].reasons
        action = "linked"
    report.incident_id = incident.id
    report.linked_at = utcnow()
    session.flush()
    recompute(session, incident.id, report_id=report_id, action=action)
    for _score, other in matches[:-1]:
        _auto_merge(session, incident, incidents[other], report_id)
    return incident.id


def _auto_merge(session: Session, keep: Incident, other: Incident, report_id: int) -> None:
    """Join `other` into `keep` because one report matches both, unless an operator split one
    of them or they share an article (one article's incidents are distinct events)."""
    if keep.locked or other.locked:
        return
    shared = session.exec(
        select(Report.article_id)
        .where(Report.incident_id == keep.id)
        .where(col(Report.article_id).in_(select(Report.article_id).where(Report.incident_id == other.id)))
    ).first()
    if shared is not None:
        return
    for r in session.exec(select(Report).where(Report.incident_id == other.id)).all():
        r.incident_id = keep.id
    other.merged_into = keep.id
    session.flush()
    recompute(session, keep.id, report_id=report_id, action="joined")
    recompute(session, other.id, report_id=report_id, action="joined")


def recompute(session: Session, incident_id: str, *, report_id: int | None = None, action: str = "recomputed") -> None:
    """Re-derive the incident from its reports; append what changed to its history."""
    incident = session.get_one(Incident, incident_id)
    rows = session.exec(
        select(Report, Article)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(Report.incident_id == incident_id)
    ).all()
    before = {f: getattr(incident, f) for f in DERIVED_FIELDS}
    if rows:
        d = derive_from(session, list(rows))
        values = incident_values(d)
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


def derive_from(session: Session, rows: Sequence[tuple[Report, Article]]) -> dedupe.Derived:
    """The merged fields of the incident these (report, article) pairs make up."""
    keys = source_keys(session, [a for _, a in rows])
    return dedupe.derive(
        [
            dedupe.ReportView(IncidentRecord.from_dict(r.data), a.published_at, key)
            for (r, a), key in zip(rows, keys, strict=True)
        ]
    )


def incident_values(d: dedupe.Derived) -> dict[str, Any]:
    """`d` as values of the incident's derived columns (DERIVED_FIELDS)."""
    loc = d.location
    return {
        "event_type": d.event_type,
        "date": d.date,
        "date_precision": d.date_precision,
        "location_name": loc.name if loc else None,
        "admin1": loc.admin1 if loc else None,
        "country": loc.country if loc else None,
        "lat": loc.lat if loc else None,
        "lon": loc.lon if loc else None,
        "location_precision": loc.precision if loc else None,
        "perpetrator": d.perpetrator,
        "perpetrator_certainty": d.perpetrator_certainty,
        "victims": d.victims,
        "killed_low": d.killed.low,
        "killed_best": d.killed.best,
        "killed_high": d.killed.high,
        "injured_low": d.injured.low,
        "injured_best": d.injured.best,
        "injured_high": d.injured.high,
        "num_reports": d.num_reports,
        "num_independent_sources": d.num_independent_sources,
    }


def source_keys(session: Session, articles: Sequence[Article]) -> list[str]:
    """Independent-source key per article: its outlet, or for a wire copy its original's outlet."""
    roots = {a.copy_of_id for a in articles if a.copy_of_id is not None}
    names = (
        dict(session.exec(select(Article.id, Article.source).where(col(Article.id).in_(roots))).all()) if roots else {}
    )
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
        .where(col(ArticleBand.band).in_(bands))
        .distinct()
        .order_by(col(Article.id))
    ).all()
    for aid, data, copy_of in rows:
        if data and dedupe.from_signature(data).jaccard(sig) >= threshold:
            return dedupe.signature_bytes(sig), bands, copy_of or aid
    return dedupe.signature_bytes(sig), bands, None


def signature(text: str, threshold: float) -> tuple[bytes, list[str]]:
    """The text's MinHash signature and LSH band keys (see :func:`find_copy_of`)."""
    sig = dedupe.minhash(text)
    return dedupe.signature_bytes(sig), dedupe.lsh_bands(sig, threshold)


def store_bands(session: Session, article_id: int, bands: Sequence[str], *, replace: bool = False) -> None:
    """Index the article's band keys (`replace`: drop its old ones first, its text changed)."""
    if replace:
        session.execute(sa.delete(ArticleBand).where(col(ArticleBand.article_id) == article_id))
    for b in bands:
        session.merge(ArticleBand(article_id=article_id, band=b))


# --- operator corrections ---------------------------------------------------------------------


def _report_urls(session: Session, incident_id: str) -> list[str]:
    return sorted(
        session.exec(
            select(Article.url)
            .join(Report, col(Report.article_id) == col(Article.id))
            .where(Report.incident_id == incident_id)
        ).all()
    )


def merge_incidents(
    session: Session,
    keep: str,
    other: str,
    *,
    record: bool = True,
    note: str | None = None,
    operator: str | None = None,
) -> None:
    """Move every report of `other` into `keep`; `other` stays as a tombstone pointing at `keep`."""
    if keep == other:
        return
    target, gone = session.get_one(Incident, keep), session.get_one(Incident, other)
    if record:
        session.add(
            Correction(
                kind="merge",
                incident_id=keep,
                other_incident_id=other,
                note=note,
                operator=operator,
                report_url="\n".join([*_report_urls(session, keep), "--", *_report_urls(session, other)]),
            )
        )
    for r in session.exec(select(Report).where(Report.incident_id == other)).all():
        r.incident_id = target.id
        r.link_reasons = {"operator": "merge", "from": other}
        r.link_score = 1.0
    gone.merged_into = target.id
    session.flush()
    recompute(session, target.id, action="merged")
    recompute(session, gone.id, action="merged")


def split_report(
    session: Session,
    incident_id: str,
    url: str,
    *,
    record: bool = True,
    note: str | None = None,
    operator: str | None = None,
) -> str:
    """Move the reports of the article at `url` out of `incident_id` into a new incident."""
    rows = session.exec(
        select(Report)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(Report.incident_id == incident_id, sa.or_(col(Article.url) == url, col(Article.canonical_url) == url))
    ).all()
    if not rows:
        raise LookupError(f"incident {incident_id} has no report from {url}")
    if record:
        session.add(
            Correction(
                kind="split",
                incident_id=incident_id,
                report_url=url,
                article_id=rows[0].article_id,
                note=note,
                operator=operator,
            )
        )
    new = Incident(event_type=rows[0].event_type, locked=True)
    session.get_one(Incident, incident_id).locked = True
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


def unmerge_incidents(
    session: Session,
    keep: str,
    other: str,
    *,
    record: bool = True,
    note: str | None = None,
    operator: str | None = None,
) -> None:
    """Undo the merge of `other` into `keep`: the reports `other` held when it was merged (by
    article URL, from the merge's correction) go back to it, and it is live again.

    Raises LookupError when `other` is not merged into `keep` or no recorded merge names them.
    """
    gone = session.get(Incident, other)
    if gone is None or gone.merged_into is None or gone.merged_into != keep:
        raise LookupError(f"incident {other} is not merged into {keep}")
    merge = session.exec(
        select(Correction)
        .where(Correction.kind == "merge", Correction.incident_id == keep, Correction.other_incident_id == other)
        .order_by(col(Correction.id).desc())
    ).first()
    if merge is None or not merge.report_url:
        raise LookupError(f"no recorded merge of {other} into {keep} to undo")
    _, _, right = merge.report_url.partition("\n--")
    urls = [u for u in right.split("\n") if u]
    if record:
        session.add(
            Correction(
                kind="unmerge",
                incident_id=keep,
                other_incident_id=other,
                note=note,
                operator=operator,
                report_url=merge.report_url,
            )
        )
    _move_reports(session, keep, urls, gone)


def _move_reports(session: Session, source: str, urls: Sequence[str], target: Incident) -> None:
    """Move the reports of `source` whose article is at one of `urls` into `target` (made live)."""
    rows = session.exec(
        select(Report)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(
            Report.incident_id == source,
            sa.or_(col(Article.url).in_(list(urls)), col(Article.canonical_url).in_(list(urls))),
        )
    ).all()
    for r in rows:
        r.incident_id = target.id
        r.link_reasons = {"operator": "unmerge", "from": source}
        r.link_score = None
    target.merged_into = None
    session.flush()
    recompute(session, source, action="unmerged")
    recompute(session, target.id, action="unmerged")


def incident_of_url(session: Session, url: str) -> str | None:
    return session.exec(
        select(Report.incident_id)
        .join(Article, col(Article.id) == col(Report.article_id))
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
        elif c.kind == "unmerge" and c.report_url:
            # Undo the replayed merge: the other side's reports leave the incident they share.
            left, _, right = c.report_url.partition("\n--")
            a = next((i for u in left.split("\n") if u and (i := incident_of_url(session, u))), None)
            right_urls = [u for u in right.split("\n") if u]
            b = next((i for u in right_urls if (i := incident_of_url(session, u))), None)
            if a and a == b:
                new = Incident(event_type=session.get_one(Incident, a).event_type)
                session.add(new)
                session.flush()
                _move_reports(session, a, right_urls, new)
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
        select(Report.id)
        .join(Article, col(Article.id) == col(Report.article_id))
        .order_by(col(Article.published_at), col(Article.url), col(Report.ordinal))
    ).all()
    for rid in order:
        assert rid is not None
        link_report(session, rid, policy)
    apply_corrections(session)
    return len(
        session.exec(select(Incident.id).where(Incident.num_reports > 0, col(Incident.merged_into).is_(None))).all()
    )

"""Linking reports into incidents, in the database. The decisions are made by the pure
`worker.pipeline.dedupe`, on the event names `worker.pipeline.names` reads from each report's
text; this module loads what they need and writes what they decide.

    link_report(session, report_id, policy) -> incident id
    find_copy_of(session, text, threshold) -> (signature, bands, original article id | None)
    merge_incidents / unmerge_incidents / split_report / relink_all: corrections and re-processing

Candidates come from two indexed lookups, so their cost does not grow with the database: the
geographic block (the ``(country, date)`` index of ``incidents`` with a date window and a box
around the place) and the event-name block (``report_keys``: reports sharing a name with this
one within the date window, which finds reports of one event that a wrong geocode put apart).
On PostgreSQL the whole decision runs under a transaction-scoped advisory lock per country: two
workers linking reports of one strike at the same moment serialize, and the second sees the
first's incident.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from worker.pipeline import dedupe
from worker.pipeline.names import VICTIM_MARK, fingerprint, headline_case, victim_marks
from worker.records import Incident as IncidentRecord
from worker.records import Place
from worker.store.models import (
    Article,
    ArticleBand,
    Correction,
    Incident,
    IncidentHistory,
    Report,
    ReportKey,
    utcnow,
)

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
LEDE_CHARS = 3000  # how much of an article's text speaks for its main incident's names
MAX_NAMES = 64
MAX_CANDIDATES = 200


def lock_key(country: str | None) -> int:
    """A stable signed 64-bit advisory-lock key per blocking key (country)."""
    digest = hashlib.blake2b(f"wirewatch:link:{country or '??'}".encode(), digest_size=8).digest()
    return int(struct.unpack(">q", digest)[0])


def _lock(session: Session, country: str | None) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(country)})


def evidence_text(data: dict[str, Any]) -> str:
    return " ".join(sorted({e.get("text", "") for e in data.get("evidence") or []}))


def report_names(report: Report, article: Article, *, roundup: bool = False) -> frozenset[str]:
    """The report's event names: from its evidence, and for the incident of a one-incident
    article (the one its headline and lede are about) from the title and lede too. A
    round-up's incidents (`roundup`: the article reports several) get only their own
    sentences: its title and lede ("a violent weekend across the city") tell of all of them.
    A title in headline case ("Man Shot In Elmwood") is left out: its capitals mark no names.
    The victims the same text describes by age and sex (`names.victim_marks`: "#7f" for "a
    7-year-old girl") are added, from any title: they do not depend on capitals."""
    rec = IncidentRecord.from_dict(report.data)
    text = evidence_text(report.data)
    described = text
    if report.ordinal == 0 and not roundup:
        title = "" if headline_case(article.title or "") else article.title
        described = f"{article.title}\n{article.text[:LEDE_CHARS]}\n{text}"
        text = f"{title}\n{article.text[:LEDE_CHARS]}\n{text}"
    loc = rec.location
    places = [loc.name, loc.admin1 or "", loc.admin2 or ""] if loc else []
    names = fingerprint(text, exclude=places)
    victims = sorted(victim_marks(described))[:MAX_NAMES]
    return (frozenset(sorted(names)[:MAX_NAMES]) if len(names) > MAX_NAMES else names) | frozenset(victims)


def _ensure_names(session: Session, report: Report) -> frozenset[str]:
    """The report's event names, computed and indexed the first time it is linked."""
    if report.names is not None:
        return frozenset(report.names)
    article = session.get_one(Article, report.article_id)
    reports = session.exec(select(sa.func.count()).where(Report.article_id == report.article_id)).one()
    names = report_names(report, article, roundup=reports > 1)
    report.names = sorted({n[:64] for n in names})
    assert report.id is not None
    # A victim's age and sex single out an event only within its city: looked up across the
    # country, "a 23-year-old man" would bring in every such shooting of the week.
    for n in report.names:
        if not n.startswith(VICTIM_MARK):
            session.add(ReportKey(key=n, report_id=report.id, day=report.date))
    session.flush()
    return frozenset(report.names)


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


def _live() -> Any:
    return select(Incident).where(col(Incident.merged_into).is_(None), Incident.num_reports > 0)


def _candidate_incidents(
    session: Session, rec: IncidentRecord, names: frozenset[str], policy: dedupe.Policy
) -> list[Incident]:
    """Live incidents in the report's blocks: (same country, date window, a box around the
    place) and (a report sharing an event name within the date window)."""
    q = _live()
    country = rec.location.country if rec.location else None
    q = q.where(Incident.country == country) if country else q.where(col(Incident.country).is_(None))
    window = timedelta(days=max(policy.days_allowed(rec.date_precision, "week"), policy.follow_up_days))
    if rec.date is not None:
        # Wide enough for a vague date on either side (a day-precise report may match a
        # week-precise one); the scorer applies the exact window per pair.
        q = q.where(
            sa.or_(col(Incident.date).is_(None), col(Incident.date).between(rec.date - window, rec.date + window))
        )
    loc = rec.location
    if (
        loc is not None
        and loc.lat is not None
        and loc.lon is not None
        and dedupe.precision_rank(loc) >= dedupe.NEAR_RANK
    ):
        # A box a little larger than max_km around the report (incidents without coordinates stay in).
        dlat = policy.max_km / 111.0
        dlon = dlat / max(0.2, math.cos(math.radians(loc.lat)))
        q = q.where(
            sa.or_(
                col(Incident.lat).is_(None),
                sa.or_(
                    col(Incident.location_precision).in_(("province", "district", "country")),
                    sa.and_(
                        col(Incident.lat).between(loc.lat - dlat, loc.lat + dlat),
                        col(Incident.lon).between(loc.lon - dlon, loc.lon + dlon),
                    ),
                ),
            )
        )
    found = {i.id: i for i in session.exec(q.order_by(col(Incident.id)).limit(MAX_CANDIDATES)).all()}
    ids = _incidents_of_reports_near(session, rec, window, policy)
    if names and rec.date is not None:
        by_name = (
            select(Report.incident_id)
            .join(ReportKey, col(ReportKey.report_id) == col(Report.id))
            .where(
                col(ReportKey.key).in_(sorted(names)),
                col(ReportKey.day).between(rec.date - window, rec.date + window),
                col(Report.incident_id).is_not(None),
            )
            .distinct()
            .limit(MAX_CANDIDATES)
        )
        ids |= {i for i in session.exec(by_name).all() if i}
    ids -= set(found)
    if ids:
        for inc in session.exec(_live().where(col(Incident.id).in_(sorted(ids)))).all():
            found[inc.id] = inc
    return [found[k] for k in sorted(found)]


def _incidents_of_reports_near(
    session: Session, rec: IncidentRecord, window: timedelta, policy: dedupe.Policy
) -> set[str]:
    """Incidents with a report of their own in the report's box (same country, date window).

    The incident's columns are derived from all its reports (the most precise place, the most
    common date), so they move as reports arrive; a report that matches one of its reports must
    find that incident whether or not the derived place still lies in the box, or whether two
    reports end up together would depend on the order they came in."""
    loc = rec.location
    if loc is None or loc.lat is None or loc.lon is None or not loc.country or rec.date is None:
        return set()
    dlat = policy.max_km / 111.0
    dlon = dlat / max(0.2, math.cos(math.radians(loc.lat)))
    q = (
        select(Report.incident_id)
        .where(
            Report.country == loc.country,
            col(Report.date).between(rec.date - window, rec.date + window),
            col(Report.lat).between(loc.lat - dlat, loc.lat + dlat),
            col(Report.lon).between(loc.lon - dlon, loc.lon + dlon),
            col(Report.incident_id).is_not(None),
        )
        .distinct()
        .limit(MAX_CANDIDATES)
    )
    return {i for i in session.exec(q).all() if i}


def _report_candidates(
    session: Session, incidents: Sequence[Incident]
) -> tuple[list[dedupe.Candidate], set[tuple[str, str]]]:
    """Each incident's reports as candidates with their own claims, and the pairs of incidents
    one article reports both of (they are distinct events and never joined)."""
    if not incidents:
        return [], set()
    locked = {i.id for i in incidents if i.locked}
    reports = session.exec(select(Report).where(col(Report.incident_id).in_([i.id for i in incidents]))).all()
    several = _roundup_articles(session, {r.article_id for r in reports})
    articles: dict[str, frozenset[int]] = {}
    by_article: dict[int, set[str]] = {}
    for r in reports:
        articles[r.incident_id or ""] = articles.get(r.incident_id or "", frozenset()) | {r.article_id}
        by_article.setdefault(r.article_id, set()).add(r.incident_id or "")
    out: list[dedupe.Candidate] = []
    for r in reports:
        c = IncidentRecord.from_dict(r.data)
        inc_id = r.incident_id or ""
        out.append(
            dedupe.Candidate(
                id=inc_id,
                event_type=c.event_type,
                date=c.date,
                location=c.location,
                perpetrator=c.perpetrator,
                killed=c.killed,
                evidence_text=evidence_text(r.data),
                article_ids=articles[inc_id],
                date_precision=c.date_precision,
                injured=c.injured,
                victims=c.victims,
                names=frozenset(r.names or ()),
                locked=inc_id in locked,
                roundup=r.article_id in several,
            )
        )
    shared = {(a, b) for ids in by_article.values() for a in ids for b in ids if a < b}
    return out, shared


def _roundup_articles(session: Session, article_ids: set[int]) -> set[int]:
    """The articles among `article_ids` that report several incidents (round-ups)."""
    if not article_ids:
        return set()
    q = (
        select(Report.article_id)
        .where(col(Report.article_id).in_(sorted(article_ids)))
        .group_by(col(Report.article_id))
        .having(sa.func.count() > 1)
    )
    return set(session.exec(q).all())


def link_report(session: Session, report_id: int, policy: dedupe.Policy, *, reuse: str | None = None) -> str:
    """Attach the report to the incident it matches, or start one; returns the incident id.

    The decision is `dedupe.decide`'s: matching is report against report, and a report that
    matches several incidents joins them into one, so the clusters are the connected parts of
    the match graph whatever order reports arrive in. `reuse`: when a new incident is started,
    take this (empty, unmerged) incident's id instead of a fresh one, so re-linking keeps ids.
    Idempotent: a linked report keeps its incident.
    """
    report = session.get_one(Report, report_id)
    if report.incident_id is not None:
        return report.incident_id
    rec = IncidentRecord.from_dict(report.data)
    _lock(session, rec.location.country if rec.location else None)
    session.refresh(report)
    if report.incident_id is not None:  # linked by a concurrent worker while we waited
        return report.incident_id
    names = _ensure_names(session, report)
    incidents = {i.id: i for i in _candidate_incidents(session, rec, names, policy)}
    cands, shared = _report_candidates(session, list(incidents.values()))
    plan = dedupe.decide(
        rec,
        report.article_id,
        evidence_text(report.data),
        cands,
        policy,
        names=names,
        share_article=shared,
        roundup=bool(_roundup_articles(session, {report.article_id})),
    )
    if plan.target is None:
        incident = _fresh_incident(session, rec.event_type, reuse)
        report.link_score = None
        report.link_reasons = {"new": True, "candidates": plan.candidates}
        if plan.closest is not None:
            inc_id, d = plan.closest
            report.link_reasons["closest"] = {"incident": inc_id, "score": d.score, "reasons": d.reasons}
        action = "created"
    else:
        assert plan.decision is not None
        incident = incidents[plan.target]
        report.link_score, report.link_reasons = plan.decision.score, plan.decision.reasons
        action = "linked"
    report.incident_id = incident.id
    report.linked_at = utcnow()
    session.flush()
    recompute(session, incident.id, report_id=report_id, action=action)
    for other in plan.absorb:
        _move_reports(session, incidents[other].id, incident.id, {"joined": other})
        incidents[other].merged_into = incident.id
        session.flush()
        recompute(session, incident.id, report_id=report_id, action="joined", other=other)
        recompute(session, other, report_id=report_id, action="joined", other=incident.id)
    return incident.id


def _fresh_incident(session: Session, event_type: str, reuse: str | None) -> Incident:
    if reuse is not None:
        old = session.get(Incident, reuse)
        if old is not None and old.num_reports == 0 and old.merged_into is None:
            return old
    incident = Incident(event_type=event_type)
    session.add(incident)
    session.flush()
    return incident


def _move_reports(
    session: Session, src: str, dst: str, reasons: dict[str, Any] | None = None, *, score: float | None = None
) -> None:
    for r in session.exec(select(Report).where(Report.incident_id == src)).all():
        r.incident_id = dst
        if reasons is not None:
            r.link_reasons = {**reasons, "was": r.link_reasons}
        if score is not None:
            r.link_score = score
    session.flush()


def recompute(
    session: Session,
    incident_id: str,
    *,
    report_id: int | None = None,
    action: str = "recomputed",
    other: str | None = None,
    operator: str | None = None,
    note: str | None = None,
) -> None:
    """Re-derive the incident from its reports; append what changed (and who did it) to its history."""
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
        incident.field_reasons = d.reasons
    else:
        values = {"num_reports": 0, "num_independent_sources": 0}
        incident.field_reasons = {}
    for f, v in values.items():
        setattr(incident, f, v)
    incident.updated_at = utcnow()
    changes = {f: [_jsonable(before[f]), _jsonable(values[f])] for f in values if before[f] != values[f]}
    if changes or action != "recomputed":
        session.add(
            IncidentHistory(
                incident_id=incident_id,
                report_id=report_id,
                action=action,
                changes=changes,
                other_incident_id=other,
                operator=operator,
                note=note,
            )
        )
    session.flush()


def derive_from(session: Session, rows: Sequence[tuple[Report, Article]]) -> dedupe.Derived:
    """The merged fields of the incident these (report, article) pairs make up."""
    keys = source_keys(session, [a for _, a in rows])
    return dedupe.derive(
        [
            dedupe.ReportView(IncidentRecord.from_dict(r.data), a.published_at, key, a.url)
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
    """Independent-source key per article: its outlet (organisation: wire agency, else URL
    domain, else feed name), or for a wire copy its original's outlet."""
    roots = {a.copy_of_id for a in articles if a.copy_of_id is not None}
    originals = (
        {a.id: a for a in session.exec(select(Article).where(col(Article.id).in_(roots))).all()} if roots else {}
    )
    out = []
    for a in articles:
        src = originals.get(a.copy_of_id, a) if a.copy_of_id is not None else a
        key = dedupe.outlet_key(src.url, src.dateline_agency, src.source)
        out.append(key or f"article:{src.id}")
    return out


def _jsonable(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


# --- wire copies ------------------------------------------------------------------------------


def find_copy_of(session: Session, text: str, threshold: float) -> tuple[bytes, list[str], int | None]:
    """Return the text's MinHash signature, its LSH band keys and the earliest stored article
    it nearly duplicates (estimated Jaccard >= threshold), if any. Signatures and band keys are
    computed by `dedupe`; this only looks the bands up."""
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


class CorrectionError(LookupError):
    """An operator's correction that cannot be applied (one line for the operator)."""


def resolve(session: Session, incident_id: str) -> str | None:
    """Follow merge redirects from an incident id (old ids stay valid forever); None if unknown."""
    seen: set[str] = set()
    current = incident_id
    while current not in seen:
        seen.add(current)
        inc = session.get(Incident, current)
        if inc is None:
            return None
        if inc.merged_into is None:
            return current
        current = inc.merged_into
    return current


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
) -> bool:
    """Move every report of `other` into `keep`; `other` stays as a tombstone pointing at `keep`.
    Returns False when they are already one incident (nothing recorded twice). Raises
    CorrectionError for an unknown id or an incident merged with itself."""
    if keep == other:
        raise CorrectionError(f"cannot merge incident {keep} with itself")
    a, b = resolve(session, keep), resolve(session, other)
    if a is None or b is None:
        raise CorrectionError(f"no incident {keep if a is None else other}")
    if a == b:
        return False
    target, gone = session.get_one(Incident, a), session.get_one(Incident, b)
    if record:
        session.add(
            Correction(
                kind="merge",
                incident_id=a,
                other_incident_id=b,
                note=note,
                operator=operator,
                report_url="\n".join([*_report_urls(session, a), "--", *_report_urls(session, b)]),
            )
        )
    _move_reports(session, b, a, {"operator": "merge", "from": b}, score=1.0)
    gone.merged_into = target.id
    session.flush()
    recompute(session, a, action="merged", other=b, operator=operator, note=note)
    recompute(session, b, action="merged", other=a, operator=operator, note=note)
    return True


def unmerge_incidents(
    session: Session, keep: str, other: str, *, note: str | None = None, operator: str | None = None
) -> None:
    """Undo an operator's merge of `other` into `keep`: `other` gets back the reports it had
    when merged, both are locked against automatic joining, and the merge is marked undone so
    re-processing does not replay it."""
    gone = session.get(Incident, other)
    if gone is None or gone.merged_into is None or resolve(session, other) != resolve(session, keep):
        raise CorrectionError(f"incident {other} is not merged into {keep}")
    merge = session.exec(
        select(Correction)
        .where(Correction.kind == "merge", col(Correction.undone_at).is_(None))
        .where(col(Correction.other_incident_id) == other)
        .order_by(col(Correction.id).desc())
    ).first()
    if merge is None or merge.report_url is None:
        raise CorrectionError(f"no recorded merge of {other} to undo")
    _, _, right = merge.report_url.partition("\n--")
    urls = [u for u in right.split("\n") if u]
    holder = resolve(session, keep)
    if holder is None:
        raise CorrectionError(f"no incident {keep}")
    _separate(session, holder, urls, other)
    merge.undone_at = utcnow()
    session.add(
        Correction(
            kind="unmerge",
            incident_id=holder,
            other_incident_id=other,
            note=note,
            operator=operator,
            report_url="\n".join(urls),
        )
    )
    session.flush()
    recompute(session, holder, action="unmerged", other=other, operator=operator, note=note)
    recompute(session, other, action="unmerged", other=holder, operator=operator, note=note)


def _separate(session: Session, holder: str, urls: Sequence[str], into: str) -> None:
    """Move the reports of `urls` from `holder` into the (revived) incident `into`; lock both."""
    back = session.get_one(Incident, into)
    back.merged_into = None
    back.locked = True
    session.get_one(Incident, holder).locked = True
    rows = session.exec(
        select(Report)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(Report.incident_id == holder, sa.or_(col(Article.url).in_(urls), col(Article.canonical_url).in_(urls)))
    ).all()
    for r in rows:
        r.incident_id = into
        r.link_reasons = {"operator": "unmerge", "from": holder}
        r.link_score = None
    session.flush()


def split_report(
    session: Session,
    incident_id: str,
    url: str,
    *,
    record: bool = True,
    note: str | None = None,
    operator: str | None = None,
) -> str:
    """Move the reports of the article at `url` out of `incident_id` into a new incident.
    Raises CorrectionError when the incident has no report from `url` (or does not exist)."""
    holder = resolve(session, incident_id) or incident_id
    rows = session.exec(
        select(Report)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(Report.incident_id == holder, sa.or_(col(Article.url) == url, col(Article.canonical_url) == url))
    ).all()
    if not rows:
        if resolve(session, incident_id) is None:
            raise CorrectionError(f"no incident {incident_id}")
        raise CorrectionError(f"incident {incident_id} has no report from {url}")
    if record:
        session.add(
            Correction(
                kind="split",
                incident_id=holder,
                report_url=url,
                article_id=rows[0].article_id,
                note=note,
                operator=operator,
            )
        )
    new = Incident(event_type=rows[0].event_type, locked=True)
    session.get_one(Incident, holder).locked = True
    session.add(new)
    session.flush()
    for r in rows:
        r.incident_id = new.id
        r.link_reasons = {"operator": "split", "from": holder}
        r.link_score = None
    session.flush()
    recompute(session, holder, action="split", other=new.id, operator=operator, note=note)
    recompute(session, new.id, action="split", other=holder, operator=operator, note=note)
    return new.id


def incident_of_url(session: Session, url: str) -> str | None:
    return session.exec(
        select(Report.incident_id)
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(sa.or_(col(Article.url) == url, col(Article.canonical_url) == url), col(Report.incident_id).is_not(None))
    ).first()


def apply_corrections(session: Session) -> int:
    """Replay operator corrections (in order) onto the current links, by report URL, so they
    survive re-processing. Undone merges are skipped. Returns how many applied."""
    applied = 0
    for c in session.exec(select(Correction).order_by(col(Correction.id))).all():
        if c.kind == "split" and c.report_url:
            inc = incident_of_url(session, c.report_url)
            if inc is not None and len(_report_urls(session, inc)) > 1:
                split_report(session, inc, c.report_url, record=False, note=c.note, operator=c.operator)
                applied += 1
        elif c.kind == "merge" and c.report_url and c.undone_at is None:
            left, _, right = c.report_url.partition("\n--")
            a = next((i for u in left.split("\n") if u and (i := incident_of_url(session, u))), None)
            b = next((i for u in right.split("\n") if u and (i := incident_of_url(session, u))), None)
            if a and b and a != b:
                merge_incidents(session, a, b, record=False, note=c.note, operator=c.operator)
                applied += 1
        elif c.kind == "unmerge" and c.report_url and c.other_incident_id:
            urls = [u for u in c.report_url.split("\n") if u]
            holders = {i for u in urls if (i := incident_of_url(session, u))}
            rest = [i for u in _all_urls_except(session, holders, urls) if (i := incident_of_url(session, u))]
            if len(holders) == 1 and rest:
                holder = holders.pop()
                if holder != c.other_incident_id:
                    _separate(session, holder, urls, c.other_incident_id)
                    recompute(session, holder, action="unmerged", other=c.other_incident_id, operator=c.operator)
                    recompute(session, c.other_incident_id, action="unmerged", other=holder, operator=c.operator)
                    applied += 1
    return applied


def _all_urls_except(session: Session, holders: set[str], urls: Sequence[str]) -> list[str]:
    return [u for h in holders for u in _report_urls(session, h) if u not in urls]


def relink_all(session: Session, policy: dedupe.Policy) -> int:
    """Re-process every report: unlink, link again in publication order, replay corrections.
    Each report's event names are computed afresh (and indexed again), so a better reading
    of names (`report_names`) reaches the reports already stored.

    Ids are stable: a report starting an incident takes back its old incident's id when that
    is free, and every old incident that ends up empty points (``merged_into``) at the
    incident now holding most of its former reports, so no id ever shows nothing. Returns the
    number of incidents that hold reports afterwards.
    """
    before = dict(session.exec(select(Report.id, Report.incident_id)).all())
    redirects = dict(
        session.exec(select(Incident.id, Incident.merged_into).where(col(Incident.merged_into).is_not(None))).all()
    )
    session.execute(sa.update(Report).values(incident_id=None, link_score=None, link_reasons={}, names=sa.null()))
    session.execute(sa.delete(ReportKey))
    session.execute(
        sa.update(Incident).values(num_reports=0, num_independent_sources=0, merged_into=None, locked=False)
    )
    order = session.exec(
        select(Report.id)
        .join(Article, col(Article.id) == col(Report.article_id))
        .order_by(col(Article.published_at), col(Article.url), col(Report.ordinal))
    ).all()
    for rid in order:
        assert rid is not None
        link_report(session, rid, policy, reuse=before.get(rid))
    apply_corrections(session)
    after = dict(session.exec(select(Report.id, Report.incident_id)).all())
    moved: dict[str, Counter[str]] = {}
    for rid, old in before.items():
        if old is not None and after.get(rid):
            moved.setdefault(old, Counter())[after[rid] or ""] += 1
    for inc in session.exec(
        select(Incident).where(Incident.num_reports == 0, col(Incident.merged_into).is_(None))
    ).all():
        target = moved[inc.id].most_common(1)[0][0] if inc.id in moved else redirects.get(inc.id)
        if target is not None and target != inc.id:
            inc.merged_into = target
            session.add(IncidentHistory(incident_id=inc.id, action="relinked", other_incident_id=inc.merged_into))
    session.flush()
    return len(session.exec(_live()).all())

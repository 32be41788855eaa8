"""Deduplication policy, pure: is this report the same event as that incident? And what does
an incident look like, derived from all its reports?

    score(report, incident, policy) -> Decision        features + weighted score + verdict
    derive(reports) -> Derived                          the merged incident's fields
    minhash(text) / shingles(text)                      near-duplicate (wire copy) signatures

The decision is a weighted score over features, after hard gates that no amount of
agreement elsewhere can overrule (a different country, dates too far apart, two
town-precision places too far apart). Every feature is stored with the link, so an analyst
can see why two reports were merged.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from worker.records import Count, Incident, Place

# Event types that outlets often code differently for one event.
_COMPATIBLE_TYPES = [
    {"Air/drone strike", "Shelling/artillery/missile attack"},
    {"Suicide bomb", "Remote explosive/landmine/IED", "Grenade"},
    {"Attack", "Armed clash", "Abduction/forced disappearance"},
]
_CERTAINTY_RANK = {"stated": 4, "claimed": 3, "believed": 2, "accused": 1, "denied": 0}
_PRECISION_RANK = {"town": 4, "near": 3, "district": 2, "province": 1, "country": 0}
_WORD = re.compile(r"[^\W\d_]+")
NUM_PERM = 64
SCHEME = "affine32"  # datasketch 2.x default; stored signatures depend on it
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds (from config ``[dedupe]``)."""

    link_threshold: float = 0.6
    max_km: float = 40.0
    town_km: float = 8.0
    max_days: int = 3  # for two day-precision dates; coarser dates get wider windows
    week_days: int = 10
    month_days: int = 31

    def days_allowed(self, *precisions: str | None) -> int:
        """The widest date difference that may still be one event, given both dates' precision."""
        if "month" in precisions:
            return self.month_days
        if "week" in precisions:
            return self.week_days
        return self.max_days


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the linker knows about an existing incident when scoring a report against it."""

    id: str
    event_type: str
    date: date | None
    location: Place | None
    perpetrator: str | None
    killed: Count
    evidence_text: str = ""
    article_ids: frozenset[int] = frozenset()
    date_precision: str | None = "day"


@dataclass(frozen=True, slots=True)
class Decision:
    score: float
    link: bool
    reasons: dict[str, Any] = field(default_factory=dict)


def haversine_km(a: Place, b: Place) -> float | None:
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def type_compatibility(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return 0.5 if any(a in g and b in g for g in _COMPATIBLE_TYPES) else 0.0


def actor_compatibility(a: str | None, b: str | None) -> float:
    if not a or not b:
        return 0.5
    x, y = a.casefold(), b.casefold()
    return 1.0 if x in y or y in x else 0.0


def casualty_compatibility(a: Count, b: Count) -> float:
    """1 when tolls agree, falling as they diverge; 0.5 when either is unknown.

    A rising toll is normal (early reports undercount), so a ratio up to 1:4 still scores
    well; 3 against 60 (1:20) scores near zero and must be carried by the other features.
    """
    x, y = a.best or a.high or a.low, b.best or b.high or b.low
    if x is None or y is None:
        return 0.5
    lo, hi = sorted((max(x, 0), max(y, 0)))
    if hi == 0:
        return 1.0
    ratio = (lo + 1) / (hi + 1)
    return max(0.0, min(1.0, 0.2 + math.log10(ratio * 20) / math.log10(20) * 0.8)) if ratio < 1 else 1.0


def text_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the word sets of two evidence texts."""
    wa, wb = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


BORROWED_KM = 1.0  # a "near" place this close to another is sitting on that place's coordinates


def name_key(name: str | None) -> str:
    """A place name folded for comparison: case, accents, punctuation and an Arabic article."""
    folded = unicodedata.normalize("NFKD", (name or "").casefold())
    words = "".join(c if c.isalpha() else " " for c in folded if not unicodedata.combining(c)).split()
    if len(words) > 1 and words[0] in ("al", "el", "ad", "ar", "as", "ash", "az", "an", "at"):
        words = words[1:]
    return "".join(words)


def _location_gate(report: Place | None, incident: Place | None, policy: Policy) -> tuple[bool, float | None, float]:
    """(allowed, km, location score)."""
    if report is None or incident is None:
        # Without a place, agreement on date and type is not enough to call it one event.
        return True, None, 0.0
    if report.country and incident.country and report.country != incident.country:
        return False, None, 0.0
    km = haversine_km(report, incident)
    same_name = name_key(report.name) == name_key(incident.name)
    if km is None:
        # A place without coordinates (a village no gazetteer knows) is only itself.
        return (True, None, 0.6) if same_name else (False, None, 0.0)
    if not same_name and km < BORROWED_KM and "near" in (report.precision, incident.precision):
        # "X, north of Y" is placed at Y's coordinates: X and Y are neighbours, not one place.
        return False, round(km, 1), 0.0
    coarse = min(_PRECISION_RANK.get(report.precision, 0), _PRECISION_RANK.get(incident.precision, 0))
    if coarse >= _PRECISION_RANK["town"]:
        limit = policy.town_km
    elif coarse >= _PRECISION_RANK["near"]:
        limit = policy.max_km
    else:  # a province or a country: only "somewhere in there"
        return True, round(km, 1), 0.35
    if km > limit:
        return False, round(km, 1), 0.0
    return True, round(km, 1), 1.0 - 0.5 * km / limit


def score(report: Incident, article_id: int, evidence_text: str, cand: Candidate, policy: Policy) -> Decision:
    """Score `report` (from article `article_id`) against an existing incident."""
    if article_id in cand.article_ids:
        return Decision(0.0, False, {"gate": "same article reports both"})
    ok, km, loc = _location_gate(report.location, cand.location, policy)
    reasons: dict[str, Any] = {"km": km}
    if not ok:
        reasons["gate"] = "location"
        return Decision(0.0, False, reasons)
    days = abs((report.date - cand.date).days) if report.date and cand.date else None
    reasons["days"] = days
    allowed = policy.days_allowed(report.date_precision, cand.date_precision)
    if days is not None and days > allowed:
        reasons["gate"] = "date"
        return Decision(0.0, False, reasons)
    if days is None:
        date_s = 0.4
    elif allowed > policy.max_days:  # a vague date: agreement within its window is all we can ask
        date_s = 0.75 if days <= allowed // 2 else 0.5
    else:
        date_s = 1.0 if days == 0 else 0.75 if days == 1 else 0.3
    type_s = type_compatibility(report.event_type, cand.event_type)
    actor_s = actor_compatibility(report.perpetrator, cand.perpetrator)
    toll_s = casualty_compatibility(report.killed, cand.killed)
    text_s = text_similarity(evidence_text, cand.evidence_text)
    reasons.update(
        location=round(loc, 3),
        date=date_s,
        event_type=type_s,
        perpetrator=actor_s,
        casualties=round(toll_s, 3),
        text=round(text_s, 3),
    )
    total = 0.35 * loc + 0.25 * date_s + 0.15 * type_s + 0.1 * actor_s + 0.1 * toll_s + 0.05 * min(1.0, 2 * text_s)
    if type_s == 0.0:
        total -= 0.2  # a bombing is not an air strike, however close
    total = round(max(0.0, total), 4)
    return Decision(total, total >= policy.link_threshold, reasons)


@dataclass(frozen=True, slots=True)
class ReportView:
    """A report as `derive` needs it."""

    incident: Incident
    published_at: datetime | None
    source_key: str  # wire copies share the key of their original


@dataclass(frozen=True, slots=True)
class Derived:
    event_type: str
    date: date | None
    date_precision: str | None
    location: Place | None
    perpetrator: str | None
    perpetrator_certainty: str | None
    victims: str | None
    killed: Count
    injured: Count
    num_reports: int
    num_independent_sources: int
    first_reported_at: datetime | None
    last_reported_at: datetime | None


def _mode(values: Sequence[T], order: Sequence[T] | None = None) -> T | None:
    """Most common value; ties go to the value seen first in `order` (default: `values`)."""
    if not values:
        return None
    counts = Counter(values)
    top = max(counts.values())
    for v in order or values:
        if counts.get(v) == top:
            return v
    return values[0]


OUTLIER_FACTOR = 10


def merge_counts(views: Sequence[ReportView], attr: str) -> Count:
    """The incident's figure from its reports' figures.

    best = the highest figure a report gives as its best estimate: tolls rise as bodies are
    found, so the latest and highest statements coincide, and the highest is robust to a late
    report that quotes only part of the toll ("six children were among the dead").
    low / high = the lowest and highest figure stated. With three or more reports, a figure
    more than ten times the median of the reports' figures is treated as a misreading (a
    war-wide total quoted as background) and ignored.
    """
    bests: list[int] = []
    lows: list[int] = []
    highs: list[int] = []
    for v in views:
        c: Count = getattr(v.incident, attr)
        vals = [x for x in (c.low, c.best, c.high) if x is not None]
        if not vals:
            continue
        lows.append(min(vals))
        highs.append(max(vals))
        bests.append(c.best if c.best is not None else max(vals))
    if not bests:
        return Count()
    if len(bests) >= 3:
        median = sorted(bests)[len(bests) // 2]
        cap = max(1, median) * OUTLIER_FACTOR
        keep = [i for i, b in enumerate(bests) if b <= cap]
        bests, lows, highs = [bests[i] for i in keep], [lows[i] for i in keep], [min(highs[i], cap) for i in keep]
    return Count(low=min(lows), best=max(bests), high=max(highs))


def derive(views: Sequence[ReportView]) -> Derived:
    """The merged incident's fields from all of its reports (order-independent)."""
    ordered = sorted(views, key=lambda v: (v.published_at is None, v.published_at or datetime.min))
    incs = [v.incident for v in ordered]
    dates = [i.date for i in incs if i.date]
    best_date = _mode(dates, sorted(set(dates)))
    places = [i.location for i in incs if i.location]
    best_place = None
    if places:
        top = max(_PRECISION_RANK.get(p.precision, 0) for p in places)
        precise = [p for p in places if _PRECISION_RANK.get(p.precision, 0) == top]
        best_place = _mode(precise)
    perps = [i.perpetrator for i in incs if i.perpetrator]
    perp = _mode(perps)
    certainty = max(
        (i.perpetrator_certainty for i in incs if i.perpetrator == perp and i.perpetrator_certainty),
        key=lambda c: _CERTAINTY_RANK.get(c, -1),
        default=None,
    )
    times = [v.published_at for v in ordered if v.published_at]
    return Derived(
        event_type=_mode([i.event_type for i in incs]) or "Attack",
        date=best_date,
        date_precision=_mode([i.date_precision for i in incs if i.date == best_date and i.date_precision]),
        location=best_place,
        perpetrator=perp,
        perpetrator_certainty=certainty,
        victims=_mode([i.victims for i in incs if i.victims]),
        killed=merge_counts(ordered, "killed"),
        injured=merge_counts(ordered, "injured"),
        num_reports=len(views),
        num_independent_sources=len({v.source_key for v in views}),
        first_reported_at=min(times) if times else None,
        last_reported_at=max(times) if times else None,
    )


def shingles(text: str, k: int = 5) -> set[str]:
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + k]) for i in range(max(1, len(words) - k + 1))}


def minhash(text: str) -> MinHash:
    """MinHash signature of the text's 5-word shingles."""
    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    m.update_batch([s.encode() for s in shingles(text)])
    return m


def lsh_bands(sig: MinHash, threshold: float) -> list[str]:
    """LSH band keys for `sig`: two texts whose Jaccard similarity is above `threshold` share
    at least one key with high probability. Band and row counts come from datasketch's own
    optimiser, so a stored key stays meaningful for a given (threshold, NUM_PERM)."""
    bands, rows = _optimal_param(threshold, NUM_PERM, 0.5, 0.5)
    hv = sig.hashvalues
    return [
        f"{b}:{hashlib.blake2b(hv[b * rows : (b + 1) * rows].tobytes(), digest_size=8).hexdigest()}"
        for b in range(bands)
    ]


def signature_bytes(sig: MinHash) -> bytes:
    return bytes(sig.hashvalues.astype("<u8").tobytes())


def from_signature(data: bytes) -> MinHash:
    return MinHash(num_perm=NUM_PERM, hashvalues=np.frombuffer(data, dtype="<u8").astype(np.uint64), scheme=SCHEME)

"""Deduplication policy, pure: is this report the same event as that incident, what does each
new report do to the incidents, and what does an incident look like, derived from its reports?

    compare(report, candidate, policy) -> Decision      features, agreements, disagreements, verdict
    decide(report, candidates, policy) -> Plan          join / start an incident / join several into one
    derive(reports) -> Derived                          the merged fields, each with why it was chosen
    minhash(text) / lsh_bands(sig)                      near-duplicate (wire copy) signatures

The evidence that two reports tell of one event is the event, not the city: a shared city is
weak evidence (a city of millions has several shootings a day), a shared village, neighbourhood
or named site is strong, and so are the names the two articles share (victims, streets,
buildings: read from the text by `names`). Distinct sub-places of one city and disjoint names
are evidence against.

One field that disagrees (a wrong geocode, a misread toll, a different event type) is forgiven
when the rest agrees strongly (shared names, the same day); two disagreeing fields, or a hard
contradiction (one article reporting both, dates beyond what their precision allows), never link.
Every feature is stored with the link, so an analyst can see why two reports were merged.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from worker.pipeline.names import full_names, name_words, shared_victims, split_streets, split_victims
from worker.records import Count, Incident, Place

# Event types that outlets often code differently for one event.
_COMPATIBLE_TYPES = [
    {"Air/drone strike", "Shelling/artillery/missile attack"},
    {"Suicide bomb", "Remote explosive/landmine/IED", "Grenade"},
    {"Attack", "Armed clash", "Abduction/forced disappearance"},
]
_CERTAINTY_RANK = {"stated": 4, "claimed": 3, "believed": 2, "accused": 1, "denied": 0}
# Finer is higher. "town" covers cities; "near" is a place given relative to another.
_PRECISION_RANK = {
    "neighbourhood": 6,
    "neighborhood": 6,
    "village": 5,
    "town": 4,
    "city": 4,
    "near": 3,
    "district": 2,
    "province": 1,
    "country": 0,
}
NEAR_RANK = _PRECISION_RANK["near"]  # this precise or more: a place with a meaningful box around it
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
    city_km: float = 20.0  # a neighbourhood this close to a city's centre may be in that city
    province_km: float = 400.0  # a province without admin1 codes: "somewhere within this"
    follow_up_days: int = 7  # a day-precise follow-up this far off still joins on strong corroboration

    def days_allowed(self, *precisions: str | None) -> int:
        """The widest date difference that may still be one event, given both dates' precision."""
        if "month" in precisions:
            return self.month_days
        if "week" in precisions:
            return self.week_days
        return self.max_days


@dataclass(frozen=True, slots=True)
class Candidate:
    """One report of an existing incident, as the linker scores a new report against it."""

    id: str  # the incident it belongs to
    event_type: str
    date: date | None
    location: Place | None
    perpetrator: str | None
    killed: Count
    evidence_text: str = ""
    article_ids: frozenset[int] = frozenset()
    date_precision: str | None = "day"
    injured: Count = field(default_factory=Count)
    victims: str | None = None
    names: frozenset[str] = frozenset()
    locked: bool = False
    roundup: bool = False  # its article reports several incidents (a round-up of a city's weekend)


STRONG_NAMES = 3  # event names two reports must share to forgive one disagreeing field
# Two reports that each give this many event names and share none tell of different events
# (unless they already share a village or a spot): a market and a pension office in one city.
DISJOINT_NAMES = 3


@dataclass(frozen=True, slots=True)
class Decision:
    score: float
    link: bool
    reasons: dict[str, Any] = field(default_factory=dict)


# --- features ---------------------------------------------------------------------------------


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


def victims_compatibility(a: str | None, b: str | None) -> float:
    if not a or not b:
        return 0.5
    return 1.0 if a.casefold() == b.casefold() else 0.25


def _figure(c: Count) -> int | None:
    return c.best if c.best is not None else c.high if c.high is not None else c.low


def casualty_compatibility(a: Count, b: Count) -> float:
    """1 when tolls agree, falling as they diverge; 0.5 when either is unknown or both are 0.

    A rising toll is normal (early reports undercount), so a ratio up to 1:4 still scores
    well; 3 against 60 (1:20) scores near zero and must be carried by the other features.
    """
    x, y = _figure(a), _figure(b)
    if x is None or y is None:
        return 0.5
    lo, hi = sorted((max(x, 0), max(y, 0)))
    if hi == 0:  # most shootings and raids kill nobody: two zeros say nothing about identity
        return 0.5
    ratio = (lo + 1) / (hi + 1)
    return max(0.0, min(1.0, 0.2 + math.log10(ratio * 20) / math.log10(20) * 0.8)) if ratio < 1 else 1.0


def text_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the word sets of two evidence texts."""
    wa, wb = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def name_key(name: str | None) -> str:
    """A place name folded for comparison: case, accents, punctuation and an Arabic article."""
    folded = unicodedata.normalize("NFKD", (name or "").casefold())
    words = "".join(c if c.isalpha() else " " for c in folded if not unicodedata.combining(c)).split()
    if len(words) > 1 and words[0] in ("al", "el", "ad", "ar", "as", "ash", "az", "an", "at"):
        words = words[1:]
    return "".join(words)


def precision_rank(p: Place) -> int:
    """The place's precision rank; a "town" named like its own province is the province."""
    r = _PRECISION_RANK.get(p.precision, _PRECISION_RANK["town"])
    if r >= _PRECISION_RANK["town"] and p.admin1 and name_key(p.name) == name_key(p.admin1):
        return _PRECISION_RANK["province"]
    return r


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """How two places relate: the relation, the distance, a score and whether it disagrees."""

    relation: str
    km: float | None
    score: float
    disagrees: bool


# relation -> (score, disagrees). A shared city is weak evidence; a shared village, neighbourhood
# or spot is strong; a place inside the other (village in its district) is compatible.
_PLACE_SCORES = {
    "same spot": (1.0, False),
    "same town": (0.6, False),
    "contained": (0.6, False),
    "around": (0.5, False),
    "neighbouring": (0.3, True),
    "unknown": (0.35, False),
    "named in text": (0.5, False),
    "distinct sub-places": (0.0, True),
    "neighbour named near": (0.0, True),
    "different names": (0.0, True),
    "far apart": (0.0, True),
    "other province": (0.0, True),
    "other country": (0.0, True),
}


def _place_out(relation: str, km: float | None = None) -> PlaceMatch:
    """The PlaceMatch for `relation` (a key of _PLACE_SCORES), with `km` rounded to 100 m."""
    s, bad = _PLACE_SCORES[relation]
    return PlaceMatch(relation, None if km is None else round(km, 1), s, bad)


def place_match(a: Place | None, b: Place | None, policy: Policy) -> PlaceMatch:
    """Relate two places by precision and containment (village in district in province;
    neighbourhood in city). Uses admin1 and country where both have them, distance otherwise;
    places without coordinates are compared by name."""
    if a is None or b is None:
        return _place_out("unknown")
    if a.country and b.country and a.country != b.country:
        return _place_out("other country")
    km = haversine_km(a, b)
    same_name = bool(name_key(a.name)) and name_key(a.name) == name_key(b.name)
    if min(precision_rank(a), precision_rank(b)) <= _PRECISION_RANK["district"]:
        return _area_match(a, b, km, same_name=same_name, policy=policy)
    if km is None:
        return _uncoordinated_match(a, b, same_name=same_name)
    return _point_match(a, b, km, same_name=same_name, policy=policy)


def _within(km: float | None, limit_km: float) -> PlaceMatch:
    """ "contained" when `km` is unknown or at most `limit_km`, else "far apart"."""
    if km is None or km <= limit_km:
        return _place_out("contained", km)
    return _place_out("far apart", km)


def _area_match(a: Place, b: Place, km: float | None, *, same_name: bool, policy: Policy) -> PlaceMatch:
    """Relate two places of which at least one is only an area (district, province or country):
    the finer place is contained in it unless their provinces differ or it lies too far away."""
    ra, rb = precision_rank(a), precision_rank(b)
    fine, coarse = (a, b) if ra >= rb else (b, a)
    rc = min(ra, rb)
    if same_name or rc == _PRECISION_RANK["country"]:
        return _place_out("contained", km)
    if a.admin1 and b.admin1 and name_key(a.admin1) != name_key(b.admin1):
        return _place_out("other province", km)
    if rc == _PRECISION_RANK["province"]:
        if coarse.admin1 and fine.admin1 and name_key(coarse.admin1) == name_key(fine.admin1):
            return _place_out("contained", km)
        return _within(km, policy.province_km)
    return _within(km, policy.max_km)  # a district


def _uncoordinated_match(a: Place, b: Place, *, same_name: bool) -> PlaceMatch:
    """Relate two town-or-finer places when one has no coordinates (a village no gazetteer
    knows): it is only itself, so only the same name matches."""
    if not same_name:
        return _place_out("different names")
    fine_enough = max(precision_rank(a), precision_rank(b)) >= _PRECISION_RANK["village"]
    return _place_out("same spot" if fine_enough else "same town")


def _point_match(a: Place, b: Place, km: float, *, same_name: bool, policy: Policy) -> PlaceMatch:
    """Relate two town-or-finer places `km` apart, by their precisions and the distance
    thresholds of `policy`."""
    ra, rb = precision_rank(a), precision_rank(b)
    rc, rf = min(ra, rb), max(ra, rb)
    if not same_name and km < 1.0 and "near" in (a.precision, b.precision):
        # "X, north of Y" is placed at Y's coordinates: X and Y are neighbours, not one place.
        return _place_out("neighbour named near", km)
    sub = _PRECISION_RANK["neighbourhood"]
    if not same_name and "neighbourhood" in (a.feature, b.feature):
        return _neighbourhood_match(a, b, km, policy)
    if (same_name and km <= policy.max_km) or km < 0.5:  # farther, one name is two namesakes
        return _place_out("same spot" if rc >= _PRECISION_RANK["village"] else "same town", km)
    if ra == rb == sub:
        return _place_out("distinct sub-places" if km <= policy.city_km else "far apart", km)
    if rf == sub and rc >= _PRECISION_RANK["near"]:
        # A neighbourhood and a city: inside it if close to its centre.
        return _place_out("contained" if km <= policy.city_km else "far apart", km)
    if ra == rb == _PRECISION_RANK["village"] and km > 2.0:
        return _place_out("far apart" if km > policy.town_km else "neighbouring", km)
    if km <= policy.town_km:
        return _place_out("same town" if rc <= _PRECISION_RANK["town"] else "neighbouring", km)
    if km <= policy.max_km:
        # "near X" is around X; otherwise the town next door: another event unless the rest
        # agrees strongly (a shooting in one town and a death in the hospital of the next).
        return _place_out("around" if rc == _PRECISION_RANK["near"] else "neighbouring", km)
    return _place_out("far apart", km)


def _neighbourhood_match(a: Place, b: Place, km: float, policy: Policy) -> PlaceMatch:
    """Relate a neighbourhood to a place of another name. A neighbourhood the gazetteer lacks
    is placed at its city's centre, so its distance says nothing of where in the city it
    lies: it is inside a city near that centre, and another sub-place of the city (another
    neighbourhood, a district the gazetteer files as a town) is another spot, wherever the
    two points fall ("Uptown" and "Elm Park", both of one city, are two places)."""
    other = b if a.feature == "neighbourhood" else a
    if km > policy.city_km:
        return _place_out("far apart", km)
    if other.feature == "city":
        return _place_out("contained", km)
    return _place_out("distinct sub-places", km)


# Place relations that a report naming the other's place overrides: a wrong geocode (a
# neighbourhood read as a namesake town in another state) or the next town. Not two sub-places
# of one city: a report that names both neighbourhoods names them as two places.
_NAMEABLE_PLACES = frozenset({"far apart", "other province", "other country", "neighbouring", "different names"})


def _place_words(p: Place | None) -> frozenset[str]:
    """The distinctive words of a place's name, folded as event names are ("Elm City" -> elm)."""
    return name_words(p.name) if p is not None else frozenset()


def names_other_place(
    a: Place | None, a_names: frozenset[str], b: Place | None, b_names: frozenset[str], *, neighbours: bool = False
) -> bool:
    """Whether the two reports name each other's place in their own text (all the distinctive
    words of that place's name are among its event names), or one does and they share two
    other event names: the two places are then one place told two ways (a district and its
    city, a geocode gone to a namesake far away), not two. One report naming the other's
    place alone is not enough: a report from a province quotes officials in the capital.
    Between `neighbours` (two towns within the linking distance) it is, when the place named
    is no city (feature "city": a large one): a report placed in one town that names the small
    town next to it (the sheriff's seat and the town where it happened) tells where it
    happened, while a city is named for its officials. The pair still needs the event's own
    evidence to link."""
    wa, wb = _place_words(a), _place_words(b)
    a_names_b = bool(wb) and wb <= a_names
    b_names_a = bool(wa) and wa <= b_names
    if a_names_b and b_names_a:
        return True
    if neighbours and any(
        named and place is not None and place.feature != "city" for named, place in ((a_names_b, b), (b_names_a, a))
    ):
        return True
    others = full_names(a_names) | full_names(b_names) | wa | wb
    return (a_names_b or b_names_a) and len((a_names & b_names) - others) >= WEAK_LINK_NAMES


# --- one report against one candidate ---------------------------------------------------------


def _date_score(days: int | None, allowed: int, max_days: int) -> float:
    """How well two dates `days` apart agree (0..1), given the `allowed` window of their
    precisions: 0.4 when either is unknown, 0 beyond the window; a vague date (window wider than
    `max_days`) agrees at most 0.75 within it."""
    if days is None:
        return 0.4
    if days > allowed:
        return 0.0
    if allowed > max_days:  # a vague date: agreement within its window is all we can ask
        return 0.75 if days <= allowed // 2 else 0.5
    return 1.0 if days == 0 else 0.75 if days == 1 else 0.3


def _names_score(mine: frozenset[str], theirs: frozenset[str], common: frozenset[str]) -> float:
    """How much two reports' event names corroborate each other (0.1..1): only distinctive
    names (not in `common`) count; 0.5 when either side has none."""
    shared = (mine & theirs) - common
    if not (mine - common) or not (theirs - common):
        return 0.5
    if len(shared) >= 2:
        return 1.0
    return 0.75 if shared else 0.1


def _names_disjoint(mine: frozenset[str], theirs: frozenset[str], common: frozenset[str]) -> bool:
    """True when two reports' names are a sign of two events: both have at least
    DISJOINT_NAMES distinctive names and not even a common one is shared."""
    return not (mine & theirs) and min(len(mine - common), len(theirs - common)) >= DISJOINT_NAMES


# Place relations that say no more than "somewhere in that town or area".
_AREA_PLACES = frozenset({"same town", "contained", "around", "unknown"})
WEAK_LINK_NAMES = 2  # distinctive names a weak link (area and vague date) must share, or a toll


def _weak_link(pm: PlaceMatch, days: int | None, policy: Policy) -> bool:
    """Whether two reports agree only on an area (a city, a district) and on a vague date
    more than the day window apart (allowed only by a week or month precision): a city of
    millions has several shootings a month, so the area and the window prove nothing without
    event names or a toll in common."""
    return pm.relation in _AREA_PLACES and days is not None and days > policy.max_days


MASS_TOLL = 5  # killed: two events this deadly in one area within days are rare
PROFILE_SHOT = 4  # killed and injured together: a shooting of four or more (a "mass shooting")


def _toll_evidence(a: Incident, b: Candidate) -> str:
    """How the tolls both reports state single out one event: "mass" for compatible killed
    figures of a mass-casualty event; "profile" for the same casualty profile, killed and
    injured both stated and equal, of PROFILE_SHOT or more people shot ("three killed, two
    wounded"; "none killed, five wounded"); "same" for the same non-zero killed or injured
    figure (a lone death is common, so that holds only within a day); else ""."""
    x, y = _figure(a.killed), _figure(b.killed)
    if (
        x is not None
        and y is not None
        and max(x, y) >= MASS_TOLL
        and min(x, y) > 0
        and casualty_compatibility(a.killed, b.killed) >= 0.5
    ):
        return "mass"
    same = any(
        x is not None and x > 0 and x == y
        for x, y in ((_figure(a.killed), _figure(b.killed)), (_figure(a.injured), _figure(b.injured)))
    )
    ka, kb, ia, ib = _figure(a.killed), _figure(b.killed), _figure(a.injured), _figure(b.injured)
    if ka is not None and ia is not None and (ka, ia) == (kb, ib) and ka + ia >= PROFILE_SHOT:
        return "profile"
    return "same" if same else ""


def _missing_evidence(pm: PlaceMatch, days: int | None, shared: int, *, named: bool, tolls: str) -> str:
    """Why two reports that agree only on an area (a city, a county, or no place at all) lack
    evidence of one event, or "" when they have it. A city has several shootings a day: the
    city and the day are no evidence, the event's own names (a victim, a street, a venue) or
    a toll that singles it out (`_toll_evidence`) are. A report without a place, or a date two
    or more days off, needs two such names: a lone shared word there is as likely the city's
    as the event's. `named`: both reports give names at all (a text without capitals, or a
    report told in one sentence, cannot show any, so then names are not asked for). `tolls`:
    how the stated tolls single the event out ("mass", "same" or ""). A place one report
    names in its text ("named in text") always asks for them: it is a city told in words, and
    naming it proves the report gives names."""
    if pm.relation not in _AREA_PLACES and pm.relation != "named in text":
        return ""
    if not named and pm.relation != "named in text":
        return ""
    if pm.relation == "unknown" or (days is not None and days >= 2):
        if shared >= WEAK_LINK_NAMES or tolls == "mass":
            return ""
        return "an area alone needs two of the event's own names"
    if shared or tolls:
        return ""
    return "a shared area needs a shared event name or toll"


def _strong(
    pm: PlaceMatch,
    days: int | None,
    disagree: Sequence[str],
    shared: int,
    pairs: int,
    *,
    toll_s: float,
    tolls: str,
    policy: Policy,
) -> bool:
    """Whether the agreeing fields corroborate strongly enough to forgive the one in
    `disagree`: STRONG_NAMES shared event names (`shared` words and `pairs` full names), or a
    shared full name and a toll both state (`tolls`: `_toll_evidence`); the dates within a
    day (a full name and more names, or a full name and the same casualty profile: within the
    day window, a follow-up dated to its own day); tolls not far apart; the same town or spot
    (or a place one report names in its text: a wrong geocode the other report's words
    correct). The disagreeing field itself excepted."""
    names = shared + pairs
    names_ok = names >= STRONG_NAMES or (pairs >= 1 and bool(tolls))
    days_ok = (
        days is None
        or days <= 1
        or "date" in disagree
        or (pairs >= 1 and (names > STRONG_NAMES or tolls == "profile") and days <= policy.max_days)
    )
    return (
        names_ok
        and days_ok
        and (toll_s >= 0.5 or "toll" in disagree)
        and (pm.relation in ("same spot", "same town", "named in text") or "place" in disagree)
    )


def _area_gate(
    report: Incident,
    cand: Candidate,
    pm: PlaceMatch,
    days: int | None,
    policy: Policy,
    *,
    mine: frozenset[str],
    theirs: frozenset[str],
    pairs: set[str],
    roundups: tuple[bool, bool] = (False, False),
) -> str:
    """Why two reports that disagree on nothing still do not link (or ""): they agree only on
    an area and a vague date (`_weak_link`), or only on an area without the event's own
    evidence (`_missing_evidence`). `mine`, `theirs`: each report's distinctive single names;
    `pairs`: the full names they share. `roundups`: whether each report (mine, theirs) is one
    of several incidents its article reports (a city's weekend told shooting by shooting).
    Names are asked for when both reports give some, and also when a round-up's incident
    names nothing while the other report, one article's own event, names it: the round-up's
    city and day are shared by its other incidents, and it names none of this event's people
    or places. A round-up's mass toll is no evidence either: it is often the weekend's."""
    shared = mine & theirs
    tolls_agree = (
        _figure(report.killed) is not None
        and _figure(cand.killed) is not None
        and casualty_compatibility(report.killed, cand.killed) >= 0.75
    )
    if _weak_link(pm, days, policy) and len(shared) < WEAK_LINK_NAMES and not tolls_agree:
        return "a shared area and a vague date need shared names"
    if days is not None and days > policy.max_days:  # a vague date: `_weak_link` judged it
        return ""
    my_roundup, their_roundup = roundups
    silent_roundup = (my_roundup and not their_roundup and not mine and bool(theirs)) or (
        their_roundup and not my_roundup and not theirs and bool(mine)
    )
    named = (bool(mine) and bool(theirs)) or silent_roundup
    tolls = _toll_evidence(report, cand)
    if tolls == "mass" and any(roundups):
        tolls = ""  # a round-up's dead ("ten killed in weekend shootings") are many events' toll
    return _missing_evidence(pm, days, len(shared) + len(pairs), named=named, tolls=tolls)


def _same_place_name(a: Place | None, b: Place | None) -> bool:
    return a is not None and b is not None and bool(name_key(a.name)) and name_key(a.name) == name_key(b.name)


def _relate_places(report: Incident, names: frozenset[str], cand: Candidate, policy: Policy) -> PlaceMatch:
    """`place_match` of the two reports' places, where a place one report names in its text
    overrides a wrong geocode of the other ("named in text", as good as a shared city, so only
    on the same or the next day)."""
    pm = place_match(report.location, cand.location, policy)
    near_days = report.date is not None and cand.date is not None and abs((report.date - cand.date).days) <= 1
    if (
        near_days
        and pm.relation in _NAMEABLE_PLACES
        and names_other_place(
            report.location, names, cand.location, cand.names, neighbours=pm.relation == "neighbouring"
        )
    ):
        return _place_out("named in text", pm.km)
    return pm


def compare(
    report: Incident,
    article_id: int,
    evidence_text: str,
    cand: Candidate,
    policy: Policy,
    *,
    names: frozenset[str] = frozenset(),
    common: frozenset[str] = frozenset(),
    roundup: bool = False,
) -> Decision:
    """Score `report` (from article `article_id`, with its evidence text and event names;
    `roundup`: its article reports several incidents) against one report of an existing incident.

    Hard contradictions (never linked): one article reports both, dates further apart than their precision allows. Soft disagreements: places
    that do not fit, incompatible types or tolls, disjoint event names, a date
    beyond the day window. None: link at the threshold. One: link only with strong
    corroboration (STRONG_NAMES shared event names, the date within a day, tolls not far
    apart, the same village or town; the disagreeing field itself excepted). Two or more: never."""
    if article_id in cand.article_ids:
        return Decision(0.0, False, {"gate": "same article reports both"})
    names, my_streets = split_streets(names)
    their_names, their_streets = split_streets(cand.names)
    names, my_victims = split_victims(names)
    their_names, their_victims = split_victims(their_names)
    pm = _relate_places(report, names, replace(cand, names=their_names), policy)
    # A victim both describe alike ("a 7-year-old girl", "the 7-year-old") is a shared name
    # when both reports are placed: an age singles out an event within a city and a few days,
    # but a report without a place would find a teenager of that age in any city's news.
    if pm.relation != "unknown":
        victims = shared_victims(my_victims, their_victims)
        names, their_names = names | victims, their_names | victims
    cand = replace(cand, names=their_names)
    reasons: dict[str, Any] = {"km": pm.km, "place": pm.relation}
    disagree: list[str] = []
    if pm.disagrees:
        disagree.append("place")
    days = abs((report.date - cand.date).days) if report.date and cand.date else None
    reasons["days"] = days
    allowed = policy.days_allowed(report.date_precision, cand.date_precision)
    if days is not None and days > max(allowed, policy.follow_up_days):
        reasons["gate"] = "date"
        return Decision(0.0, False, reasons)
    date_s = _date_score(days, allowed, policy.max_days)
    if days is not None and days > allowed:  # a follow-up dated to its own day: only with corroboration
        disagree.append("date")
    type_s = type_compatibility(report.event_type, cand.event_type)
    if type_s == 0.0:
        disagree.append("event_type")
    actor_s = actor_compatibility(report.perpetrator, cand.perpetrator)
    # Two named perpetrators lower the score but are not a contradiction: early attribution is
    # contested, and outlets name the claimant, the accused or the unit.
    killed_s = casualty_compatibility(report.killed, cand.killed)
    injured_s = casualty_compatibility(report.injured, cand.injured)
    toll_s = (killed_s + injured_s) / 2
    if killed_s < 0.25:  # injured counts vary too much between outlets to contradict
        disagree.append("toll")
    victims_s = victims_compatibility(report.victims, cand.victims)
    text_s = text_similarity(evidence_text, cand.evidence_text)
    # Shared names corroborate only when they are distinctive (not in `common`); names are
    # disjoint, a sign of two events, only when not even a common one is shared.
    # Full names count only towards strong corroboration (a shared one adds itself to its two
    # words); the single words alone decide the names score and disjointness, as before.
    pairs = full_names(names & cand.names) - common
    mine, theirs = names - full_names(names), cand.names - full_names(cand.names)
    shared = (mine & theirs) - common
    names_s = _names_score(mine, theirs, common)
    tolls = _toll_evidence(report, cand)
    # Disjoint names stay a disagreement even when the tolls agree: two strikes of one city on
    # one day, each killing three, at a market and at an office, are two events.
    if pm.score < 1.0 and _names_disjoint(mine, theirs, common):
        disagree.append("names")
    reasons.update(
        location=round(pm.score, 3),
        date=date_s,
        event_type=type_s,
        perpetrator=actor_s,
        casualties=round(toll_s, 3),
        victims=victims_s,
        text=round(text_s, 3),
        names=sorted(shared)[:8],
    )
    if pairs:
        reasons["full_names"] = sorted(pairs)[:4]
    details = 0.45 * names_s + 0.3 * toll_s + 0.1 * actor_s + 0.05 * victims_s + 0.1 * min(1.0, 2 * text_s)
    total = 0.3 * pm.score + 0.2 * date_s + 0.1 * type_s + 0.4 * details
    # A street many cities share proves nothing when two differently named places disagree:
    # strong corroboration is made of other names (a town and its namesake far away share it).
    streets = my_streets & their_streets if not _same_place_name(report.location, cand.location) else frozenset()
    named = len(shared - streets), len({p for p in pairs if not set(p.split()) <= streets})
    strong = _strong(pm, days, disagree, *named, toll_s=toll_s, tolls=tolls, policy=policy)
    if disagree:
        reasons["disagree"] = disagree
    if not disagree and (
        gate := _area_gate(
            report,
            cand,
            pm,
            days,
            policy,
            mine=mine - common,
            theirs=theirs - common,
            pairs=pairs,
            roundups=(roundup, cand.roundup),
        )
    ):
        reasons["gate"] = gate
        return Decision(round(total, 4), False, reasons)
    if len(disagree) >= 2:
        reasons["gate"] = "two fields disagree"
        return Decision(round(total, 4), False, reasons)
    if disagree and not strong:
        reasons["gate"] = f"{disagree[0]} disagrees without strong corroboration"
        return Decision(round(total, 4), False, reasons)
    if disagree:
        # One field is off but names, date and toll agree: judge on the rest.
        total = total + 0.3 * (1.0 - pm.score) if disagree == ["place"] else total + 0.1
        reasons["forgiven"] = disagree[0]
    total = round(max(0.0, total), 4)
    return Decision(total, total >= policy.link_threshold, reasons)


def score(report: Incident, article_id: int, evidence_text: str, cand: Candidate, policy: Policy) -> Decision:
    """`compare` without event names (kept for callers that have none)."""
    return compare(report, article_id, evidence_text, cand, policy)


@dataclass(frozen=True, slots=True)
class Plan:
    """What linking one report does: join `target` (None: start a new incident), and join
    `absorb` into it (incidents the report also matches; the match graph's components)."""

    target: str | None
    decision: Decision | None
    absorb: tuple[str, ...]
    candidates: int
    closest: tuple[str, Decision] | None = None  # the best-scoring incident, kept for the record


# Place relations that say "another place of the same area", never a wrong geocode.
_SIBLING_PLACES = frozenset({"distinct sub-places", "neighbour named near", "neighbouring"})


def vetoes(d: Decision) -> bool:
    """Whether a comparison rules two reports out of one incident (not merely fails to link
    them): two fields disagree, or their places are siblings in one area (two neighbourhoods of
    a city, two neighbouring towns) and nothing forgave it.

    The one rule for both ways two reports can end up together (a report joining an incident,
    a report joining two incidents): with a stricter rule for the second, whether two reports
    share an incident would depend on whether a bridge arrived before or after them."""
    disagree = d.reasons.get("disagree") or []
    if len(disagree) >= 2:
        return True
    if "place" not in disagree or d.reasons.get("forgiven") == "place":
        return False
    return d.reasons.get("place") in _SIBLING_PLACES


def _as_report(c: Candidate) -> Incident:
    return Incident(
        event_type=c.event_type,
        date=c.date,
        date_precision=c.date_precision,
        location=c.location,
        perpetrator=c.perpetrator,
        victims=c.victims,
        killed=c.killed,
        injured=c.injured,
    )


def decide(
    report: Incident,
    article_id: int,
    evidence_text: str,
    candidates: Sequence[Candidate],
    policy: Policy,
    *,
    names: frozenset[str] = frozenset(),
    common: frozenset[str] = frozenset(),
    share_article: Iterable[tuple[str, str]] = (),
    roundup: bool = False,
) -> Plan:
    """Score the report against every candidate report and plan what it does.

    An incident matches when one of its reports links with the report and none of its reports
    vetoes it (`vetoes`): a report given only as "in the city" must not join a market strike in
    one neighbourhood to a pension-office strike in another. The report joins the incident it
    matches best; when it matches several, they are joined into one, unless one article reports
    two of them (`share_article`), an operator split one, or a report of one vetoes a report of
    the other. Without vetoes the incidents are the connected parts of the report-to-report
    match graph, whatever the order reports arrive in."""
    best: dict[str, Decision] = {}
    vetoed: set[str] = set()
    locked: set[str] = set()
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.id, []).append(c)
        if c.locked:
            locked.add(c.id)
        d = compare(report, article_id, evidence_text, c, policy, names=names, common=common, roundup=roundup)
        if vetoes(d):
            vetoed.add(c.id)
        if c.id not in best or (d.link, d.score) > (best[c.id].link, best[c.id].score):
            best[c.id] = d
    matches = sorted(((d.score, i) for i, d in best.items() if d.link and i not in vetoed), reverse=True)
    if not matches:
        top = max(best.items(), key=lambda kv: kv[1].score, default=None)
        if top is not None and top[0] in vetoed and top[1].link:
            top = (top[0], Decision(top[1].score, False, {**top[1].reasons, "gate": "another report vetoes"}))
        return Plan(None, None, (), len(best), top)
    target = matches[0][1]
    conflicts = {frozenset(p) for p in share_article}
    absorb: list[str] = []
    for _s, other in matches[1:]:
        if other in locked or target in locked:
            continue
        if any(frozenset((x, other)) in conflicts for x in (target, *absorb)):
            continue
        if any(
            vetoes(
                compare(_as_report(x), -1, x.evidence_text, y, policy, names=x.names, common=common, roundup=x.roundup)
            )
            for g in (target, *absorb)
            for x in groups[g]
            for y in groups[other]
        ):
            continue
        absorb.append(other)
    return Plan(target, best[target], tuple(absorb), len(best))


# --- the merged incident ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportView:
    """A report as `derive` needs it."""

    incident: Incident
    published_at: datetime | None
    source_key: str  # the outlet (organisation); wire copies share the key of their original
    label: str = ""  # how reasons name the report (its URL)


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
    reasons: dict[str, str] = field(default_factory=dict)


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
_NEVER = datetime.min.replace(tzinfo=UTC)


def _when(v: ReportView) -> datetime:
    """When the report was published; undated reports count as the earliest."""
    return v.published_at or _NEVER


MISREAD_FLOOR = 100  # a lone figure this high and ten times the rest is a misread number


def merge_counts(views: Sequence[ReportView], attr: str) -> tuple[Count, str]:
    """The incident's figure from its reports' figures, and why.

    Outliers first: a figure more than ten times the median of the reports' figures (with two
    reports: ten times the other and at least 100) is a misreading (a year, a street number, a
    war-wide total quoted as background) and is set aside. Of the credible figures, the latest
    statement stands, unless an earlier report stated more: tolls rise as bodies are found, so a
    later, lower figure is a partial count ("six children were among the dead") or a repeat of
    an early one. `low` and `high` span what the credible reports say.
    """
    stated: list[tuple[int, int, int, ReportView]] = []  # (low, best, high, view)
    for v in views:
        c: Count = getattr(v.incident, attr)
        vals = [x for x in (c.low, c.best, c.high) if x is not None]
        if vals:
            stated.append((min(vals), c.best if c.best is not None else max(vals), max(vals), v))
    if not stated:
        return Count(), "no report gives a figure"
    bests = sorted(s[1] for s in stated)
    median = bests[(len(bests) - 1) // 2]
    cap = max(1, median) * OUTLIER_FACTOR
    outliers = [s for s in stated if s[1] > cap and (len(stated) >= 3 or s[1] >= MISREAD_FLOOR)]
    credible = [s for s in stated if s not in outliers]
    order = {id(v): i for i, v in enumerate(views)}
    latest = max(credible, key=lambda s: (_when(s[3]), order[id(s[3])]))
    top = max(credible, key=lambda s: (s[1], _when(s[3])))
    chosen = top if top[1] > latest[1] else latest
    why = [f"{chosen[1]} from {chosen[3].label or 'a report'}"]
    if chosen is latest:
        why.append("the latest credible statement")
    else:
        why.append(f"the highest credible statement; the later {latest[1]} reads as a partial or early count")
    if outliers:
        why.append("set aside as misread (over ten times the others): " + ", ".join(str(s[1]) for s in outliers))
    agreeing = sum(1 for s in credible if s[1] == chosen[1])
    if agreeing > 1:
        why.append(f"{agreeing} reports state it")
    low = min(s[0] for s in credible)
    high = max(min(s[2], cap) if len(stated) >= 3 else s[2] for s in credible)
    return Count(low=low, best=chosen[1], high=max(high, chosen[1])), "; ".join(why)


# Place relations under which one report's place agrees with another's: the same place, or one
# inside the other.
_SUPPORTING_PLACES = frozenset({"same spot", "same town", "contained", "around"})


def _best_place(places: Sequence[Place]) -> tuple[Place | None, str]:
    """The incident's place from its reports' places, and why.

    Each place is supported by the reports whose place agrees with it (the same place, or one
    containing it or inside it: a village inside the province others give). The best
    supported place stands, the most precise of those, then the most named: a capital named by
    one report (where officials spoke, a misread dateline) does not outweigh the province three
    others give, while a village inside that province refines it.
    """
    if not places:
        return None, ""
    policy = Policy()
    counts = Counter(places)  # distinct places: an incident of many reports names few places
    support = {
        p: sum(n for q, n in counts.items() if place_match(p, q, policy).relation in _SUPPORTING_PLACES) for p in counts
    }
    top = max(support.values())
    backed = [p for p in places if support[p] == top]
    rank = max(precision_rank(p) for p in backed)
    finest = [p for p in backed if precision_rank(p) == rank]
    # Between equally backed towns, a city: a namesake town far away is the usual misreading.
    cities = [p for p in finest if p.feature == "city"]
    best = _mode(cities or finest)
    if best is None:
        return None, ""
    if precision_rank(best) <= _PRECISION_RANK["district"]:
        # An area backed by every report because their towns disagree (a county town and the
        # town next to it): the best backed town inside it is still nearer than its centre.
        inside = [
            p
            for p in places
            if precision_rank(p) > precision_rank(best) and place_match(p, best, policy).relation in _SUPPORTING_PLACES
        ]
        if inside:
            most = max(support[p] for p in inside)
            best = _mode([p for p in inside if support[p] == most]) or best
    agree = sum(1 for p in places if name_key(p.name) == name_key(best.name))
    return best, (
        f"the most precise place ({best.precision}) of those most reports agree with ({top} of {len(places)}); "
        f"{agree} name it"
    )


def derive(views: Sequence[ReportView]) -> Derived:
    """The merged incident's fields from all of its reports (order-independent), with the
    reason each value was chosen."""
    ordered = sorted(views, key=lambda v: (v.published_at is None, v.published_at or datetime.min, v.label))
    incs = [v.incident for v in ordered]
    reasons: dict[str, str] = {}
    # A date to the day outweighs any number of vague ones ("last week", a month): those only
    # say the event falls near the day the report is dated to.
    dates = [i.date for i in incs if i.date and i.date_precision in (None, "day")]
    vague = not dates
    dates = dates or [i.date for i in incs if i.date]
    best_date = _mode(dates, sorted(set(dates)))
    if best_date is not None:
        n = dates.count(best_date)
        reasons["date"] = f"{n} of {len(dates)} {'dated' if vague else 'day-precise'} reports" + (
            " (ties to the earliest)" if n * 2 <= len(dates) else ""
        )
    best_place, why_place = _best_place([i.location for i in incs if i.location])
    if why_place:
        reasons["location"] = why_place
    perps = [i.perpetrator for i in incs if i.perpetrator]
    perp = _mode(perps)
    if perp:
        reasons["perpetrator"] = f"{perps.count(perp)} of {len(perps)} reports that name one"
    certainty = max(
        (i.perpetrator_certainty for i in incs if i.perpetrator == perp and i.perpetrator_certainty),
        key=lambda c: _CERTAINTY_RANK.get(c, -1),
        default=None,
    )
    types = [i.event_type for i in incs]
    event_type = _mode(types) or "Attack"
    reasons["event_type"] = f"{types.count(event_type)} of {len(types)} reports"
    killed, reasons["killed"] = merge_counts(ordered, "killed")
    injured, reasons["injured"] = merge_counts(ordered, "injured")
    sources = {v.source_key for v in views}
    reasons["num_independent_sources"] = "outlets: " + ", ".join(sorted(sources))
    times = [v.published_at for v in ordered if v.published_at]
    return Derived(
        event_type=event_type,
        date=best_date,
        date_precision=_mode([i.date_precision for i in incs if i.date == best_date and i.date_precision]),
        location=best_place,
        perpetrator=perp,
        perpetrator_certainty=certainty,
        victims=_mode([i.victims for i in incs if i.victims]),
        killed=killed,
        injured=injured,
        num_reports=len(views),
        num_independent_sources=len(sources),
        first_reported_at=min(times) if times else None,
        last_reported_at=max(times) if times else None,
        reasons=reasons,
    )


# Second-level labels under which a country code registers names ("bbc.co.uk", "abc.net.au").
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gob", "gouv"})


def outlet_key(url: str | None, agency: str | None = None, name: str | None = None) -> str:
    """The organisation behind an article: a wire agency named in its dateline, else the
    registrable domain of its URL (``news.example.co.uk`` -> ``example.co.uk``), else the
    feed's display name. Three wire services under one feed name are three outlets."""
    if agency:
        return f"agency:{agency.casefold()}"
    host = (urlsplit(url or "").hostname or "").casefold().rstrip(".")
    if host:
        labels = host.split(".")
        if labels[0] == "www":
            labels = labels[1:]
        keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
        if host != "localhost" and not all(p.isdigit() for p in labels):
            return ".".join(labels[-keep:])
    # No domain that names an organisation (a loopback or bare-address site): the outlet's name.
    return (name or host).casefold()


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

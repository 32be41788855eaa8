"""Event geocoding: which resolved place a document's event happened at.

:func:`event_place` runs the geoparser over a whole processed document (the place mentions
of :func:`worker.pipeline.extract.places.find_places`, ranked with the document's context)
and picks the event's place the way incident assembly does for one incident: the most
precise place named as where it happened (not a reference point, not the dateline unless
the text names nothing else), first in sentences that tell the event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pycountry
from spacy.tokens import Doc

from worker.pipeline.extract import incidents, places
from worker.pipeline.extract.gazetteer import Gazetteer
from worker.records import Place


@dataclass(frozen=True, slots=True)
class EventPlace:
    """The event's place, the mention it came from, and every place mention resolved."""

    place: Place
    mention: places.PlaceMention
    mentions: tuple[places.PlaceMention, ...]


def event_place(doc: Doc, gazetteer: Gazetteer) -> EventPlace | None:
    """The place of the event ``doc`` reports (``doc`` from ``extract.load_nlp``), or None.

    A country named alone gives a country-precision place; a reference point ("10 km
    north of X") gives X with precision "near"; a settlement the gazetteer lacks takes the
    document's main country; with no usable place, the country of the places named is given
    at country precision.
    """
    segs, named = incidents.analyse(doc, gazetteer)
    cands = [(m, s.order, bool(s.triggers)) for s in segs for m in s.places]
    where = places.choose(cands)
    if where is None:
        # Countries of the places named (provinces, districts, towns used as reference
        # points), not of demonyms: "Saudi-led airstrikes" name the actor, not the place.
        placed = Counter(c[0].place.country for c in cands if c[0].match.kind != "country" and c[0].place.country)
        return _country_only(placed, gazetteer, tuple(c[0] for c in cands))
    p = where.place
    if where.match.kind == "country":
        p = Place(p.name, p.country, p.lat, p.lon, None, "country", None, "country")
    elif where.near:
        p = Place(p.name, p.country, p.lat, p.lon, p.admin1, "near", p.admin2, p.feature, p.timezone)
    if p.country is None and named:
        p = Place(p.name, named.most_common(1)[0][0], None, None, None, p.precision, None, p.feature)
    if p.lat is None:
        p = placed_in_container(p, where, [c[0] for c in cands])
    return EventPlace(p, where, tuple(c[0] for c in cands))


_CONTAINER_KINDS = ("admin2", "admin1")
_TOWN_KINDS = ("city", "village", "supplement")
QUALIFIER_GAP = 8  # tokens: "X (Y district, Z province)", "X village of Y district, Z"


def placed_in_container(p: Place, where: places.PlaceMention, mentions: Sequence[places.PlaceMention]) -> Place:
    """``p`` (a place without coordinates: a village or a district the gazetteer cannot
    place) at the centre of the smallest unit the text names that holds it, with that unit's
    precision; ``p`` unchanged when the text names none.

    A unit holds ``p`` when it is ``p``'s own district or province, or, for a place whose
    units are unknown ("the village of X (Y district, Z province)"), when it is named in
    ``p``'s country right after it (within ``QUALIFIER_GAP`` tokens); a town named there
    instead places ``p`` "near" it.
    """
    units = [
        m
        for m in mentions
        if m.match.kind in _CONTAINER_KINDS + _TOWN_KINDS and m.place.lat is not None and m.place.country == p.country
    ]
    own = [
        m
        for m in units
        if (m.match.kind == "admin2" and p.admin2 and m.place.admin2 == p.admin2 and m.place.admin1 == p.admin1)
        or (m.match.kind == "admin1" and p.admin1 and m.place.admin1 == p.admin1)
    ]
    if not own and p.admin1 is None:
        own = [m for m in units if 0 <= m.start - where.end <= QUALIFIER_GAP]
    if not own:
        return p
    unit = min(own, key=lambda m: (_rank_of(m.match.kind), abs(m.start - where.end)))
    u = unit.place
    precision = "near" if unit.match.kind in _TOWN_KINDS else u.precision
    return Place(
        p.name, p.country, u.lat, u.lon, p.admin1 or u.admin1, precision, p.admin2 or u.admin2, p.feature, u.timezone
    )


def _rank_of(kind: str) -> int:
    """Units before towns: a district's centre holds the place, a town is only near it."""
    return _CONTAINER_KINDS.index(kind) if kind in _CONTAINER_KINDS else len(_CONTAINER_KINDS)


def _country_only(
    named: Counter[str], gazetteer: Gazetteer, mentions: tuple[places.PlaceMention, ...]
) -> EventPlace | None:
    """The main country of the places named, at country precision, when none of them can be
    the event's place (a village the gazetteer lacks, told "in X district (Sadah)")."""
    if not named:
        return None
    cc = named.most_common(1)[0][0]
    country = pycountry.countries.get(alpha_2=cc)
    match = gazetteer.lookup(country.name, ()) if country is not None else None
    if match is None or match.kind != "country":
        return None
    p = match.place
    place = Place(p.name, cc, p.lat, p.lon, None, "country", None, "country")
    mention = places.PlaceMention(0, 0, match)
    return EventPlace(place, mention, mentions)

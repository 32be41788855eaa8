"""Event geocoding: which resolved place a document's event happened at.

:func:`event_place` runs the geoparser over a whole processed document (the place mentions
of :func:`worker.pipeline.extract.places.find_places`, ranked with the document's context)
and picks the event's place the way incident assembly does for one incident: the most
precise place named as where it happened (not a reference point, not the dateline unless
the text names nothing else), first in sentences that tell the event.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    document's main country.
    """
    segs, named = incidents.analyse(doc, gazetteer)
    cands = [(m, s.order, bool(s.triggers)) for s in segs for m in s.places]
    where = places.choose(cands)
    if where is None:
        return None
    p = where.place
    if where.match.kind == "country":
        p = Place(p.name, p.country, p.lat, p.lon, None, "country", None, "country")
    elif where.reference:
        p = Place(p.name, p.country, p.lat, p.lon, p.admin1, "near", p.admin2, p.feature)
    if p.country is None and named:
        p = Place(p.name, named.most_common(1)[0][0], None, None, None, p.precision, None, p.feature)
    return EventPlace(p, where, tuple(c[0] for c in cands))

"""Event names as linking evidence: a full name both reports give, and a place one report
names in its text that the other report was geocoded to."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from worker.pipeline import dedupe
from worker.records import Count, Incident, Place

DAY = date(2021, 6, 5)
# A district of a city, geocoded to a namesake town in another state, and the city itself.
NAMESAKE = Place("Hollowbrook", "US", 41.0, -96.0, "Nebraska", "town")
CITY = Place("Riverton", "US", 39.0, -77.0, "Maryland", "town")
# A town next to the city.
NEXT_TOWN = Place("Millbank", "US", 39.2, -77.0, "Maryland", "town")


def _report(place: Place, day: date = DAY, killed: int = 1) -> Incident:
    return Incident(event_type="Attack", date=day, date_precision="day", location=place, killed=Count(best=killed))


def _cand(place: Place, names: frozenset[str], day: date = DAY) -> dedupe.Candidate:
    return dedupe.Candidate(
        id="inc",
        event_type="Attack",
        date=day,
        date_precision="day",
        location=place,
        perpetrator=None,
        killed=Count(best=1),
        article_ids=frozenset({2}),
        names=names,
    )


def _compare(mine: Incident, names: frozenset[str], cand: dedupe.Candidate) -> dedupe.Decision:
    return dedupe.compare(mine, 1, "", cand, dedupe.Policy(), names=names)


def test_shared_full_name_makes_strong_corroboration_for_a_far_geocode() -> None:
    # Two reports of one shooting: one geocoded to a namesake far away. They share the
    # victim's full name and one more word: the wrong place is forgiven.
    names = frozenset({"dana", "quill", "dana quill", "elmwood"})
    d = _compare(_report(NAMESAKE), names, _cand(CITY, frozenset({"dana", "quill", "dana quill"})))
    assert d.link and d.reasons["forgiven"] == "place"
    # The same two words, never written together, are not a full name: no forgiveness.
    d = _compare(_report(NAMESAKE), frozenset({"dana", "quill"}), _cand(CITY, frozenset({"dana", "quill"})))
    assert not d.link


def test_places_named_by_each_other_are_one_place() -> None:
    mine = frozenset({"riverton", "quill"})  # the namesake report says the district is in Riverton
    theirs = frozenset({"hollowbrook", "quill"})  # the city report names the district
    d = _compare(_report(NAMESAKE), mine, _cand(CITY, theirs))
    assert d.reasons["place"] == "named in text"
    assert d.link


def test_one_sided_naming_of_a_city_needs_two_other_shared_names() -> None:
    # A report from the next town that quotes officials in the city is another event.
    city = replace(CITY, feature="city")
    d = _compare(_report(NEXT_TOWN), frozenset({"riverton", "avery"}), _cand(city, frozenset({"avery", "lowe"})))
    assert d.reasons["place"] == "neighbouring"
    assert not d.link
    both = frozenset({"riverton", "avery", "lowe"})
    d = _compare(_report(NEXT_TOWN), both, _cand(city, frozenset({"avery", "lowe"})))
    assert d.reasons["place"] == "named in text"


def test_one_sided_naming_of_the_small_town_next_door_tells_where_it_happened() -> None:
    # A report placed in the town next door that names this (small) town and shares a name.
    d = _compare(_report(NEXT_TOWN), frozenset({"riverton", "avery"}), _cand(CITY, frozenset({"avery", "lowe"})))
    assert d.reasons["place"] == "named in text"
    assert d.link


def test_named_place_needs_dates_within_a_day() -> None:
    mine, theirs = frozenset({"riverton", "quill"}), frozenset({"hollowbrook", "quill"})
    d = _compare(_report(NAMESAKE, date(2021, 6, 8)), mine, _cand(CITY, theirs))
    assert d.reasons["place"] == "far apart"
    assert not d.link


def test_named_place_is_symmetric() -> None:
    mine, theirs = frozenset({"riverton", "quill"}), frozenset({"hollowbrook", "quill"})
    one = _compare(_report(NAMESAKE), mine, _cand(CITY, theirs))
    other = _compare(_report(CITY), theirs, _cand(NAMESAKE, mine))
    assert (one.link, one.score, one.reasons["place"]) == (other.link, other.score, other.reasons["place"])


def test_derive_prefers_a_city_between_equally_backed_towns() -> None:
    # Two reports, one placed in a city and one in a small namesake town far away: neither
    # backs the other, and the city stands whichever report came first.
    town = Place("Lakeford", "US", 27.5, -81.4, "Florida", "town", feature="town")
    city = Place("Brenmoor", "US", 37.9, -121.3, "California", "town", feature="city")
    views = [
        dedupe.ReportView(_report(town), None, "a.example", "a"),
        dedupe.ReportView(_report(city), None, "b.example", "b"),
    ]
    assert dedupe.derive(views).location == city
    assert dedupe.derive(views[::-1]).location == city
    # Without a city the tie goes as before (the first in order).
    views[1] = dedupe.ReportView(_report(NAMESAKE), None, "b.example", "b")
    assert dedupe.derive(views).location == town


def test_a_place_named_in_text_is_agreement_enough_to_forgive_another_field() -> None:
    # The wrong geocode is corrected by the words of both reports; they share the victim's full
    # name and a street, and one outlet tells the shooting as another event type.
    mine = frozenset({"riverton", "dana", "quill", "dana quill", "tolley"})
    theirs = frozenset({"hollowbrook", "dana", "quill", "dana quill", "tolley"})
    other_type = replace(_report(NAMESAKE), event_type="Grenade")
    d = _compare(other_type, mine, _cand(CITY, theirs))
    assert d.reasons["place"] == "named in text"
    assert d.link and d.reasons["forgiven"] == "event_type"
    # Without the shared names nothing forgives the type.
    d = _compare(other_type, frozenset({"riverton", "tolley"}), _cand(CITY, frozenset({"hollowbrook", "tolley"})))
    assert not d.link

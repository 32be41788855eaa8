"""Evidence of one event, not of one city: reports that agree only on a city (or give no place)
need the event's own names or a toll that singles it out. How the names are read from a text
(and which a city's every report gives) is tested in test_names.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from worker.pipeline import dedupe
from worker.pipeline.names import fingerprint, full_names, split_streets, victim_marks
from worker.records import Count, Incident, Place

DAY = date(2022, 3, 4)
CITY = Place("Harrowgate", "US", 40.0, -80.0, "Ohio", "town")
# A neighbourhood of the city geocoded as a town of its own, 6 km from the centre.
QUARTER = Place("Fennick Park", "US", 40.05, -80.03, "Ohio", "town")
FAR = Place("Harrowgate", "US", 33.0, -97.0, "Texas", "town")  # a namesake in another state


def _report(place: Place | None, day: date = DAY, killed: int | None = 0, injured: int | None = None) -> Incident:
    return Incident(
        event_type="Attack",
        date=day,
        date_precision="day",
        location=place,
        killed=Count(best=killed),
        injured=Count(best=injured),
    )


def _cand(rep: Incident, names: frozenset[str]) -> dedupe.Candidate:
    return dedupe.Candidate(
        id="inc",
        event_type=rep.event_type,
        date=rep.date,
        date_precision=rep.date_precision,
        location=rep.location,
        perpetrator=None,
        killed=rep.killed,
        injured=rep.injured,
        article_ids=frozenset({2}),
        names=names,
    )


def _compare(mine: Incident, names: set[str], other: Incident, their_names: set[str]) -> dedupe.Decision:
    return dedupe.compare(mine, 1, "", _cand(other, frozenset(their_names)), dedupe.Policy(), names=frozenset(names))


def test_two_shootings_in_one_city_on_one_day_with_nothing_in_common_stay_apart() -> None:
    a, b = _report(CITY, injured=1), _report(QUARTER, injured=2)
    d = _compare(a, {"ona", "brisk", "ona brisk"}, b, {"tal", "verrow", "tal verrow"})
    assert not d.link
    assert "event name or toll" in d.reasons["gate"]
    # The same victim named by both: one shooting.
    d = _compare(a, {"ona", "brisk", "ona brisk"}, b, {"ona", "brisk", "ona brisk", "verrow"})
    assert d.link


def test_the_same_stated_toll_is_evidence_within_a_day() -> None:
    a, b = _report(CITY, killed=1, injured=3), _report(CITY, killed=1, injured=3)
    assert _compare(a, {"ona"}, b, {"tal"}).link
    # Two days apart a lone death and three wounded are too common to single one event out.
    late = _report(CITY, day=DAY + timedelta(days=2), killed=1, injured=3)
    assert not _compare(a, {"ona"}, late, {"tal"}).link


def test_a_report_without_a_place_needs_two_shared_names() -> None:
    placeless, city = _report(None), _report(CITY)
    d = _compare(placeless, {"harrowgate", "corvel"}, city, {"harrowgate", "pellan"})
    assert not d.link and "two of the event's own names" in d.reasons["gate"]
    assert _compare(placeless, {"corvel", "pellan", "tamsin"}, city, {"corvel", "pellan"}).link


def test_a_report_that_gives_no_names_at_all_is_judged_on_place_day_and_toll() -> None:
    # An all lower-case text shows no names: their absence is no evidence against the link.
    a, b = _report(CITY, killed=2), _report(CITY, killed=2)
    assert _compare(a, set(), b, {"corvel", "pellan", "tamsin"}).link


def test_the_same_toll_does_not_outweigh_distinct_named_targets() -> None:
    # Two shootings in one city on one day, three dead each, at two named places.
    a, b = _report(CITY, killed=3), _report(CITY, killed=3)
    d = _compare(a, {"ona", "brisk", "lowe", "dray"}, b, {"tal", "verrow", "kine", "assel"})
    assert not d.link and "names" in d.reasons["disagree"]


def test_a_wrong_geocode_is_forgiven_for_a_shared_full_name_and_the_same_toll() -> None:
    a, b = _report(FAR, killed=1, injured=1), _report(CITY, killed=1, injured=1)
    d = _compare(a, {"ona", "brisk", "ona brisk"}, b, {"ona", "brisk", "ona brisk"})
    assert d.link and d.reasons["forgiven"] == "place"
    # Two words never written together as a name, and no toll both state: not forgiven.
    a, b = _report(FAR, killed=None), _report(CITY, killed=None)
    assert not _compare(a, {"ona", "brisk"}, b, {"ona", "brisk"}).link


def test_one_town_name_far_apart_is_two_namesakes() -> None:
    d = dedupe.place_match(FAR, CITY, dedupe.Policy())
    assert d.relation == "far apart" and d.disagrees
    assert dedupe.place_match(CITY, CITY, dedupe.Policy()).relation == "same town"


def test_an_area_every_report_fits_is_refined_by_a_town_inside_it() -> None:
    # Three reports: the state, a town, and the town next to it (28 km apart). The state is
    # backed by all three, but the incident is placed at a town, not at the state's centre.
    state = Place("Ohio", "US", 40.3, -82.8, "Ohio", "province")
    town = Place("Brackwell", "US", 40.0, -80.0, "Ohio", "town")
    next_town = Place("Sorrel", "US", 40.25, -80.0, "Ohio", "town")
    t0 = datetime(2022, 3, 4, 12)
    views = [
        dedupe.ReportView(_report(p), t0 + timedelta(hours=i), f"outlet{i}", f"u{i}")
        for i, p in enumerate((state, town, next_town))
    ]
    derived = dedupe.derive(views)
    assert derived.location is not None and derived.location.name in {"Brackwell", "Sorrel"}


def test_a_date_to_the_day_outweighs_vague_dates() -> None:
    # Two follow-ups dated only to their week ("last week") against the first report's day.
    t0 = datetime(2022, 3, 4, 12)
    day = _report(CITY, day=DAY)
    week = Incident("Attack", DAY + timedelta(days=3), "week", CITY)
    views = [
        dedupe.ReportView(inc, t0 + timedelta(days=i), f"outlet{i}", f"u{i}") for i, inc in enumerate((day, week, week))
    ]
    derived = dedupe.derive(views)
    assert derived.date == DAY and derived.date_precision == "day"
    # With vague dates only, the most common one stands.
    assert dedupe.derive(views[1:]).date == DAY + timedelta(days=3)


def test_a_street_many_cities_share_does_not_forgive_a_place_far_off() -> None:
    text = "A man was shot on Corvel Luther Parkway near Elm Grove Drive on Monday."
    names = fingerprint(text)
    plain, streets = split_streets(names)
    assert {"corvel", "luther", "corvel luther"} <= plain
    assert {"corvel", "luther", "elm", "grove"} <= streets
    # The street's name alone, shared by reports placed in two different cities: apart.
    other = Place("Tamsin", "US", 33.0, -97.0, "Texas", "town")
    a, b = _report(other, killed=None), _report(CITY, killed=None)
    assert not _compare(a, set(names), b, set(names)).link
    # The same street in reports of one town name (a namesake geocode): it still counts.
    assert _compare(_report(FAR, killed=None), set(names), b, set(names)).link


def test_a_round_up_item_that_names_nothing_needs_the_event_s_evidence() -> None:
    # A weekend round-up tells one of its shootings in a sentence without names; a report of
    # one shooting in that city on that day names its victim. The city and the day are shared
    # by every shooting the round-up tells: no evidence that this is one of them.
    item, single = _report(CITY, killed=2), _report(QUARTER, killed=1)
    names = {"ona", "brisk", "ona brisk"}
    plain = dedupe.compare(item, 1, "", _cand(single, frozenset(names)), dedupe.Policy())
    assert plain.link  # an article of one event that names nothing is judged on place, day, toll
    d = dedupe.compare(item, 1, "", _cand(single, frozenset(names)), dedupe.Policy(), roundup=True)
    assert not d.link and "event name or toll" in d.reasons["gate"]
    # The same the other way round (the round-up item is the candidate).
    rcand = replace(_cand(item, frozenset()), roundup=True)
    assert not dedupe.compare(single, 1, "", rcand, dedupe.Policy(), names=frozenset(names)).link
    # Two round-up items (two articles that each tell several strikes) are judged as before.
    both = replace(_cand(single, frozenset(names)), roundup=True)
    assert dedupe.compare(item, 1, "", both, dedupe.Policy(), roundup=True).link


def test_a_round_up_s_mass_toll_is_no_evidence_of_one_event() -> None:
    # "Ten killed in weekend shootings": a round-up's toll is the weekend's, not one event's.
    a, b = _report(CITY, killed=5), _report(QUARTER, killed=2)
    assert _compare(a, {"ona"}, b, {"tal"}).link  # two reports of one event each: a mass toll
    rcand = replace(_cand(b, frozenset({"tal"})), roundup=True)
    d = dedupe.compare(a, 1, "", rcand, dedupe.Policy(), names=frozenset({"ona"}), roundup=True)
    assert not d.link and "event name or toll" in d.reasons["gate"]


# Two towns 22 km apart: the sheriff's seat and the town where the shooting happened.
SEAT = Place("Marrowby", "US", 40.2, -80.0, "Ohio", "town")


def test_a_report_that_names_the_next_town_joins_a_report_placed_there_on_the_event_s_evidence() -> None:
    a, b = _report(CITY), _report(SEAT)
    d = _compare(a, {"ona", "brisk", "ona brisk", "corvel"}, b, {"harrowgate", "corvel"})
    assert d.link and d.reasons["place"] == "named in text"
    # Naming the town alone is not evidence of one event.
    d = _compare(a, {"ona", "brisk", "ona brisk", "pellan"}, b, {"harrowgate", "corvel"})
    assert not d.link and d.reasons["place"] == "named in text"
    # Without the town named, two towns apart need strong corroboration.
    d = _compare(a, {"ona", "brisk", "ona brisk", "corvel"}, b, {"corvel"})
    assert not d.link and d.reasons["place"] == "neighbouring"


def test_a_numbered_street_or_an_address_block_is_an_event_name_within_a_city() -> None:
    # One shooting told as "the 3300 block of E 14th Street" and "East 14th St. near Corvel Ave."
    one = fingerprint("Officers were called to the 3300 block of E 14th Street just before ten.")
    two = fingerprint("Two people were hurt on East 14th St. near Corvel Ave. on Saturday.")
    assert "14th" in one & two and "3300 14th" in one
    a, b = _report(CITY), _report(CITY)
    assert _compare(a, set(one), b, set(two) | {"ona", "brisk", "tal"}).link
    # Another numbered street of the same city on the same day: nothing shared.
    other = fingerprint("A man was shot on West 41st Street near Corvel Ave. on Saturday.")
    assert not _compare(a, set(one) | {"pellan"}, b, set(other) | {"ona", "brisk"}).link


def test_a_shared_block_and_toll_correct_a_wrong_geocode_where_a_street_alone_does_not() -> None:
    names = fingerprint("Police found Ona Brisk in the 1400 block of Tamsin Ave. on Friday.")
    assert "1400 tamsin" in names and full_names(names) == {"ona brisk", "1400 tamsin"}
    block = names - {"ona", "brisk", "ona brisk"}  # the address alone, not the victim
    elsewhere = Place("Dunmore", "US", 33.0, -97.0, "Texas", "town")  # a wrong geocode, far away
    a, b = _report(elsewhere, killed=1, injured=1), _report(CITY, killed=1, injured=1)
    d = _compare(a, set(block) | {"corvel"}, b, set(block) | {"pellan"})
    assert d.link and d.reasons["forgiven"] == "place"
    # The street without the block: many cities have a Tamsin Avenue.
    street = block - {"1400 tamsin"}
    assert not _compare(a, set(street) | {"corvel"}, b, set(street) | {"pellan"}).link
    # The same block in the same city is one event even two days apart, when a lone death
    # and a wound are too common to tell.
    late = _report(CITY, day=DAY + timedelta(days=2), killed=1, injured=1)
    assert _compare(b, set(block) | {"corvel"}, late, set(block) | {"pellan"}).link
    assert not _compare(b, {"corvel", "ona"}, late, {"pellan", "tal"}).link


def test_a_victim_both_reports_describe_alike_is_a_shared_name() -> None:
    # One shooting: "a 7-year-old girl" in one report, "the seven-year-old Elmvale girl" in the other.
    a, b = _report(CITY), _report(CITY)
    mine = {"ona", "brisk", "dray", "ona brisk"} | victim_marks("Police say a 7-year-old girl was shot.")
    theirs = {"tal", "corvel", "pellan"} | victim_marks("The seven-year-old Elmvale girl is recovering.")
    d = _compare(a, mine, b, theirs)
    assert d.link and d.reasons["names"] == ["#7"]
    # A 7-year-old boy in another shooting that day is not her.
    boy = {"tal", "corvel", "pellan"} | victim_marks("A 7-year-old boy was shot.")
    assert not _compare(a, mine, b, boy).link


def test_a_victims_age_is_no_shared_name_for_a_report_without_a_place() -> None:
    # A report that names no place and a shooting in some city, both of a 15-year-old, with
    # one common word between them: an age that any city's week of news may give.
    placeless, city = _report(None, injured=2), _report(CITY, killed=1)
    mine = {"ona"} | victim_marks("Two were shot, including a 15-year-old, police said.")
    theirs = {"ona", "tal"} | victim_marks("The 15-year-old died at the scene.")
    d = _compare(placeless, mine, city, theirs)
    assert not d.link and "#15" not in d.reasons.get("names", [])
    # Placed in one city, the same age is a name they share.
    assert "#15" in _compare(_report(CITY, injured=2), mine, city, theirs).reasons.get("names", [])


def test_the_same_casualty_profile_and_a_shared_venue_join_a_follow_up_from_the_next_town() -> None:
    # A shooting at a bowling alley placed at its town and at the town next door (22 km), the
    # follow-up dated two days later: both name the alley and say none killed, five wounded.
    next_town = Place("Brannock", "US", 40.2, -80.05, "Ohio", "town")
    a = _report(next_town, killed=0, injured=5)
    late = _report(CITY, day=DAY + timedelta(days=2), killed=0, injured=5)
    venue = {"pinewood", "lanes", "pinewood lanes"}
    d = _compare(a, venue | {"corvel"}, late, venue | {"pellan"})
    assert dedupe.place_match(next_town, CITY, dedupe.Policy()).relation == "neighbouring"
    assert d.link and d.reasons["forgiven"] == "place"
    # Four wounded against five is no such profile: the dates and towns stay apart.
    assert not _compare(a, venue | {"corvel"}, replace(late, injured=Count(best=4)), venue | {"pellan"}).link
    # Nor is a lone wound, however equal.
    one, one_late = replace(a, injured=Count(best=1)), replace(late, injured=Count(best=1))
    assert not _compare(one, venue | {"corvel"}, one_late, venue | {"pellan"}).link


def test_a_neighbourhood_placed_at_its_city_is_inside_the_city_and_apart_from_its_other_places() -> None:
    policy = dedupe.Policy()
    city = replace(CITY, feature="city")
    # Neighbourhoods the gazetteer lacks, both placed at the city's centre.
    uptown = Place("Uptown", "US", 40.0, -80.0, "Ohio", "town", feature="neighbourhood")
    elm_park = Place("Elm Park", "US", 40.0, -80.0, "Ohio", "town", feature="neighbourhood")
    assert dedupe.place_match(uptown, city, policy).relation == "contained"
    assert dedupe.place_match(uptown, uptown, policy).relation in {"same spot", "same town"}
    # One point for both, yet two named parts of the city.
    d = dedupe.place_match(uptown, elm_park, policy)
    assert d.relation == "distinct sub-places" and d.disagrees
    # A part of the city the gazetteer files as a town is another spot too.
    assert dedupe.place_match(QUARTER, uptown, policy).relation == "distinct sub-places"
    assert dedupe.place_match(uptown, FAR, policy).relation in {"far apart", "other province"}

"""The geoparser, cause by cause (issue 9), on sentences written for these tests.

1. a same-named place abroad must not beat the one the text is about;
2. things that are not places (titles + names, streets and blocks, businesses, months)
   stay out, cased and lowercased;
3. the hierarchy (admin1, admin2) comes from the gazetteer's own codes, in every country;
4. granularity: districts and the most precise place the text gives for the event;
5. the curated supplement holds no place without a general source.

Also the separate steps: a ranking is a scored list whose features explain it.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter

import pytest
from spacy.tokens import Doc

from worker.pipeline.extract import load_nlp, places
from worker.pipeline.extract.gazetteer import DATA_DIR, Candidate, Gazetteer, GeoMatch
from worker.pipeline.geo import geoparse
from worker.pipeline.geo.event import event_place, placed_in_container
from worker.records import Place


def _lower(text: str) -> str:
    """The seed's normalized form: lowercase, punctuation split off, apostrophes dropped."""
    text = text.lower().replace("'s ", " s ").replace("'", " ")
    text = re.sub(r"([,;:()\"!?])(?=\s|$)", r" \1", text)
    return " ".join(text.split())


def _doc(text: str) -> Doc:
    return load_nlp()(text)


def _place(text: str) -> Place | None:
    found = event_place(_doc(text), Gazetteer.load())
    return found.place if found else None


def _names(text: str) -> set[str]:
    found = event_place(_doc(text), Gazetteer.load())
    return {m.place.name.lower() for m in found.mentions} if found else set()


BOTH = pytest.mark.parametrize("lower", [False, True], ids=["cased", "lowercased"])


# --------------------------------------------------------------------------- 1. namesakes abroad


@pytest.mark.parametrize(
    ("text", "country", "admin1"),
    [
        (
            "Gunmen attacked a police post in Azra district, Logar province, killing two policemen.",
            "AF",
            "Logar",
        ),
        (
            "GREENVILLE, N.C. - Two men were shot dead outside a gas station on Friday night, police said.",
            "US",
            "North Carolina",
        ),
        (
            "A bomb planted by BLA separatists killed three soldiers near Turbat, in Balochistan, on Monday.",
            "PK",
            None,
        ),
        ("Houthi shelling killed a woman in the Sirwah area of Marib governorate on Tuesday.", "YE", None),
        ("Syrian government jets bombed the town of Saraqib on Sunday, killing four civilians.", "SY", None),
    ],
)
def test_namesake_abroad_loses_to_the_documents_place(text: str, country: str, admin1: str | None) -> None:
    for body in (text, _lower(text)):
        got = _place(body)
        assert got is not None, body
        assert got.country == country, (body, got)
        if admin1:
            assert got.admin1 == admin1, (body, got)


def test_state_abbreviation_sets_the_state() -> None:
    got = _place("HAWTHORNE, Calif. - A man was shot and killed in a parking lot late Tuesday, police said.")
    assert got is not None and (got.country, got.admin1) == ("US", "California")


# --------------------------------------------------------------------------- 2. non-places


@BOTH
@pytest.mark.parametrize(
    ("text", "not_a_place"),
    [
        ("Det. Ana Toledo said the victim was shot twice in Baltimore on Sunday.", "toledo"),
        ("Officers found the man in the 600 block of Kenosha Avenue in Chicago on Friday.", "kenosha"),
        ("The shooting happened in the parking lot of the Bristol Inn in Memphis, police said.", "bristol"),
        ("The gunman opened fire on Nov. 14 in a bar in Denver, killing two men.", "nov"),
    ],
)
def test_non_places_stay_out(text: str, not_a_place: str, lower: bool) -> None:
    body = _lower(text) if lower else text
    names = _names(body)
    assert not any(not_a_place in n for n in names), (body, names)


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ("Sgt. Lopez", "said", "person"),
        ("the 1400 block of", "Street", "street"),
        ("the", "Inn", "business"),
    ],
)
def test_non_place_reasons(before: str, after: str, reason: str) -> None:
    doc = _doc(f"Police said {before} Dorchester {after} was closed.")
    start = next(t.i for t in doc if t.text == "Dorchester")
    match = Gazetteer.load().lookup("Dorchester")
    assert match is not None
    assert geoparse.non_place(doc, start, start + 1, match) == reason


def test_a_big_city_naming_a_hotel_stays_a_place() -> None:
    got = _place("A suicide bomber struck a Kabul hotel on Monday, killing nine guests, Afghan officials said.")
    assert got is not None and got.country == "AF"


# --------------------------------------------------------------------------- 3. hierarchy


@pytest.mark.parametrize(
    ("name", "countries", "country", "admin1"),
    [
        ("Austin", ("US",), "US", "Texas"),
        ("Hawthorne", ("US",), "US", "California"),
        ("Detroit", ("US",), "US", "Michigan"),
        ("Gardez", ("AF",), "AF", "Paktia"),
        ("Mosul", ("IQ",), "IQ", None),
        ("Maiduguri", ("NG",), "NG", "Borno"),
        ("Kharkiv", ("UA",), "UA", None),
        ("Aleppo", ("SY",), "SY", None),
    ],
)
def test_admin1_comes_from_the_gazetteer_codes(
    name: str, countries: tuple[str, ...], country: str, admin1: str | None
) -> None:
    m = Gazetteer.load().lookup(name, countries)
    assert m is not None and m.place.country == country
    assert m.place.admin1 is not None, m.place
    if admin1:
        assert m.place.admin1 == admin1, m.place


def test_a_state_named_alone_is_the_state() -> None:
    for name, state in (("Maryland", "Maryland"), ("California", "California")):
        m = Gazetteer.load().lookup(name, ("US",))
        assert m is not None and m.kind == "admin1" and m.place.admin1 == state and m.place.country == "US"


def test_a_county_is_not_a_foreign_town() -> None:
    got = _place("MIAMI-DADE COUNTY - Two teenagers were shot dead at a party on Saturday, deputies said.")
    assert got is not None and got.country == "US"


def test_every_countrys_cities_have_admin1_in_their_country() -> None:
    """Across countries, a city's admin1 is one of its own country's units."""
    g = Gazetteer.load()
    for name, cc in [("Kabul", "AF"), ("Sanaa", "YE"), ("Mogadishu", "SO"), ("Tripoli", "LY"), ("Bamako", "ML")]:
        m = g.lookup(name, (cc,))
        assert m is not None and m.place.country == cc and m.place.admin1, (name, m)
        province = g.lookup(m.place.admin1, (cc,))
        assert province is not None and province.place.country == cc, (name, m.place.admin1, province)


# --------------------------------------------------------------------------- 4. granularity


def test_a_neighbourhood_of_a_city_is_the_neighbourhood() -> None:
    got = _place("A car bomb exploded in the Sadr City district of Baghdad on Saturday, killing six people.")
    assert got is not None and got.country == "IQ" and got.name == "Sadr City", got


def test_a_district_beats_a_namesake_abroad() -> None:
    got = _place("Gunmen killed two farmers in Azra district, Logar, on Thursday.")
    assert got is not None and got.country == "AF" and got.admin1 == "Logar", got


def test_the_district_beats_the_province_centre() -> None:
    got = _place("Taliban fighters killed four policemen in Imam Sahib district, Kunduz province, on Sunday.")
    assert got is not None and got.country == "AF" and "imam sahib" in got.name.lower(), got


def test_the_dateline_is_not_the_event_place_when_the_text_names_one() -> None:
    got = _place("KABUL (Reuters) - A roadside bomb killed seven civilians in Ghazni province on Monday.")
    assert got is not None and got.name != "Kabul" and got.admin1 == "Ghazni", got


def test_the_dateline_is_the_place_when_nothing_else_is_named() -> None:
    got = _place("MOSUL, Iraq (Reuters) - A car bomb killed five people at a market on Monday, police said.")
    assert got is not None and got.name == "Mosul"


# --------------------------------------------------------------------------- 5. supplement


def test_supplement_entries_have_a_general_source() -> None:
    with (DATA_DIR / "places_supplement.toml").open("rb") as fh:
        entries = tomllib.load(fh).get("place", [])
    for e in entries:
        assert e.get("source"), e
        assert "wikipedia.org/wiki/" not in e["source"] or "List_of" in e["source"], e


# --------------------------------------------------------------------------- the ranking


def test_ranking_is_a_scored_list_with_its_features() -> None:
    g = Gazetteer.load()
    match = g.lookup("Greenville")
    assert match is not None and len(match.options) > 1
    ctx = geoparse.DocContext()
    ctx.countries["US"] += 1
    ctx.admin1.add(("US", "North Carolina"))
    ranked = geoparse.rank(match, ctx)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
    top = ranked[0]
    assert (top.place.country, top.place.admin1) == ("US", "North Carolina")
    assert dict(top.features)["admin1"] == geoparse.ADMIN1_BONUS
    assert top.score == pytest.approx(sum(v for _, v in top.features))


def test_villages_only_count_in_the_documents_countries() -> None:
    g = Gazetteer.load()
    match = g.lookup("Ber")
    assert match is not None
    ranked = geoparse.rank(match, geoparse.DocContext())
    assert all(s.candidate.kind != "village" for s in ranked)


def test_state_mentions_after_a_comma() -> None:
    found = geoparse.state_mentions("GREENVILLE, N.C. - and Austin, TX, and Reno, Nev.")
    assert [s.admin1 for _, s in found] == ["North Carolina", "Texas", "Nevada"]


@pytest.mark.parametrize("lower", [False, True], ids=["cased", "lowercased"])
def test_a_neighbourhood_is_placed_in_its_city_not_at_a_namesake(lower: bool) -> None:
    text = (
        "CHICAGO (AP) - A teenager was shot and killed Sunday in the Austin neighborhood on the West Side, police said."
    )
    got = _place(_lower(text) if lower else text)
    chicago = Gazetteer.load().lookup("Chicago", ("US",))
    assert got is not None and chicago is not None and got.country == "US", got
    assert got.admin1 == "Illinois", got
    assert geoparse.km(got, chicago.place) is not None
    assert (geoparse.km(got, chicago.place) or 0) < 30, got


# --------------------------------------------------------------------------- country agreement


def _match(key: str, *cands: tuple[str, str, int]) -> GeoMatch:
    """A gazetteer match with candidates ``(country, kind, population)``, best first."""
    options = tuple(
        Candidate(Place(key.title(), cc, 1.0, 1.0, None), kind, pop, math.log10(pop + 10)) for cc, kind, pop in cands
    )
    return GeoMatch(
        key, options[0].place, tuple(o.place for o in options), options[0].kind, cands[0][2], False, options
    )


def test_places_of_a_text_that_names_no_country_agree_on_one() -> None:
    # "Tarnow" is a town in two countries, "Velmor district" a unit in one of them only.
    votes = geoparse.country_votes(
        [_match("tarnow", ("XA", "city", 9000), ("XB", "city", 800)), _match("velmor district", ("XB", "admin2", 0))]
    )
    assert geoparse.agreed_country(votes) == "XB"


def test_one_ambiguous_name_is_left_to_its_ranking() -> None:
    votes = geoparse.country_votes([_match("tarnow", ("XA", "city", 900_000), ("XB", "village", 40))] * 3)
    assert geoparse.agreed_country(votes) is None  # and a name repeated votes once


def test_a_bare_name_that_is_a_district_abroad_votes_like_a_town() -> None:
    votes = geoparse.country_votes([_match("brandon", ("XA", "city", 1_200_000), ("XB", "admin2", 0))])
    assert votes["XA"] > votes["XB"]  # a big city outweighs a district abroad named bare
    votes = geoparse.country_votes([_match("brandon district", ("XB", "admin2", 0), ("XA", "city", 1_200_000))])
    assert votes["XB"] == votes["XA"]  # written as a district, it weighs as much


@BOTH
def test_a_town_abroad_loses_to_the_country_the_other_places_share(lower: bool) -> None:
    # No country named; Kandahar (a province too) pins Afghanistan for the ambiguous town.
    text = "Insurgents fired rockets at an army post in Kandahar province; two soldiers died in Spin Boldak district."
    got = _place(_lower(text) if lower else text)
    assert got is not None and got.country == "AF", got


def test_mixed_case_initials_are_no_place() -> None:
    assert geoparse._mixed_case_initials("SoG")
    assert not geoparse._mixed_case_initials("Kabul")
    assert not geoparse._mixed_case_initials("McAllen")


# --------------------------------------------------------------------------- units as fallbacks


def test_a_district_without_coordinates_takes_its_province_centre() -> None:
    district = Place("Velmor", "XB", None, None, "Arden", "district", "Velmor", "district")
    province = Place("Arden", "XB", 10.0, 20.0, "Arden", "province", None, "province")

    def mention(start: int, place: Place, kind: str) -> places.PlaceMention:
        return places.PlaceMention(start, start + 1, GeoMatch(place.name.lower(), place, (place,), kind, 0))

    where = mention(3, district, "admin2")
    got = placed_in_container(district, where, [where, mention(5, province, "admin1")])
    assert (got.name, got.lat, got.lon, got.precision) == ("Velmor", 10.0, 20.0, "province")
    # A province of another name is no container of a district placed elsewhere.
    other = Place("Brisk", "XB", 1.0, 2.0, "Brisk", "province", None, "province")
    assert placed_in_container(district, where, [where, mention(5, other, "admin1")]) == district


def test_an_unknown_village_named_before_its_district_and_town_gets_coordinates() -> None:
    text = "On 3 June 2021, gunmen attacked a checkpoint in the village of Zorbanak in Muqur district, Ghazni."
    got = _place(text)
    assert got is not None and got.name == "Zorbanak" and got.country == "AF", got
    assert got.lat is not None, got


def test_a_name_closing_a_parenthesis_of_places_reads_as_the_province() -> None:
    text = "On 4 June 2021, a roadside bomb killed a driver near Zorbanak (Muqur district, Kandahar)."
    found = event_place(_doc(text), Gazetteer.load())
    assert found is not None
    kinds = {m.match.key: m.match.kind for m in found.mentions}
    assert kinds.get("kandahar") == "admin1", kinds


@pytest.mark.parametrize(
    ("text", "name", "regional"),
    [
        ("Shells fell on farms in north-western Kandahar overnight.", "Kandahar", True),
        ("Shells fell on farms in the eastern Kandahar countryside overnight.", "Kandahar", True),
        ("Shells fell on farms in the countryside of Kandahar overnight.", "Kandahar", True),
        ("A blast hit a market in central Kandahar overnight.", "Kandahar", False),
        ("A blast hit a market in Kandahar overnight.", "Kandahar", False),
    ],
)
def test_a_town_name_used_for_a_region(text: str, name: str, regional: bool) -> None:
    doc = _doc(text)
    start = next(t.i for t in doc if t.text == name)
    assert places._regional(doc, start, start + 1) is regional


def test_an_unknown_village_stops_at_a_compass_word_and_is_placed_near_the_town() -> None:
    got = _place("On 5 June 2021, militants burned a school in the village of Zorbanak west of Ghazni city.")
    assert got is not None and got.name == "Zorbanak" and got.precision == "near", got
    assert got.country == "AF" and got.lat is not None, got


def test_relation_words_say_inside_or_near() -> None:
    assert places._relation(["in", "the", "western", "countryside", "of"])
    assert places._relation([",", "10", "km", "south", "of"])
    assert not places._relation(["and", "then"])


# --------------------------------------------------------------------------- home city


@BOTH
def test_a_suburb_lies_in_the_state_of_the_big_city_the_text_names(lower: bool) -> None:
    # A bigger namesake elsewhere loses to the one in the named city's state.
    text = "Atlanta police said a man was wounded in a shooting in Decatur on Sunday."
    got = _place(_lower(text) if lower else text)
    assert got is not None and got.name == "Decatur" and got.admin1 == "Georgia", got


def _state_match(key: str, *cands: tuple[str, int]) -> GeoMatch:
    """A city match with candidates ``(admin1, population)`` in one country, biggest first."""
    options = tuple(
        Candidate(Place(key.title(), "US", 1.0, 1.0, adm), "city", pop, math.log10(pop + 10)) for adm, pop in cands
    )
    return GeoMatch(key, options[0].place, tuple(o.place for o in options), "city", cands[0][1], False, options)


def test_home_states_need_a_big_city_far_bigger_than_its_namesakes() -> None:
    big = _state_match("harbor city", ("Oregon", 600_000), ("Maine", 20_000))
    close = _state_match("twin falls city", ("Idaho", 300_000), ("Utah", 90_000))
    small = _state_match("elm grove", ("Ohio", 40_000))
    spans = [(0, 1, big, False), (3, 4, close, False), (6, 7, small, False)]
    assert geoparse.home_states(spans) == {("US", "Oregon")}


def test_a_place_listing_the_name_as_an_alternate_is_no_namesake() -> None:
    city = _state_match("harbor city", ("Oregon", 600_000))
    alias = Candidate(Place("Old Port", "XA", 1.0, 1.0, "Coast"), "city", 400_000, 5.6)
    match = GeoMatch(
        city.key, city.place, (*city.candidates, alias.place), "city", 600_000, False, (*city.options, alias)
    )
    assert geoparse.home_states([(0, 1, match, False)]) == {("US", "Oregon")}


def test_a_national_capital_is_no_home_city() -> None:
    capital = _state_match("washington", ("District of Columbia", 700_000))
    assert geoparse.home_states([(0, 1, capital, True)]) == set()


def test_a_small_town_abroad_is_dropped_in_a_text_about_a_big_city_at_home() -> None:
    ctx = geoparse.DocContext(admin1={("US", "Oregon")}, home={("US", "Oregon")}, home_countries={"US"})
    abroad = _match("millbrook", ("XA", "city", 6000))
    best = geoparse.rank(abroad, ctx)[0]
    assert dict(best.features)["home"] < 0
    assert geoparse.contradicts_provinces(best, ctx)
    assert "home" not in dict(geoparse.rank(abroad, geoparse.DocContext())[0].features)  # no home city


def test_a_big_city_reached_by_an_alternate_name_yields_to_the_states_named() -> None:
    ctx = geoparse.DocContext(countries=Counter({"US": 1}), admin1={("US", "Oregon")})
    city = Candidate(Place("Bay Harbor", "US", 1.0, 1.0, "Nevada"), "city", 300_000, 5.5)
    alias = GeoMatch("river ward", city.place, (city.place,), "city", 300_000, False, (city,))
    assert geoparse.contradicts_provinces(geoparse.rank(alias, ctx)[0], ctx)
    own = GeoMatch("bay harbor", city.place, (city.place,), "city", 300_000, False, (city,))
    assert not geoparse.contradicts_provinces(geoparse.rank(own, ctx)[0], ctx)


def test_a_country_name_inside_a_longer_place_name_names_no_country() -> None:
    doc = _doc("Deputies in New Mexico arrested a man after the shooting.")
    assert "MX" not in places.article_countries(doc, Gazetteer.load())
    assert "MX" in places.article_countries(_doc("Two men were shot in Mexico on Friday."), Gazetteer.load())


def test_names_given_an_age_are_people_not_towns() -> None:
    doc = _doc(
        "The 24-year-old Mara Denton was shot. Her cousin, Ollie Brandon, 31, was hurt near a 19-year-old Dayton man."
    )
    people = places._people_by_age(doc)
    assert {"mara", "denton", "ollie", "brandon"} <= people
    assert "dayton" not in people  # a town qualifying a noun
    # The age closing the sentence: "identified the man as Toledo Rawley, 22."
    assert {"toledo", "rawley"} <= places._people_by_age(_doc("Police identified the man as Toledo Rawley, 22."))


def test_a_state_written_in_full_after_a_comma_is_a_state_mention() -> None:
    found = geoparse.state_mentions("Two men were hurt in Lakeview Township, New Hampshire on Friday.")
    assert [(s.country, s.admin1) for _, s in found] == [("US", "New Hampshire")]
    assert geoparse.state_mentions("Deputies in New Hampshire said") == []  # not after a place


def test_a_state_the_text_names_outweighs_a_big_citys_state() -> None:
    doc = _doc("Harbor City and Nevada")
    city = _state_match("harbor city", ("Oregon", 600_000))
    state = Candidate(Place("Nevada", "US", 1.0, 1.0, "Nevada"), "admin1", 0, 3.0)
    nevada = GeoMatch("nevada", state.place, (state.place,), "admin1", 0, False, (state,))
    ctx = geoparse.document_context(doc, [(0, 2, city, False), (3, 4, nevada, False)], ())
    assert ctx.home == set() and ctx.admin1 == {("US", "Nevada")}
    alone = geoparse.document_context(doc, [(0, 2, city, False)], ())
    assert alone.home == {("US", "Oregon")}


def test_a_two_word_neighbourhood_name_is_a_neighbourhood() -> None:
    doc = _doc("A man was shot in the Maple Hollow neighborhood on Friday.")
    start = [t.text for t in doc].index("Maple")
    assert geoparse.neighbourhood_of(doc, start, start + 1)  # "Maple" alone, "Hollow" follows
    assert not geoparse.neighbourhood_of(_doc("A man was shot in Maple Hollow on Friday."), 5, 6)


# --------------------------------------------------------------------------- the states a text names


def test_a_country_named_as_a_street_is_no_place() -> None:
    text = "TAMPA, Fla. - A man was shot dead on Friday at Cuba Avenue and Fifth Street, police said."
    got = _place(text)
    assert got is not None and (got.name, got.admin1) == ("Tampa", "Florida"), got
    doc = _doc(text)
    start = [t.text for t in doc].index("Cuba")
    cuba = Gazetteer.load().lookup("Cuba", ())
    assert cuba is not None and cuba.kind == "country"
    assert geoparse.non_place(doc, start, start + 1, cuba) == "street"
    assert geoparse.non_place(_doc("Two men were shot in Cuba on Friday."), 4, 5, cuba) is None


@BOTH
def test_a_big_city_naming_a_bar_is_the_place_when_no_country_is_named(lower: bool) -> None:
    text = "A man was killed in a shooting inside a Denver tavern early Sunday, police said."
    got = _place(_lower(text) if lower else text)
    assert got is not None and (got.name, got.country) == ("Denver", "US"), got


def test_a_persons_home_town_is_no_event_place() -> None:
    text = "Ada Roe, 34, of Dayton, Ohio, was killed when a gunman opened fire inside a Denver tavern on Sunday."
    got = _place(text)
    assert got is not None and got.name == "Denver", got
    doc = _doc("A Dayton woman was shot.")
    assert places._origin(doc, 1, 2)
    assert not places._origin(_doc("A woman was shot in Dayton."), 5, 6)
    assert places._origin(_doc("Ada Roe, 34, of West Dayton, was shot."), 7, 8)


def test_the_state_written_after_a_town_keeps_the_event_in_that_state() -> None:
    text = (
        "A Dayton woman is mourning her daughter, who was shot and killed by her father. "
        "Police said he shot the girl at a home just outside of Omaha, Nebraska, on Friday."
    )
    got = _place(text)
    assert got is not None and (got.name, got.admin1) == ("Omaha", "Nebraska"), got


def test_a_province_named_for_another_strike_does_not_pull_the_event() -> None:
    text = (
        "A missile hit a residential building in Dnipro on Saturday, killing 20 people. "
        "In a separate attack, shelling damaged houses in the Zaporizhzhia region."
    )
    got = _place(text)
    assert got is not None and got.name == "Dnipro", got


def test_home_states_only_where_the_press_writes_a_places_state() -> None:
    us = _state_match("harbor city", ("Oregon", 600_000))
    abroad = Candidate(Place("Harbor City", "NG", 1.0, 1.0, "Lagos"), "city", 600_000, 5.8)
    nigerian = GeoMatch("harbor city", abroad.place, (abroad.place,), "city", 600_000, False, (abroad,))
    assert geoparse.home_states([(0, 1, us, False)]) == {("US", "Oregon")}
    assert geoparse.home_states([(0, 1, nigerian, False)]) == set()
    # Its country still counts: a small town abroad is dropped in a text about that city.
    assert geoparse.home_countries([(0, 1, nigerian, False)]) == {"NG"}
    ctx = geoparse.DocContext(home_countries={"NG"})
    best = geoparse.rank(_match("millbrook", ("XA", "city", 6000)), ctx)[0]
    assert geoparse.contradicts_provinces(best, ctx)


# --------------------------------------------------------------------------- no place, no country


def test_a_hamlet_tagged_as_an_organisation_after_near_is_still_the_place() -> None:
    # The small English model tags unknown one-word names as organisations; after "near"
    # or "in", the name alone is the place.
    doc = _doc("Monitors recorded 40 explosions near Mineralne on Friday.")
    start = [t.text for t in doc].index("Mineralne")
    found = Gazetteer.load().lookup("Mineralne", ())
    assert found is not None and all(o.kind == "village" for o in found.options)
    org = {start: (start, start + 1, "ORG")}
    assert not places._not_a_name(doc, (start, start + 1), found, countries=(), ents=org, surnames=set(), cased=True)
    longer = {start: (start - 1, start + 1, "ORG")}  # "near Mineralne" as one name: not a place
    assert places._not_a_name(doc, (start, start + 1), found, countries=(), ents=longer, surnames=set(), cased=True)


def test_an_official_in_the_capital_is_no_event_place() -> None:
    text = (
        "A drone strike killed 12 farm workers in Kunar province on Wednesday. "
        "The strike was confirmed by a senior official in Kabul."
    )
    got = _place(text)
    assert got is not None and got.name == "Kunar", got


def test_an_english_word_naming_a_city_only_as_an_alternate_is_a_weak_vote() -> None:
    city = Candidate(Place("Grand Harbour", "XA", 1.0, 1.0, "Coast"), "city", 2_000_000, 6.3)
    alternate = GeoMatch("soul", city.place, (city.place,), "city", 2_000_000, False, (city,))
    assert geoparse.agreed_country(geoparse.country_votes([alternate])) is None  # "Soul" in a club's name
    own = Candidate(Place("Soul", "XA", 1.0, 1.0, "Coast"), "city", 2_000_000, 6.3)
    named = GeoMatch("soul", own.place, (own.place,), "city", 2_000_000, False, (own,))
    assert geoparse.agreed_country(geoparse.country_votes([named])) == "XA"
    foreign = GeoMatch("tarnowa", city.place, (city.place,), "city", 2_000_000, False, (city,))  # no English word
    assert geoparse.agreed_country(geoparse.country_votes([foreign])) == "XA"


def test_a_capitalized_dateline_with_an_abbreviated_saint_is_the_city() -> None:
    got = _place("ST. LOUIS, Mo. - Police said three people were hurt in a shooting near a park.")
    assert got is not None and (got.name, got.admin1) == ("St. Louis", "Missouri"), got
    got = _place("FT. WORTH, Texas - Two men were shot on Friday, police said.")
    assert got is not None and got.name == "Fort Worth", got


def test_an_unknown_town_name_stops_at_a_lower_case_word_and_takes_its_namesake_in_the_text() -> None:
    doc = _doc("A party in the city of Varnel ended in gunfire overnight.")
    found = places._unresolved(doc, set())
    assert [m.match.key for m in found] == ["varnel"]
    town = Candidate(Place("Varnel", "XA", 1.0, 2.0, "Coast"), "city", 9000, 4.0)
    elsewhere = places.PlaceMention(9, 10, GeoMatch("varnel", town.place, (town.place,), "city", 9000, False, (town,)))
    again = places.placed_again(found[0], [elsewhere])
    assert again is not None and (again.start, again.place.lat) == (found[0].start, 1.0)
    assert places.placed_again(found[0], []) is None


# --------------------------------------------------------------------------- jurisdictions


def _km_from(got: Place | None, city: str) -> float:
    ref = Gazetteer.load().lookup(city, ("US",))
    assert got is not None and ref is not None, got
    d = geoparse.km(got, ref.place)
    assert d is not None, got
    return d


def test_a_local_force_names_the_jurisdiction_of_a_scene_named_like_a_far_town() -> None:
    text = "Five people were shot in the Kenosha neighborhood early Saturday, according to Memphis police."
    got = _place(text)
    assert got is not None and got.admin1 == "Tennessee" and _km_from(got, "Memphis") < 5, got
    text = "Two men were shot in Kenosha on Friday night. Memphis police said both would survive."
    assert _km_from(_place(text), "Memphis") < 5


def test_an_unknown_neighbourhood_is_placed_at_the_force_city() -> None:
    text = "A man was wounded in the Larkspur Glen neighborhood on Sunday, the Memphis Police Department said."
    got = _place(text)
    assert got is not None and got.name == "Larkspur Glen" and _km_from(got, "Memphis") < 5, got


def test_with_no_scene_the_force_city_is_the_place_at_its_own_precision() -> None:
    text = "Two men were wounded in a shooting early Sunday, according to the Memphis Police Department."
    got = _place(text)
    assert got is not None and got.name == "Memphis" and got.precision == "town", got


def test_a_county_office_places_a_city_force_of_an_ambiguous_name() -> None:
    doc = _doc("A teen was shot in Springfield, Springfield police said. The Sangamon County coroner identified him.")
    found = event_place(doc, Gazetteer.load())
    assert found is not None and found.place.admin1 == "Illinois", found.place


def test_a_force_does_not_move_a_town_whose_other_state_is_written() -> None:
    text = "A man was shot in Kenosha, Wisconsin, on Friday, Memphis police said of the suspect they arrested."
    got = _place(text)
    assert got is not None and got.name == "Kenosha" and got.admin1 == "Wisconsin", got


def test_a_former_officer_and_a_foreign_police_name_no_jurisdiction() -> None:
    doc = _doc("A former Memphis police officer shot a man in Kenosha, Wisconsin, police said.")
    found = event_place(doc, Gazetteer.load())
    assert found is not None and not any(m.jurisdiction for m in found.mentions), found.mentions
    got = _place("Ghazni police spokesman said gunmen killed four people in Andar district on Monday.")
    assert got is not None and got.name.startswith("Andar"), got


def test_a_country_named_like_a_state_of_the_texts_places_is_that_state() -> None:
    doc = _doc("Fulton County deputies said two men were shot at a gas station, the third this month in Georgia.")
    found = event_place(doc, Gazetteer.load())
    assert found is not None
    georgia = [m for m in found.mentions if m.place.name == "Georgia"]
    assert georgia and all(m.place.country == "US" for m in georgia), georgia


def test_people_named_like_places_are_no_places() -> None:
    # A country as a first name, a surname past "Jr.", a middle initial, a speaker.
    assert "chad" not in _names("A neighbour, Chad Whitcombe, saw the gunman fire at a bus in Denver on Sunday.")
    text = "Prosecutors charged Ada Kenosha Jr. with murder. Police said Kenosha fired at a Denver bus."
    assert "kenosha" not in _names(text)
    assert "moore" not in _names("Photo: Lena T. Moore. A man was shot in Denver on Sunday.")
    assert "kenosha" not in _names('A man was shot in Denver. "He was a good son," said Kenosha.')
    assert _place("A man was shot in E. Kenosha on Sunday.") is not None


def test_a_bare_county_name_is_no_county_where_counties_are_written_as_such() -> None:
    doc = _doc("Fulton was on the phone when the shots were fired in Denver.")
    found = event_place(doc, Gazetteer.load())
    assert found is not None and all(m.match.kind != "admin2" for m in found.mentions), found.mentions
    got = _place("Two men were shot in Fulton County on Sunday.")
    assert got is not None and got.precision == "district", got


def test_a_car_and_a_building_named_like_places_are_no_places() -> None:
    assert "kenosha" not in _names("She was arguing with a woman in a white Kenosha in Denver when she fired.")
    assert "kenosha" not in _names("A man was shot beside a 2009 Kenosha parked in Denver.")
    text = "Police said the girl was shot at the Bolivia Garden Apartments in Denver on Sunday."
    assert "bolivia" not in _names(text)


def test_a_neighbourhood_named_like_a_state_is_not_the_state() -> None:
    text = "Police are investigating a shooting in the Nevada neighborhood on Friday that left two injured."
    got = _place(text)
    assert got is None or got.name != "Nevada", got


def test_a_municipal_police_department_reads_its_city_at_home() -> None:
    text = (
        "Birmingham Police are investigating a shooting in Birmingham that wounded a girl. "
        "Call the Birmingham Police Department with information."
    )
    got = _place(text)
    assert got is not None and got.country == "US", got


def test_a_hamlet_far_from_a_big_city_dateline_is_a_neighbourhood_of_it() -> None:
    text = "MEMPHIS, Tenn. (WXYZ) - Two men were shot at a bar in Dowelltown on Saturday."
    found = event_place(_doc(text), Gazetteer.load())
    assert found is not None and found.place.name == "Dowelltown", found.place
    assert _km_from(found.place, "Memphis") < 5, found.place


def test_a_state_of_several_english_words_is_a_state() -> None:
    found = event_place(_doc("A man was shot at a home in Newark, New Jersey, on Friday night."), Gazetteer.load())
    assert found is not None
    assert {m.place.country for m in found.mentions} == {"US"}, found.mentions
    assert any(m.match.kind == "admin1" and m.place.name == "New Jersey" for m in found.mentions)


def test_a_home_named_like_a_re_read_scene_is_read_the_same() -> None:
    text = "MEMPHIS, Tenn. (WXYZ) - Two men were shot at a bar in Dowelltown on Saturday. Ada Roe, 27, of Dowelltown, died."
    found = event_place(_doc(text), Gazetteer.load())
    assert found is not None
    hood = [m for m in found.mentions if m.match.key == "dowelltown"]
    assert len(hood) == 2 and all(_km_from(m.place, "Memphis") < 5 for m in hood), hood


def test_a_past_event_named_by_year_and_place_keeps_the_place() -> None:
    doc = _doc("He survived the 2016 Denver shooting.")
    assert geoparse._vehicle(doc, 3) is False
    assert geoparse._vehicle(_doc("He drove a 2016 Denver."), 4) is True


def test_a_tip_lines_area_code_names_its_state_and_country() -> None:
    assert geoparse.phone_states("Call Elmwood police at (417) 555-0100 or 417-555-0199.") == {("US", "Missouri")}
    assert geoparse.phone_states("Tips: 615.555.0100") == {("US", "Tennessee")}
    # Toll-free, international and bare seven-digit numbers say nothing.
    assert not geoparse.phone_states("Call 1-800-555-0100, +44 20 7946 0958 or 555-0100.")
    text = "A man was shot in Springfield on Friday night. Anyone with information may call 417-555-0100."
    got = _place(text)
    assert got is not None and got.admin1 == "Missouri", got


def test_a_state_the_text_names_outweighs_a_tip_lines_area_code() -> None:
    text = "A man was shot in Springfield, Illinois, on Friday. Tips go to the newsroom at 417-555-0100."
    got = _place(text)
    assert got is not None and got.admin1 == "Illinois", got


def test_a_merged_city_county_force_names_the_county() -> None:
    doc = _doc("A woman was wounded on Friday, Elmwood-Greene police said. Call 417-555-0100.")
    assert places._merged_force(doc, 9, 10) and not places._merged_force(doc, 7, 8)
    found = event_place(doc, Gazetteer.load())
    assert found is not None and found.place.name == "Greene County", found.place
    assert found.place.admin1 == "Missouri", found.place
    # Without a tip line the county is still a county, not a town named like it, and the
    # force's city lies in it.
    doc = _doc("A woman was wounded on Friday, Elmwood-Greene police said.")
    found = event_place(doc, Gazetteer.load())
    assert found is not None and found.mention.jurisdiction, found.mention
    assert (found.place.admin1, found.place.admin2) == ("Missouri", "Greene County"), found.place
    # Alone, a bare county name stays no county ("Greene said").
    match = Gazetteer.load().lookup("Greene", ("US",))
    assert match is not None
    assert all(s.candidate.kind != "admin2" for s in geoparse.rank(match, geoparse.DocContext()))
    assert any(s.candidate.kind == "admin2" for s in geoparse.rank(match, geoparse.DocContext(), county=True))


def test_a_compass_word_starting_an_unknown_name_makes_another_place() -> None:
    text = "NORTH DOWELLTOWN, Tennessee (WXYZ) - Two men were shot in North Dowelltown on Saturday."
    found = event_place(_doc(text), Gazetteer.load())
    assert found is not None and found.place.name == "Tennessee", found.place
    # A big city's part is the city's.
    got = _place("Two men were shot in East Denver on Sunday.")
    assert got is not None and got.name == "Denver", got


def test_a_country_naming_a_building_is_no_country_the_article_names() -> None:
    doc = _doc("Police said the girl was shot at the Bolivia Garden Apartments in Denver on Sunday.")
    assert "BO" not in places.article_countries(doc, Gazetteer.load())
    assert "BO" in places.article_countries(_doc("Gunmen shot two men in Bolivia on Sunday."), Gazetteer.load())


def test_a_town_written_with_a_state_is_no_namesake_in_another_country() -> None:
    found = event_place(_doc("ELMVALE, Tenn. (WXYZ) - Two men were shot on Tuesday, police said."), Gazetteer.load())
    assert found is None or found.place.country != "CA", found.place
    got = _place("A man was shot in Springfield, Ill., on Friday.")
    assert got is not None and got.admin1 == "Illinois", got
    # A state named like a country proves nothing: "Tbilisi, Georgia" stays in Georgia the country.
    got = _place("TBILISI, Georgia (Reuters) - Two men were shot on Tuesday, police said.")
    assert got is not None and got.country == "GE", got


def test_a_name_quoted_as_a_speaker_is_that_person_wherever_it_recurs() -> None:
    text = "Kenosha said she wanted to leave. Police said Roe had threatened Kenosha with a gun in Denver."
    assert "kenosha" not in _names(text)
    assert "denver" in _names(text)


def test_a_street_word_after_a_streets_name_or_number_is_the_street() -> None:
    doc = _doc("The shop at 2714 SW 34th Ave. was robbed. Police closed Kenosha Ave on Sunday.")
    ave = [t.i for t in doc if t.text == "Ave"]
    assert ave and all(geoparse._street_address(doc, i, i + 1) for i in ave)
    assert not geoparse._street_address(_doc("Fighting was reported in Ave on Sunday."), 4, 5)


def test_a_big_city_at_home_outweighs_a_small_towns_agreement_abroad() -> None:
    text = "A girl was wounded in a shooting in Fresno on Sunday.\n\n1:04 Obama waves goodbye"
    got = _place(text)
    assert got is not None and got.country == "US", got


def test_a_name_at_a_corner_with_a_numbered_street_is_a_street() -> None:
    doc = _doc("The car stopped at 22nd and Kenosha. Another was found at Toledo and 3rd.")
    kenosha = next(t.i for t in doc if t.text == "Kenosha")
    toledo = next(t.i for t in doc if t.text == "Toledo")
    assert geoparse._street_address(doc, kenosha, kenosha + 1)
    assert geoparse._street_address(doc, toledo, toledo + 1)
    assert not geoparse._street_address(_doc("Fighting spread to Kenosha and Racine."), 3, 4)


def test_a_districts_name_in_capitals_before_its_members_is_a_teams_initials() -> None:
    text = "A man was arrested in Amarillo on Friday. At noon SWAT and PACE officers stopped his car."
    assert "swat" not in _names(text)
    doc = _doc(text)
    swat = next(t.i for t in doc if t.text == "SWAT")
    assert geoparse._crew_of(doc, swat + 1)
    assert not geoparse._crew_of(_doc("Fighting spread to SWAT on Friday."), 4)

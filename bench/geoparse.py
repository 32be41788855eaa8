"""Accuracy and speed of the geoparser on labelled folders.

    .venv/bin/python bench/geoparse.py FOLDER [FOLDER ...] [--verbose] [--json]

Each FOLDER is a built evaluation folder, in either form:

  notes.jsonl + gold.jsonl   one text per line (ACLED-style coders' notes), gold rows with
                             ``expect``, ``location`` {lat, lon, country} and ``geo_precision``:
                             every ``expect: incident`` row with coordinates is scored
  articles.jsonl + gold.json articles and gold incidents listing the articles that
                             ``reports`` them (the dev corpus, GVA): every (article, incident)

The resolver is run on every text, whether or not extraction detects an incident in it:
``worker.pipeline.geo.event.event_place`` over the processed document. Prints, per folder,
the share placed within 25 km of the gold point (also split by ACLED's geo precision, 1 =
ACLED coded the exact place), the share in the gold country, the share with no place, the
texts placed outside every US state they name as a setting (``outside_named_state``: a
dateline "ELMIRA, N.Y.", "Calif.", "in Ohio", "state of X"; listed with ``--verbose``;
``..._gold_inside``: those whose gold place lies in a state named), and
the geoparsing speed: places resolved per second and documents per second for the
geoparser alone (spaCy's time excluded), with spaCy's documents per second beside it.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pycountry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.pipeline.extract import load_nlp  # noqa: E402
from worker.pipeline.extract.gazetteer import Gazetteer  # noqa: E402
from worker.pipeline.geo.event import event_place  # noqa: E402

RADIUS_KM = 25.0
ABBREVIATIONS = ROOT / "worker" / "data" / "admin1_abbreviations.csv"
# A state's name that is also a capital city's or a person's is a state only when the text
# says so: after a comma ("Tacoma, Washington"), or as "Washington state" / "state of Washington".
_CITY_STATES = frozenset({"Washington"})
_STREET_WORDS = ("avenue", "ave", "street", "st", "boulevard", "blvd", "road", "rd", "drive", "dr", "place", "way")


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371 * 2 * math.asin(min(1.0, math.sqrt(h)))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@functools.cache
def _state_patterns() -> tuple[dict[str, str], re.Pattern[str], re.Pattern[str]]:
    """US state forms (names, dotted abbreviations, postal codes) -> state name, and the
    patterns that find a state named as a setting: after a place and a comma, or as "in X",
    "state of X", "X state"."""
    forms = {s.name.lower(): s.name for s in pycountry.subdivisions.get(country_code="US") or ()}
    with ABBREVIATIONS.open(encoding="utf-8") as fh:
        for row in csv.DictReader(r for r in fh if not r.startswith("#")):
            if row["country"].strip() != "US":
                continue
            for form in row["forms"].split("|"):
                forms[form.strip().lower()] = row["admin1"].strip()
    alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    states = sorted(set(forms.values()), key=len, reverse=True)
    names = "|".join(re.escape(s) for s in states)
    after_comma = re.compile(rf",\s*({alt})(?=[\s,.;:)\-\u2014\u2013]|$)", re.IGNORECASE)
    # "in Ohio", "southern Ohio", "state of Ohio", "Ohio state"; not a street ("Ohio Avenue",
    # "block of Ohio"), a longer name ("in Kansas City") nor an origin ("moved from Texas", "the Texas Army National Guard").
    setting = re.compile(
        rf"\b(?:(?:in|across|throughout|northern|southern|eastern|western|central|state of)\s+({names})"
        rf"|({names})\s+state)\b(?!\s+(?:{'|'.join(_STREET_WORDS)})\b)(?!\s+(?-i:[A-Z]))",
        re.IGNORECASE,
    )
    return forms, after_comma, setting


def named_us_states(text: str) -> set[str]:
    """The US states ``text`` names as a setting: an abbreviation or name after a place and a
    comma ("ELMIRA, N.Y.", "Eureka, Calif.", "Omaha, Nebraska"; postal codes only in
    capitals), "in X" / "state of X" / "X state" (not a street named after the state).
    Written independently of the geoparser, so the count it feeds does not grade the
    geoparser with its own rules."""
    forms, after_comma, setting = _state_patterns()
    out: set[str] = set()
    for m in after_comma.finditer(text):
        form = m.group(1)
        after = text[m.end() : m.end() + 12].strip().lower()
        if after.split(" ", 1)[0].rstrip(".,") in _STREET_WORDS:
            continue  # "Fifth and Ohio Ave." is a street
        if "." in form or len(form) > 2 or form.isupper():
            out.add(forms[form.lower()])
    for m in setting.finditer(text):
        state = forms[(m.group(1) or m.group(2)).lower()]
        if state not in _CITY_STATES or m.group(2) or "state of" in m.group(0).lower():
            out.add(state)
    return out


def outside_named_states(text: str, place: Any) -> bool:
    """Whether ``place`` lies outside every US state ``text`` names (False when it names none)."""
    states = named_us_states(text)
    if not states or place is None:
        return False
    return (place.country or "").upper() != "US" or place.admin1 not in states


def cases(folder: Path) -> list[tuple[str, str, dict[str, Any], str]]:
    """``(case id, text, gold location, group)`` for every scored text of ``folder``."""
    out = []
    if (folder / "notes.jsonl").exists():
        texts = {n["id"]: n["text"] for n in _jsonl(folder / "notes.jsonl")}
        for g in _jsonl(folder / "gold.jsonl"):
            loc = g.get("location") or {}
            if g.get("expect") != "incident" or loc.get("lat") is None or g["id"] not in texts:
                continue
            group = "geo_precision_1" if g.get("geo_precision") == 1 else "geo_precision_2_3"
            out.append((g["id"], texts[g["id"]], loc, group))
        return out
    articles = {a["id"]: a for a in _jsonl(folder / "articles.jsonl")}
    gold = json.loads((folder / "gold.json").read_text(encoding="utf-8"))
    for inc in gold["incidents"]:
        loc = inc.get("location") or {}
        if loc.get("lat") is None:
            continue
        for aid in inc.get("reports", []):
            if aid in articles:
                out.append((f"{aid}:{inc['gid']}", articles[aid]["text"], loc, "reports"))
    return out


def run(folder: Path, verbose: bool = False) -> dict[str, Any]:
    nlp = load_nlp()
    gazetteer = Gazetteer.load()
    items = cases(folder)
    started = time.perf_counter()
    docs = list(nlp.pipe((text for _, text, _, _ in items), batch_size=32))
    spacy_s = time.perf_counter() - started
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    mentions = 0
    geo_s = 0.0
    for (cid, _, gold, group), doc in zip(items, docs, strict=True):
        t0 = time.perf_counter()
        found = event_place(doc, gazetteer)
        geo_s += time.perf_counter() - t0
        mentions += len(found.mentions) if found else 0
        place = found.place if found else None
        near = (
            place is not None
            and place.lat is not None
            and place.lon is not None
            and _km(place.lat, place.lon, gold["lat"], gold["lon"]) <= RADIUS_KM
        )
        same_country = place is not None and (place.country or "").upper() == str(gold.get("country", "")).upper()
        for key in ("all", group):
            totals[key] += 1
            hits[f"{key}:25km"] += near
        totals["country"] += 1
        hits["country"] += same_country
        hits["none"] += place is None
        got = f"{place.name} ({place.country}, {place.admin1}, {place.precision})" if place else "nothing"
        text = doc.text
        outside = outside_named_states(text, place)
        hits["outside_state"] += outside
        # Of those, the ones whose gold place lies in a state the text names: plain errors.
        hits["outside_state_gold_in"] += outside and gold.get("admin1") in named_us_states(text)
        if verbose and not near:
            print(f"  MISS {cid}: gold {gold.get('name')} ({gold.get('country')}) -> {got}")
        if verbose and outside:
            print(f"  OUTSIDE {cid}: names {sorted(named_us_states(text))}, gold {gold.get('admin1')} -> {got}")
    n = max(totals["all"], 1)
    result: dict[str, Any] = {
        "folder": str(folder),
        "texts": totals["all"],
        "within_25km": round(hits["all:25km"] / n, 3),
        "country": round(hits["country"] / n, 3),
        "no_place": round(hits["none"] / n, 3),
        "outside_named_state": hits["outside_state"],
        "outside_named_state_gold_inside": hits["outside_state_gold_in"],
        "places_per_second": round(mentions / geo_s, 1) if geo_s else None,
        "geoparse_docs_per_second": round(len(items) / geo_s, 1) if geo_s else None,
        "spacy_docs_per_second": round(len(items) / spacy_s, 1) if spacy_s else None,
    }
    for group in ("geo_precision_1", "geo_precision_2_3"):
        if totals[group]:
            result[f"within_25km_{group}"] = round(hits[f"{group}:25km"] / totals[group], 3)
            result[f"n_{group}"] = totals[group]
    return result


def export_outside(folder: Path, export: Path, verbose: bool = False) -> dict[str, Any]:
    """End to end: the exported incidents (``EVAL_EXPORT`` of ``shared/eval/run`` over
    ``folder``) placed outside every US state their reports name as a setting."""
    texts = {a["id"]: a["text"] for a in _jsonl(folder / "articles.jsonl")}
    data = json.loads(export.read_text(encoding="utf-8"))
    incidents = data.get("incidents", data) if isinstance(data, dict) else data
    outside = 0
    for inc in incidents:
        loc = inc.get("location") or {}
        ids = [r["url"].rsplit("/", 1)[-1].removesuffix(".html") for r in inc.get("reports", [])]
        states = set().union(*(named_us_states(texts.get(i, "")) for i in ids))
        if states and (loc.get("country") != "US" or loc.get("admin1") not in states):
            outside += 1
            if verbose:
                print(
                    f"  OUTSIDE incident {inc['id'][:8]} {ids}: names {sorted(states)} -> {loc.get('name')} ({loc.get('country')}, {loc.get('admin1')})"
                )
    return {"export": str(export), "incidents": len(incidents), "outside_named_state": outside}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--verbose", action="store_true", help="print every text placed more than 25 km off")
    ap.add_argument("--json", action="store_true", help="one JSON line per folder")
    ap.add_argument(
        "--export",
        type=Path,
        help="an end-to-end export of the (single) FOLDER: count its incidents placed outside the states named",
    )
    args = ap.parse_args()
    if args.export:
        print(json.dumps(export_outside(args.folders[0], args.export, args.verbose)))
        return
    for folder in args.folders:
        result = run(folder, args.verbose)
        if args.json:
            print(json.dumps(result))
            continue
        print(f"{folder}  ({result['texts']} texts)")
        for key, value in result.items():
            if key not in {"folder", "texts"}:
                print(f"  {key:32} {value}")


if __name__ == "__main__":
    main()

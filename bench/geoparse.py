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
ACLED coded the exact place), the share in the gold country, the share with no place, and
the geoparsing speed: places resolved per second and documents per second for the
geoparser alone (spaCy's time excluded), with spaCy's documents per second beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.pipeline.extract import load_nlp  # noqa: E402
from worker.pipeline.extract.gazetteer import Gazetteer  # noqa: E402
from worker.pipeline.geo.event import event_place  # noqa: E402

RADIUS_KM = 25.0


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371 * 2 * math.asin(min(1.0, math.sqrt(h)))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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
        if verbose and not near:
            got = f"{place.name} ({place.country}, {place.admin1}, {place.precision})" if place else "nothing"
            print(f"  MISS {cid}: gold {gold.get('name')} ({gold.get('country')}) -> {got}")
    n = max(totals["all"], 1)
    result: dict[str, Any] = {
        "folder": str(folder),
        "texts": totals["all"],
        "within_25km": round(hits["all:25km"] / n, 3),
        "country": round(hits["country"] / n, 3),
        "no_place": round(hits["none"] / n, 3),
        "places_per_second": round(mentions / geo_s, 1) if geo_s else None,
        "geoparse_docs_per_second": round(len(items) / geo_s, 1) if geo_s else None,
        "spacy_docs_per_second": round(len(items) / spacy_s, 1) if spacy_s else None,
    }
    for group in ("geo_precision_1", "geo_precision_2_3"):
        if totals[group]:
            result[f"within_25km_{group}"] = round(hits[f"{group}:25km"] / totals[group], 3)
            result[f"n_{group}"] = totals[group]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--verbose", action="store_true", help="print every text placed more than 25 km off")
    ap.add_argument("--json", action="store_true", help="one JSON line per folder")
    args = ap.parse_args()
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

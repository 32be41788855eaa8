"""Score ``extract_many`` per article against the labelled dev corpus.

    .venv/bin/python bench/score_extract.py [--verbose] [--json] [CORPUS_DIR]

CORPUS_DIR defaults to ``../shared/eval/dev`` next to the repository root (articles.jsonl,
gold.json). Per article, each extracted incident is matched to a gold incident the article
reports (or, as a neutral match, one it only mentions): same gold incident only, the nearest
in place and time within 50 km and 2 days where both are known. Figures:

  incident recall     gold report links (article, incident) found
  precision           extracted incidents matching a gold incident of their article
                      (reports or mentions); extra incidents, e.g. from no-incident
                      articles, count against it
  fields              on matched report pairs: date exact or within date_tolerance_days,
                      location within 25 km, killed.best within [killed_low, killed_high],
                      event_type exact, perpetrator containment ("unknown" == null)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.pipeline.extract import extract_many, load_nlp  # noqa: E402
from worker.pipeline.extract.gazetteer import Gazetteer  # noqa: E402
from worker.records import Article, Incident  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "dev"
FIELDS = ("date", "location", "killed", "event_type", "perpetrator")


@dataclass
class Result:
    recall: float
    precision: float
    fields: dict[str, float]
    found: int
    links: int
    extracted: int
    good: int
    misses: list[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident_recall": round(self.recall, 3),
            "incident_precision": round(self.precision, 3),
            "field_accuracy": {k: round(v, 3) for k, v in self.fields.items()},
            "report_links_found": self.found,
            "report_links": self.links,
            "extracted": self.extracted,
            "extracted_matching": self.good,
            "seconds": round(self.seconds, 2),
        }


def load_corpus(corpus: Path) -> tuple[list[Article], dict[str, Any]]:
    """Articles and gold of a corpus directory; exits with a message when it is missing."""
    arts, gold_path = corpus / "articles.jsonl", corpus / "gold.json"
    if not arts.exists() or not gold_path.exists():
        sys.exit(f"score_extract: no corpus at {corpus} (expected articles.jsonl and gold.json; is ../shared present?)")
    articles = []
    for line in arts.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        articles.append(
            Article(
                url=f"urn:{row['id']}",
                canonical_url=f"urn:{row['id']}",
                title=row.get("title", ""),
                text=row["text"],
                published_at=datetime.fromisoformat(row["published_at"]) if row.get("published_at") else None,
                source=row.get("source"),
            )
        )
    return articles, json.loads(gold_path.read_text(encoding="utf-8"))


def _km(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    try:
        assert a is not None and b is not None
        la1, lo1, la2, lo2 = (math.radians(float(x)) for x in (a["lat"], a["lon"], b["lat"], b["lon"]))
    except (TypeError, KeyError, ValueError, AssertionError):
        return None
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371 * 2 * math.asin(min(1.0, math.sqrt(h)))


def _norm(x: object) -> str:
    return re.sub(r"[^a-z]+", " ", str(x or "unknown").lower()).strip()


def _loc(inc: Incident) -> dict[str, Any] | None:
    if inc.location is None or inc.location.lat is None:
        return None
    return {"lat": inc.location.lat, "lon": inc.location.lon}


def _plausible(inc: Incident, g: dict[str, Any]) -> tuple[bool, float]:
    d = _km(_loc(inc), g["location"])
    if d is not None and d > 50:
        return False, d
    if inc.date and abs((inc.date - date.fromisoformat(g["date"])).days) > 2:
        return False, d or 0.0
    days = abs((inc.date - date.fromisoformat(g["date"])).days) if inc.date else 3
    return True, (d if d is not None else 1000.0) + days * 10


def field_checks(inc: Incident, g: dict[str, Any]) -> dict[str, bool]:
    km = _km(_loc(inc), g["location"])
    k = (
        inc.killed.best
        if inc.killed.best is not None
        else (inc.killed.high if inc.killed.high is not None else inc.killed.low)
    )
    a, b = _norm(inc.perpetrator), _norm(g.get("perpetrator"))
    return {
        "date": inc.date is not None
        and abs((inc.date - date.fromisoformat(g["date"])).days) <= int(g.get("date_tolerance_days", 0)),
        "location": km is not None and km <= 25,
        "killed": k is not None and g["killed_low"] <= k <= g["killed_high"],
        "event_type": _norm(inc.event_type) == _norm(g["event_type"]),
        "perpetrator": bool(a and b and (a in b or b in a)),
    }


def score(articles: list[Article], results: list[list[Incident]], gold: dict[str, Any], seconds: float) -> Result:
    golds = {g["gid"]: g for g in gold["incidents"]}
    reports: dict[str, set[str]] = {}
    mentions: dict[str, set[str]] = {}
    for g in gold["incidents"]:
        for aid in g["reports"]:
            reports.setdefault(aid, set()).add(g["gid"])
        for aid in g.get("mentions", []):
            mentions.setdefault(aid, set()).add(g["gid"])
    links = sum(len(v) for v in reports.values())
    found = extracted = good = 0
    tallies = {f: [0, 0] for f in FIELDS}
    misses: list[str] = []
    for art, incs in zip(articles, results, strict=True):
        aid = art.url.removeprefix("urn:")
        rep, men = reports.get(aid, set()), mentions.get(aid, set())
        extracted += len(incs)
        matched: dict[str, Incident] = {}
        for inc in incs:
            options = []
            for gid in sorted(rep | men):
                ok, dist = _plausible(inc, golds[gid])
                if ok:
                    options.append((gid in rep and gid not in matched, -dist, gid))
            if not options:
                misses.append(f"{aid} EXTRA {_brief(inc)}")
                continue
            _, _, gid = max(options)
            good += 1
            if gid in rep and gid not in matched:
                matched[gid] = inc
        for gid in sorted(rep):
            if gid not in matched:
                misses.append(
                    f"{aid} MISSED {gid} {golds[gid]['title']} ({golds[gid]['date']}, killed {golds[gid]['killed_low']}-{golds[gid]['killed_high']})"
                )
                continue
            found += 1
            checks = field_checks(matched[gid], golds[gid])
            for f, ok in checks.items():
                tallies[f][0] += ok
                tallies[f][1] += 1
                if not ok:
                    g = golds[gid]
                    want = {
                        "date": g["date"],
                        "location": f"{g['location']['name']} ({g['location']['lat']},{g['location']['lon']})",
                        "killed": f"{g['killed_low']}-{g['killed_high']}",
                        "event_type": g["event_type"],
                        "perpetrator": g.get("perpetrator"),
                    }[f]
                    misses.append(f"{aid} {gid} {f}: got {_field(matched[gid], f)!r} want {want!r}")
    return Result(
        recall=found / links if links else 0.0,
        precision=good / extracted if extracted else 0.0,
        fields={f: (a / n if n else 0.0) for f, (a, n) in tallies.items()},
        found=found,
        links=links,
        extracted=extracted,
        good=good,
        misses=misses,
        seconds=seconds,
    )


def _field(inc: Incident, f: str) -> object:
    if f == "location":
        loc = inc.location
        return f"{loc.name} ({loc.lat},{loc.lon}) {loc.precision}" if loc else None
    if f == "killed":
        return (inc.killed.low, inc.killed.best, inc.killed.high)
    if f == "perpetrator":
        return f"{inc.perpetrator} [{inc.perpetrator_certainty}]"
    if f == "date":
        return f"{inc.date} [{inc.date_precision}]"
    return getattr(inc, f)


def _brief(inc: Incident) -> str:
    loc = inc.location.name if inc.location else None
    return f"{inc.event_type} {inc.date} {loc} killed={inc.killed.best} by={inc.perpetrator}"


def run(corpus: Path = DEFAULT_CORPUS) -> Result:
    """Extract over the corpus and score it (used by the quality test)."""
    articles, gold = load_corpus(corpus)
    nlp = load_nlp()
    gazetteer = Gazetteer.load()  # built or opened outside the timing
    started = time.perf_counter()
    results = extract_many(nlp, articles, gazetteer=gazetteer)
    return score(articles, results, gold, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", "-v", action="store_true", help="list misses per article")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args.corpus)
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    if args.verbose:
        for line in result.misses:
            print(line)
        print()
    print(f"{'incident recall':20} {result.recall:.3f}  ({result.found}/{result.links} report links)")
    print(f"{'incident precision':20} {result.precision:.3f}  ({result.good}/{result.extracted} extracted)")
    for f in FIELDS:
        print(f"{f:20} {result.fields[f]:.3f}")
    print(f"{'seconds':20} {result.seconds:.2f}")


if __name__ == "__main__":
    main()

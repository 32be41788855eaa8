"""Gazetteer benchmark: build/load time, RSS, lookup speed, and dev-corpus place coverage.

    .venv/bin/python bench/gazetteer_coverage.py [--cache-dir DIR] [--rebuild]

Coverage: the share of gold incident place names (``incidents[].location.name`` of
``../shared/eval/dev/gold.json``, bracketed site detail stripped) that ``lookup`` resolves
within 25 km of the gold coordinates, with and without the gold country as context.
Speed: ``find_in_tokens`` over every article of the corpus, per article and per n-gram probe.
Skips (exit 0, with a message) when the shared corpus is absent.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs installed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.pipeline.extract import gazetteer as gz

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev"
TOKEN = re.compile(r"\w+|[^\w\s]")


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--rebuild", action="store_true", help="build into a fresh temp dir")
    args = ap.parse_args()
    if not (DEV / "gold.json").exists():
        print(f"skipped: no dev corpus at {DEV}")
        return 0

    tmp = Path(tempfile.mkdtemp()) if args.rebuild else None
    cache_dir = tmp or args.cache_dir or gz.default_cache_dir()
    try:
        started = time.perf_counter()
        path = gz.index_path(cache_dir)
        built = not path.exists()
        gz.ensure_index(cache_dir)
        if built:
            print(f"index build: {time.perf_counter() - started:.1f} s -> {path}")
        started = time.perf_counter()
        g = gz.Gazetteer(path)
        print(f"load: {time.perf_counter() - started:.3f} s, size {path.stat().st_size / 2**20:.0f} MiB")
        print(f"RSS after load: {psutil.Process().memory_info().rss / 2**20:.0f} MiB")

        gold = json.loads((DEV / "gold.json").read_text(encoding="utf-8"))
        hits = hits_ctx = 0
        incidents = gold["incidents"]
        for inc in incidents:
            loc = inc["location"]
            name = re.sub(r"\s*\(.*?\)", "", loc["name"]).strip()
            ok: list[bool] = []
            shown: list[str] = []
            for ctx in ((), (loc["country"],)):
                m = g.lookup(name, ctx)
                if m is None or m.place.lat is None or m.place.lon is None:
                    ok.append(False)
                    shown.append("-")
                    continue
                d = km(m.place.lat, m.place.lon, loc["lat"], loc["lon"])
                ok.append(d <= 25)
                shown.append(f"{m.place.name}/{m.place.country} {d:.0f} km")
            hits += ok[0]
            hits_ctx += ok[1]
            flags = ["ok" if x else "MISS" for x in ok]
            print(f"  {name[:40]:40} {flags[0]:4} {shown[0]:32} ctx: {flags[1]:4} {shown[1]}")
        n = len(incidents)
        print(
            f"coverage within 25 km: {hits}/{n} = {hits / n:.0%} (no context), "
            f"{hits_ctx}/{n} = {hits_ctx / n:.0%} (gold country as context)"
        )

        articles = [json.loads(ln) for ln in (DEV / "articles.jsonl").read_text(encoding="utf-8").splitlines() if ln]
        docs = [TOKEN.findall(a["title"] + "\n" + a["text"]) for a in articles]
        g.find_in_tokens(docs[0])  # warm the statement cache
        g._candidates.cache_clear()
        started = time.perf_counter()
        found = sum(len(g.find_in_tokens(words)) for words in docs)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        for words in docs:
            g.find_in_tokens(words)
        warm = time.perf_counter() - started
        tokens = sum(len(d) for d in docs)
        print(
            f"find_in_tokens: {len(docs)} articles, {tokens} tokens, {found} matches; "
            f"{cold / len(docs) * 1e3:.2f} ms/article cold, {warm / len(docs) * 1e3:.2f} ms/article warm "
            f"({warm / tokens * 1e6:.1f} us/token, up to {gz.MAX_SPAN_TOKENS} probes each)"
        )
        names = ["Kabul", "deir al zor", "Hodeida", "Mayadeen", "sana a", "police", "xyzzy"] * 200
        g._candidates.cache_clear()
        started = time.perf_counter()
        for name in names:
            g.lookup(name)
        print(f"lookup: {(time.perf_counter() - started) / len(names) * 1e6:.1f} us per call (mixed hits/misses)")
        started = time.perf_counter()
        for words in docs:
            g.country_mentions(words)
        print(f"country_mentions: {(time.perf_counter() - started) / len(docs) * 1e3:.2f} ms/article")
        print(f"RSS at end: {psutil.Process().memory_info().rss / 2**20:.0f} MiB")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The web window's queries as the incident table grows: 10,000 then 1,000,000 incidents.

    python bench/web.py [--quick] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--samples 60]

Creates two scratch PostgreSQL databases and fills them with synthetic incidents, each with its
article and report (bulk INSERT ... SELECT generate_series: 60 countries, 20 years, five event
types, tolls 0-49), then times the queries behind each page, the two sizes interleaved in
rounds so that anything else the machine does weighs on both alike:

    list        first page of the incidents list, with its reports (what /incidents.json reads)
    list+filter the same, filtered by country and minimum toll
    list deep   a page in the middle of the table (keyset cursor)
    map         the map's markers (web.map_limit = 5,000 newest of the view)
    map+filter  the markers of one country in a date window sized to hold about 100 incidents
                at either size (so both sizes return as many rows)
    incident    one incident's page (fields, reports, history, corrections, merged-here)
    atom        the Atom feed's newest changes
    text        free-text filter matching one incident at either size (a report title; through
                the trigram indexes of migration 0002)

Prints each median at both sizes and the ratio (target: at most 1.5x for the indexed queries),
then one JSON line. --quick: 1,000 / 100,000.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from worker.store import browse, export
from worker.store.db import get_engine, upgrade

COUNTRIES = 60
DAYS = 20 * 365
TYPES = (
    "Air/drone strike",
    "Shelling/artillery/missile attack",
    "Remote explosive/landmine/IED",
    "Armed clash",
    "Attack",
)


def country_code(i: int) -> str:
    return chr(65 + i // 26) + chr(65 + i % 26)


def fill(engine: sa.Engine, target: int) -> None:
    """`target` synthetic incidents, each with one article and one report, in three statements."""
    types = "ARRAY[" + ", ".join(f"'{t}'" for t in TYPES) + "]"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"""
            CREATE TEMP TABLE synth AS
            SELECT g, md5(g::text || 'x') AS iid,
                   DATE '2005-01-01' + CAST(g * 7919 % :days AS integer) AS day,
                   chr(CAST(65 + (g % :countries) / 26 AS integer))
                     || chr(CAST(65 + (g % :countries) % 26 AS integer)) AS cc,
                   10 + (g * 13 % 4000) / 100.0 AS lat, 20 + (g * 17 % 4000) / 100.0 AS lon,
                   CAST(g % 50 AS integer) AS killed, 'Actor ' || (g % 7) AS actor,
                   ({types})[1 + CAST(g % {len(TYPES)} AS integer)] AS kind,
                   now() - make_interval(secs => g) AS changed
            FROM generate_series(1, CAST(:n AS bigint)) AS g
        """),
            {"n": target, "days": DAYS, "countries": COUNTRIES},
        )
        conn.execute(
            sa.text("""
            INSERT INTO incidents (id, event_type, date, date_precision, country, lat, lon, location_name,
                                   location_precision, perpetrator, victims, killed_low, killed_best, killed_high,
                                   num_reports, num_independent_sources, locked, created_at, updated_at,
                                   first_reported_at, last_reported_at)
            SELECT iid, kind, day, 'day', cc, lat, lon, 'Town ' || g, 'town', actor, 'civilians',
                   killed, killed, killed, 1, 1, false, changed, changed, changed, changed FROM synth
        """)
        )
        conn.execute(
            sa.text("""
            INSERT INTO articles (url, canonical_url, title, text, content_hash, status, fetched_at, published_at, source,
                                  nlp_attempts)
            SELECT 'https://synth.example/' || g, 'https://synth.example/' || g,
                   'Strike on Town ' || g || ' kills ' || killed, 'synthetic text of article ' || g,
                   md5(g::text), 'extracted', changed, changed, 'Outlet ' || (g % 40), 0 FROM synth
        """)
        )
        conn.execute(
            sa.text("""
            INSERT INTO reports (article_id, ordinal, data, event_type, date, country, lat, lon, killed_best,
                                 incident_id, link_reasons, link_score)
            SELECT a.id, 0, json_build_object(
                       'event_type', kind, 'date', day::text, 'date_precision', 'day',
                       'location', json_build_object('name', 'Town ' || g, 'country', cc, 'lat', lat, 'lon', lon,
                                                     'admin1', null, 'precision', 'town'),
                       'perpetrator', actor, 'perpetrator_certainty', 'stated', 'victims', 'civilians',
                       'killed', json_build_object('low', killed, 'best', killed, 'high', killed),
                       'injured', json_build_object('low', null, 'best', null, 'high', null),
                       'evidence', json_build_array(json_build_object(
                           'field', 'killed', 'text', 'the strike on Town ' || g || ' killed ' || killed,
                           'start', 0, 'end', 10))),
                   kind, day, cc, lat, lon, killed, iid, '{"new": true}'::json, null
            FROM synth JOIN articles a ON a.url = 'https://synth.example/' || synth.g
        """)
        )
        conn.execute(
            sa.text("""
            INSERT INTO incident_history (incident_id, at, report_id, action, changes)
            SELECT r.incident_id, now(), r.id, 'created', '{}'::json FROM reports r
        """)
        )
        conn.execute(sa.text("DROP TABLE synth"))
        conn.execute(sa.text("ANALYZE"))


def queries(engine: sa.Engine, size: int, rng: random.Random) -> dict[str, Callable[[], object]]:
    """The page queries against one database (ids and cursors drawn from it)."""
    with engine.connect() as c:
        mid = c.execute(
            sa.text("SELECT date, id FROM incidents ORDER BY date DESC, id DESC OFFSET :o LIMIT 1"), {"o": size // 2}
        ).one()
    cursor = browse.Cursor(mid[0], mid[1])
    ids = [hashlib.md5(f"{rng.randrange(1, size + 1)}x".encode()).hexdigest() for _ in range(500)]
    pick = iter(ids * 100)
    none = browse.IncidentFilter()
    some = browse.IncidentFilter(country=country_code(7), min_killed=30)
    # About 100 incidents of one country at either size: the window narrows as the table grows.
    window = max(1, round(100 * COUNTRIES * DAYS / size))
    end = date(2024, 12, 31)
    recent = browse.IncidentFilter(country=country_code(11), date_from=end - timedelta(days=window), date_to=end)
    text = browse.IncidentFilter(text="Town 7777 kills")  # one article title at either size

    def run(fn: Callable[[Session], object]) -> Callable[[], object]:
        def call() -> object:
            with Session(engine) as s:
                return fn(s)

        return call

    def page(f: browse.IncidentFilter, after: browse.Cursor | None = None) -> Callable[[Session], object]:
        return lambda s: export.items_for(s, browse.list_incidents(s, f, limit=50, after=after)[0])

    return {
        "list": run(page(none)),
        "list+filter": run(page(some)),
        "list deep": run(page(none, cursor)),
        "map": run(lambda s: browse.map_points(s, none, limit=5000)),
        "map+filter": run(lambda s: browse.map_points(s, recent, limit=5000)),
        "incident": run(lambda s: browse.incident_page(s, next(pick))),
        "atom": run(lambda s: export.items_for(s, browse.changed_incidents(s, none, limit=50))),
        "text": run(page(text)),
    }


def _rows(result: object) -> int:
    """How many incidents (or markers) a query returned."""
    return len(result) if isinstance(result, list) else 1 if result is not None else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--samples", type=int, default=60)
    args = ap.parse_args()
    sizes = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    names = {size: f"wirewatch_bench_web_{uuid.uuid4().hex[:8]}" for size in sizes}
    try:
        qs = {}
        for size, name in names.items():
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = args.pg.rsplit("/", 1)[0] + "/" + name
            upgrade(url)
            engine = get_engine(url)
            t = time.perf_counter()
            fill(engine, size)
            print(f"{size:>9,} incidents (with reports, articles, history) filled in {time.perf_counter() - t:.1f} s")
            qs[size] = queries(engine, size, random.Random(7))
        names_q = list(qs[sizes[0]])
        for size in sizes:  # warm caches
            for q in names_q:
                for _ in range(3):
                    qs[size][q]()
        samples: dict[tuple[str, int], list[float]] = {(q, size): [] for q in names_q for size in sizes}
        step = 5
        for _ in range(0, args.samples, step):
            for q in names_q:
                for size in sizes:
                    for _ in range(step):
                        t = time.perf_counter()
                        qs[size][q]()
                        samples[(q, size)].append(time.perf_counter() - t)
        small, large = sizes
        out = {"small": small, "large": large}
        rows = {(q, size): _rows(qs[size][q]()) for q in names_q for size in sizes}
        print(f"{'query':<12} {small:>10,} {large:>12,}   ratio   rows   (medians of {args.samples}, ms)")
        for q in names_q:
            a, b = (statistics.median(samples[(q, size)]) * 1000 for size in sizes)
            print(f"{q:<12} {a:>10.2f} {b:>12.2f}   {b / a:5.2f}x  {rows[(q, small)]} / {rows[(q, large)]}")
            out[q] = {"small_ms": round(a, 3), "large_ms": round(b, 3), "ratio": round(b / a, 3)}
        print(json.dumps(out))
    finally:
        get_engine.cache_clear()
        with admin.connect() as c:
            for name in names.values():
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

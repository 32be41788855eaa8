"""Time to link one new report as the incident table grows: 10,000 then 1,000,000 incidents.

    python bench/dedupe.py [--quick] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates two scratch PostgreSQL databases and fills them with synthetic incidents (each with
its article, its report and five event names in the name index) spread over 60 countries and 20 years (bulk INSERT ... SELECT
generate_series, the same shape the linker reads), then times `link_report` for new reports
against each, the two sizes interleaved in rounds of ten (each link rolled back, so every
sample sees the same table). Prints the two medians and their ratio (target: at most 1.5x),
then one JSON line. --quick: 1,000 / 100,000.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from worker.pipeline.dedupe import Policy
from worker.records import Count, Evidence, Incident, Place
from worker.store import linking
from worker.store.db import get_engine, upgrade
from worker.store.models import Article, Report

COUNTRIES = 60
START = date(2005, 1, 1)
DAYS = 20 * 365


NAMES_PER_REPORT = 5  # event names per synthetic report (people, streets, sites)
VOCABULARY = 26**3  # distinct synthetic names


# name(x) in SQL, for x = (g * 7 + k * 1009) % VOCABULARY (report g, its k-th name)
_X = "CAST((g * 7 + k * 1009) % :vocab AS integer)"
NAME_SQL = f"chr(65 + {_X} % 26) || chr(97 + {_X} / 26 % 26) || chr(97 + {_X} / 676 % 26) || 'ov'"


def name(x: int) -> str:
    """The synthetic name number `x` (the same spelling the SQL fill builds)."""
    x %= VOCABULARY
    return chr(65 + x % 26) + chr(97 + x // 26 % 26) + chr(97 + x // 676 % 26) + "ov"


def country_code(i: int) -> str:
    return chr(65 + i // 26) + chr(65 + i % 26)


def fill(engine: sa.Engine, target: int) -> None:
    """Grow the database to `target` synthetic incidents, each with one article and one report
    (the linker scores a new report against the reports of the incidents in its block)."""
    with engine.begin() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one()
        if have >= target:
            return
        params = {"lo": have + 1, "hi": target, "days": DAYS, "countries": COUNTRIES}
        conn.execute(
            sa.text("""
            CREATE TEMP TABLE synth AS
            SELECT g, md5(g::text || 'x') AS iid,
                   DATE '2005-01-01' + CAST(g * 7919 % :days AS integer) AS day,
                   chr(CAST(65 + (g % :countries) / 26 AS integer))
                     || chr(CAST(65 + (g % :countries) % 26 AS integer)) AS cc,
                   10 + (g * 13 % 4000) / 100.0 AS lat, 20 + (g * 17 % 4000) / 100.0 AS lon,
                   CAST(g % 50 AS integer) AS killed, 'Actor ' || (g % 7) AS actor
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        """),
            params,
        )
        conn.execute(
            sa.text("""
            INSERT INTO incidents (id, event_type, date, date_precision, country, lat, lon, location_name,
                                   location_precision, perpetrator, killed_low, killed_best, killed_high,
                                   num_reports, num_independent_sources, locked, created_at, updated_at)
            SELECT iid, 'Air/drone strike', day, 'day', cc, lat, lon, 'Town ' || g, 'town', actor,
                   killed, killed, killed, 1, 1, false, now(), now() FROM synth
        """)
        )
        conn.execute(
            sa.text("""
            INSERT INTO articles (url, canonical_url, title, text, content_hash, status, fetched_at, nlp_attempts)
            SELECT 'https://synth.example/' || g, 'https://synth.example/' || g, 'synthetic', 'synthetic',
                   md5(g::text), 'extracted', now(), 0 FROM synth
        """)
        )
        conn.execute(
            sa.text(f"""
            INSERT INTO reports (article_id, ordinal, data, event_type, date, country, lat, lon, killed_best,
                                 incident_id, link_reasons, names)
            SELECT a.id, 0, json_build_object(
                       'event_type', 'Air/drone strike', 'date', day::text, 'date_precision', 'day',
                       'location', json_build_object('name', 'Town ' || g, 'country', cc, 'lat', lat, 'lon', lon,
                                                     'admin1', null, 'precision', 'town'),
                       'perpetrator', actor, 'perpetrator_certainty', 'stated', 'victims', 'civilians',
                       'killed', json_build_object('low', killed, 'best', killed, 'high', killed),
                       'injured', json_build_object('low', null, 'best', null, 'high', null),
                       'evidence', json_build_array(json_build_object(
                           'field', 'event_type', 'text', 'jets struck the town of Town ' || g, 'start', 0, 'end', 10))),
                   'Air/drone strike', day, cc, lat, lon, killed, iid, '{{}}'::json,
                   (SELECT json_agg(lower({NAME_SQL})) FROM generate_series(0, :per - 1) AS k)
            FROM synth JOIN articles a ON a.url = 'https://synth.example/' || synth.g
        """),
            {"per": NAMES_PER_REPORT, "vocab": VOCABULARY},
        )
        # Each report's event names, indexed as the linker's name block reads them.
        conn.execute(
            sa.text(f"""
            INSERT INTO report_keys (key, report_id, day)
            SELECT lower({NAME_SQL}), r.id, r.date
            FROM reports r JOIN synth ON r.incident_id = synth.iid CROSS JOIN generate_series(0, :per - 1) AS k
        """),
            {"per": NAMES_PER_REPORT, "vocab": VOCABULARY},
        )
        conn.execute(sa.text("DROP TABLE synth"))
        conn.execute(sa.text("ANALYZE"))


def new_reports(engine: sa.Engine, n: int, rng: random.Random) -> list[int]:
    ids = []
    with Session(engine) as s:
        for i in range(n):
            art = Article(
                url=f"https://bench.example/{uuid.uuid4().hex}",
                canonical_url=f"https://bench.example/c{uuid.uuid4().hex}",
                title="bench",
                text="Witnesses in the town said " + " and ".join(name(rng.randrange(VOCABULARY)) for _ in range(5)),
                content_hash=uuid.uuid4().hex,
                published_at=datetime.now(UTC),
            )
            s.add(art)
            s.flush()
            day = START + timedelta(days=rng.randrange(DAYS))
            inc = Incident(
                event_type="Air/drone strike",
                date=day,
                date_precision="day",
                location=Place(
                    f"Town {i}", country_code(rng.randrange(COUNTRIES)), 10 + rng.random() * 40, 20 + rng.random() * 40
                ),
                perpetrator="Actor 1",
                killed=Count(5, 5, 5),
                evidence=(Evidence("event_type", "jets struck the town", 0, 20),),
            )
            rep = Report(
                article_id=art.id or 0,
                ordinal=0,
                data=inc.to_dict(),
                event_type=inc.event_type,
                date=inc.date,
                country=inc.location.country if inc.location else None,
            )
            s.add(rep)
            s.flush()
            ids.append(rep.id or 0)
        s.commit()
    return ids


def time_links(engine: sa.Engine, report_ids: list[int], policy: Policy) -> list[float]:
    """Seconds to link each report; each link is rolled back, so every sample sees the same table."""
    samples = []
    for rid in report_ids:
        with Session(engine) as s:
            t = time.perf_counter()
            linking.link_report(s, rid, policy)
            samples.append(time.perf_counter() - t)
            s.rollback()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--samples", type=int, default=300)
    args = ap.parse_args()
    sizes = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    names = {size: f"wirewatch_bench_{uuid.uuid4().hex[:8]}" for size in sizes}
    try:
        engines, reports = {}, {}
        for size, name in names.items():
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = args.pg.rsplit("/", 1)[0] + "/" + name
            upgrade(url)
            engines[size] = get_engine(url)
            t = time.perf_counter()
            fill(engines[size], size)
            print(f"{size:>9,} incidents (with their reports) filled in {time.perf_counter() - t:.1f} s")
            reports[size] = new_reports(engines[size], args.samples, random.Random(7))
        policy = Policy()
        for size in sizes:
            time_links(engines[size], reports[size][:20], policy)  # warm caches
        # Interleave the two sizes in small rounds so that anything else the machine does
        # weighs on both measurements alike.
        samples: dict[int, list[float]] = {size: [] for size in sizes}
        step = 10
        for i in range(0, args.samples, step):
            for size in sizes:
                samples[size] += time_links(engines[size], reports[size][i : i + step], policy)
        medians = {size: statistics.median(v) for size, v in samples.items()}
        small, large = sizes
        for size in sizes:
            print(
                f"{size:>9,} incidents: link one report in {medians[size] * 1000:.2f} ms "
                f"(median of {len(samples[size])}, interleaved)"
            )
        ratio = medians[large] / medians[small]
        print(f"ratio {large:,} / {small:,}: {ratio:.2f}x (target <= 1.5x)")
        print(
            json.dumps(
                {
                    "small": small,
                    "large": large,
                    "small_ms": round(medians[small] * 1000, 3),
                    "large_ms": round(medians[large] * 1000, 3),
                    "ratio": round(ratio, 3),
                }
            )
        )
        for engine in engines.values():
            engine.dispose()
    finally:
        with admin.connect() as c:
            for name in names.values():
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

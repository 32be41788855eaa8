"""End-to-end benchmark: generated articles on loopback, ingested by the real service.

    python bench/e2e.py [--articles 2000 | --quick] [--waves 10] [--wave-seconds 2]

What runs: the sample-site server of ``worker.demo.site`` (20 RSS feeds, ThreadingHTTPServer on
127.0.0.1), a fresh PostgreSQL database ``wirewatch_bench_<random>`` (dropped afterwards),
Redis db 9 (flushed before and after), and the service as separate processes exactly as
``wirewatch run`` starts them: one I/O worker process (prefork pool), one NLP worker process
(``-c 1``) and beat. A warm-up wave (not measured) loads spaCy first; then the measured
articles are published in waves and the time each first appeared in a feed is recorded.

Printed: articles per second (stored, and extracted) over the measured run, and p50/p95 of
feed appearance -> article stored (``articles.fetched_at``) and -> reports stored
(``articles.extracted_at``). The last line is one JSON object. Latency includes the feed
polling interval (10 s, the minimum a feed may have), as it would in production.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
import sqlalchemy as sa

from worker.demo.site import NewsSite, Outlet, Story
from worker.store.db import get_engine, upgrade
from worker.supervisor import celery_argv

FEED_INTERVAL = 10  # the smallest interval the settings accept
PLACES = [  # (city, country for the dateline, region)
    ("Kharkiv", "Ukraine", "Kharkiv region"),
    ("Zaporizhzhia", "Ukraine", "Zaporizhzhia region"),
    ("Kherson", "Ukraine", "Kherson region"),
    ("Mogadishu", "Somalia", "Banadir"),
    ("Kismayo", "Somalia", "Lower Juba"),
    ("El Fasher", "Sudan", "North Darfur"),
    ("Omdurman", "Sudan", "Khartoum state"),
    ("Taiz", "Yemen", "Taiz province"),
    ("Marib", "Yemen", "Marib province"),
    ("Idlib", "Syria", "Idlib province"),
    ("Aleppo", "Syria", "Aleppo province"),
    ("Goma", "Congo", "North Kivu"),
    ("Bunia", "Congo", "Ituri province"),
    ("Mopti", "Mali", "Mopti region"),
    ("Gao", "Mali", "Gao region"),
    ("Maiduguri", "Nigeria", "Borno state"),
    ("Kandahar", "Afghanistan", "Kandahar province"),
    ("Mandalay", "Myanmar", "Mandalay region"),
    ("Quetta", "Pakistan", "Balochistan"),
    ("Ouagadougou", "Burkina Faso", "Centre region"),
]
AGENCIES = ["Reuters", "AP", "AFP"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "10"}
EVENTS = [
    (
        "An air strike hit {target} in {city} on {day}, killing {k} people and wounding {w}, {source} said.",
        "Air strike kills {k} in {city}",
    ),
    (
        "Artillery shelled {target} in {city} overnight into {day}, killing {k} civilians and wounding {w}, {source} said.",
        "Shelling kills {k} in {city}",
    ),
    (
        "A car bomb exploded near {target} in {city} on {day}, killing at least {k} people and wounding {w}, "
        "{source} said.",
        "Car bomb kills at least {k} in {city}",
    ),
    (
        "A drone struck {target} in {city} on {day}, killing {k} people, {source} said. {w} others were wounded.",
        "Drone strike on {city} kills {k}",
    ),
    (
        "Gunmen attacked {target} near {city} on {day}, killing {k} people before fleeing, {source} said.",
        "Gunmen kill {k} near {city}",
    ),
    (
        "Fighting between government troops and militants near {city} on {day} killed {k} soldiers, {source} said.",
        "Clashes near {city} kill {k} soldiers",
    ),
]
TARGETS = [
    "a crowded market",
    "a residential building",
    "a school",
    "a checkpoint",
    "a hospital compound",
    "a bus station",
    "a mosque",
    "an army post",
    "a camp for displaced people",
    "a village square",
]
SOURCES = [
    "local officials",
    "police",
    "the regional governor",
    "medics at a nearby hospital",
    "rescue workers",
    "residents",
    "the health ministry",
    "a military spokesman",
]
FILLER = [
    "Rescue teams searched the rubble for survivors into the evening, and the toll could rise.",
    "No group immediately claimed responsibility for the attack.",
    "Witnesses described a loud blast followed by heavy gunfire that lasted several minutes.",
    "Hospitals in the area appealed for blood donations as the wounded arrived.",
    "The area has seen repeated violence in recent months despite efforts to negotiate a truce.",
    "Authorities imposed a curfew and closed the main roads into the town.",
    "Aid agencies said the attack would further disrupt deliveries of food and medicine.",
]


def generate(n: int, outlets: list[Outlet], rng: random.Random, prefix: str) -> list[Story]:
    """`n` varied wire-style incident reports (places, numbers, dates and wording vary)."""
    base = datetime.now(UTC).replace(microsecond=0)
    stories = []
    for i in range(n):
        city, country, region = rng.choice(PLACES)
        sentence, headline = rng.choice(EVENTS)
        k, w = rng.randint(2, 40), rng.randint(0, 60)
        published = base - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        day = WEEKDAYS[published.weekday()]
        fields = {
            "city": city,
            "day": day,
            "k": k,
            "w": w,
            "target": rng.choice(TARGETS),
            "source": rng.choice(SOURCES),
        }
        lead = f"{city.upper()}, {country} ({rng.choice(AGENCIES)}) - " + sentence.format(**fields)
        paras = [
            lead,
            *rng.sample(FILLER, 3),
            f"{city} lies in {region}. Officials said {NUMBER_WORDS.get(min(k, 10), str(k))} of the dead "
            f"were identified by {day} evening.",
        ]
        title = headline.format(**fields).replace(f" {k} ", f" {NUMBER_WORDS.get(k, str(k))} ", 1)
        stories.append(
            Story(
                id=f"{prefix}-{i:05d}",
                outlet=outlets[i % len(outlets)].slug,
                title=title,
                published=published,
                text="\n\n".join(paras),
                author="Bench desk",
            )
        )
    return stories


def write_config(path: Path, *, db_url: str, broker_url: str, feeds: list[str]) -> None:
    feeds_toml = "".join(f'\n[[feeds]]\nurl = "{u}"\ninterval = {FEED_INTERVAL}\n' for u in feeds)
    path.write_text(
        f"""environment = "development"
log_level = "WARNING"

[database]
url = "{db_url}"

[broker]
url = "{broker_url}"
embedded = false

[fetch]
allowed_networks = ["127.0.0.1/32"]

[scheduler]
tick_seconds = 1.0
{feeds_toml}""",
        encoding="utf-8",
    )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def article_times(engine: sa.Engine, urls: set[str]) -> dict[str, tuple[datetime, datetime | None, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT url, fetched_at, extracted_at, status FROM articles")).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows if r[0] in urls}


def wait_for(engine: sa.Engine, urls: set[str], *, timeout: float, settle: float, label: str) -> None:
    """Until every url is stored and extracted (or failed), or nothing changed for `settle` s."""
    deadline, last, changed = time.monotonic() + timeout, (-1, -1), time.monotonic()
    while time.monotonic() < deadline:
        got = article_times(engine, urls)
        done = sum(1 for _, ext, status in got.values() if ext is not None or status == "failed")
        now = (len(got), done)
        if now != last:
            last, changed = now, time.monotonic()
            print(f"  {label}: {len(got)}/{len(urls)} stored, {done} extracted", file=sys.stderr, flush=True)
        if done >= len(urls) or (len(got) >= len(urls) and time.monotonic() - changed > settle):
            return
        if time.monotonic() - changed > max(settle, 120):
            print(f"  {label}: no progress for {max(settle, 120):.0f} s, giving up", file=sys.stderr)
            return
        time.sleep(0.5)
    print(f"  {label}: timed out", file=sys.stderr)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="200 articles")
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--waves", type=int, default=10)
    ap.add_argument("--wave-seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    ap.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    n = 200 if args.quick else args.articles
    rng = random.Random(20250311)
    outlets = [Outlet(f"wire{i:02d}", f"Bench Wire {i:02d}") for i in range(args.feeds)]
    warm = generate(args.warmup, outlets, rng, "warm")
    stories = generate(n, outlets, rng, "story")

    db_name = f"wirewatch_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(args.pg_admin_url, autocommit=True)
    host_part = args.pg_admin_url.rsplit("/", 1)[0]
    db_url = f"{host_part}/{db_name}"
    r = redis.Redis.from_url(args.redis_url)
    procs: list[subprocess.Popen[bytes]] = []
    site = NewsSite(outlets, feed_size=n + args.warmup, tracking_params=False)
    tmp = Path(tempfile.mkdtemp(prefix="wirewatch-bench-"))
    log = open(tmp / "service.log", "wb")  # noqa: SIM115 - closed in finally
    try:
        r.flushdb()
        admin.execute(f'CREATE DATABASE "{db_name}"')
        upgrade(db_url)
        engine = get_engine(db_url)
        site.start()
        write_config(
            tmp / "config.toml",
            db_url=db_url,
            broker_url=args.redis_url,
            feeds=[site.feed_url(o.slug) for o in outlets],
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
        env["WIREWATCH_CONFIG"] = str(tmp / "config.toml")
        for argv in (
            celery_argv("worker", "-Q", "io", "-c", "8", "-n", "io@%h", "--loglevel", "WARNING"),
            celery_argv("worker", "-Q", "nlp", "-c", "1", "-n", "nlp@%h", "--loglevel", "WARNING"),
            celery_argv("beat", "-s", str(tmp / "celerybeat-schedule"), "--loglevel", "WARNING"),
        ):
            procs.append(subprocess.Popen(argv, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT))
        print(
            f"bench: {n} articles, {args.feeds} feeds, {args.waves} waves every {args.wave_seconds:g} s; "
            f"db {db_name}, broker {args.redis_url}, logs {tmp / 'service.log'}",
            file=sys.stderr,
        )

        site.publish(warm)  # loads spaCy and warms every path; not measured
        wait_for(engine, {site.page_url(s) for s in warm}, timeout=args.timeout, settle=90, label="warm-up")

        urls = {site.page_url(s): s for s in stories}
        per_wave = -(-n // args.waves)
        t0 = time.time()
        for w in range(args.waves):
            wave = stories[w * per_wave : (w + 1) * per_wave]
            if wave:
                site.publish(wave)
            if w < args.waves - 1:
                time.sleep(max(0.0, t0 + (w + 1) * args.wave_seconds - time.time()))
        wait_for(engine, set(urls), timeout=args.timeout, settle=90, label="measured")
        for p in procs:
            if p.poll() is not None:
                print(f"warning: a service process exited with {p.returncode}", file=sys.stderr)

        got = article_times(engine, set(urls))
        appeared = {url: site.appeared[urls[url].path] for url in urls}
        fetch_lat = [f.timestamp() - appeared[u] for u, (f, _, _) in got.items()]
        ext_lat = [e.timestamp() - appeared[u] for u, (_, e, _) in got.items() if e is not None]
        first = min(appeared.values())
        last_fetch = max((f.timestamp() for f, _, _ in got.values()), default=first)
        last_ext = max((e.timestamp() for _, e, _ in got.values() if e is not None), default=first)
        result = {
            "articles": n,
            "stored": len(got),
            "extracted": len(ext_lat),
            "failed": sum(1 for *_, st in got.values() if st == "failed"),
            "offered_per_s": round(n / max(args.waves * args.wave_seconds, 1e-9), 1),
            "stored_per_s": round(len(got) / max(last_fetch - first, 1e-9), 1),
            "extracted_per_s": round(len(ext_lat) / max(last_ext - first, 1e-9), 1) if ext_lat else None,
            "stored_latency_p50_s": _r(percentile(fetch_lat, 50)),
            "stored_latency_p95_s": _r(percentile(fetch_lat, 95)),
            "extracted_latency_p50_s": _r(percentile(ext_lat, 50)),
            "extracted_latency_p95_s": _r(percentile(ext_lat, 95)),
            "feed_interval_s": FEED_INTERVAL,
            "feed_polls_200": site.stats["feed_200"],
            "feed_polls_304": site.stats["feed_304"],
            "pages_served": site.stats["pages"],
        }
        print(
            f"stored    {result['stored']}/{n} articles, {result['stored_per_s']} per s; appearance -> stored "
            f"p50 {result['stored_latency_p50_s']} s, p95 {result['stored_latency_p95_s']} s"
        )
        print(
            f"extracted {result['extracted']}/{n} articles, {result['extracted_per_s']} per s; appearance -> "
            f"reports stored p50 {result['extracted_latency_p50_s']} s, p95 {result['extracted_latency_p95_s']} s"
        )
        print(json.dumps(result))
        return 0 if len(got) == n else 1
    finally:
        stop(procs)
        site.stop()
        log.close()
        get_engine.cache_clear()
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            admin.close()
            r.flushdb()


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


if __name__ == "__main__":
    sys.exit(main())

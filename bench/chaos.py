"""Chaos run (issue 5, item 7): ingest a corpus while worker pool processes are SIGKILLed at
random and Redis is restarted once; the exported incidents must equal an undisturbed run's.

    .venv/bin/python bench/chaos.py [--corpus DIR] [--kills-every SECONDS] [--seed N]

Serves the corpus with ../shared/eval/news_site.py (default corpus ../shared/eval/dev), then
runs the service twice (io worker, nlp worker, beat as real Celery processes), each time on a
fresh PostgreSQL database and a redis-server of its own (append-only file, temp dir, free port;
the machine's shared Redis and PostgreSQL are never touched): once undisturbed, once under
chaos. Both runs are exported with ``wirewatch export`` and compared: the incident clusters
(as sets of report URLs) and each cluster's killed and date fields. Prints the comparison and
a final JSON line.

I/O and NLP pool processes are killed (an NLP batch killed mid-extraction is reclaimed by the
redelivered task at once); worker main processes that die are restarted, as a supervisor would.

``--kill-service`` (issue 11) runs the chaos pass as ``wirewatch run`` instead and, once
articles are arriving, kills the whole service with SIGKILL (supervisor, workers, beat; the
embedded Redis too with ``--embedded``), restarts it, and prints how long after the restart
every entry was processed (``resumed_seconds``, to stay under 60) before the comparison.

    .venv/bin/python bench/chaos.py --kill-service [--embedded]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' harness: one OwnRedis for tests and this script

from tests.integration.service import OwnRedis, wait_for  # noqa: E402

SHARED = Path(os.environ.get("WIREWATCH_SHARED_EVAL", str(REPO.parent / "shared" / "eval")))  # beside the checkout
PG_ADMIN = os.environ.get("WIREWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def create_db() -> str:
    name = f"wirewatch_chaos_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_db(url: str) -> None:
    from worker.store.db import get_engine

    get_engine(url).dispose()
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def progress(db_url: str) -> tuple[int, int, int]:
    """(entries, entries still new, articles not yet extracted or failed)."""
    from worker.store.db import get_engine

    with get_engine(db_url).connect() as c:
        entries = c.execute(sa.text("SELECT count(*) FROM entries")).scalar_one()
        new = c.execute(sa.text("SELECT count(*) FROM entries WHERE status = 'new'")).scalar_one()
        pending = c.execute(sa.text("SELECT count(*) FROM articles WHERE status = 'fetched'")).scalar_one()
    return int(entries), int(new), int(pending)


def run(
    label: str, tmp: Path, feeds: list[str], *, chaos: bool, kills_every: float, rng: random.Random, timeout: float
) -> dict[str, Any]:
    from worker.store.db import upgrade

    work = tmp / label
    own = OwnRedis(work)
    own.start()
    db_url = create_db()
    upgrade(db_url)
    config = work / "config.toml"
    config.write_text(
        f'environment = "development"\n[database]\nurl = "{db_url}"\n[broker]\nembedded = false\n'
        f"visibility_timeout = 30\n"
        f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\n[scheduler]\ntick_seconds = 1.0\nstranded_after = 15\n'
        f"[worker]\nsoft_time_limit = 15\ntime_limit = 20\nretry_backoff_max = 5\nmax_retries = 10\n"
        f"max_deliveries = 5\n[nlp]\nbatch_size = 16\n"
        + "".join(f'[[feeds]]\nurl = "{u}"\ninterval = 3600\n' for u in feeds)
    )
    env = {**os.environ, "WIREWATCH_CONFIG": str(config), "WIREWATCH_BROKER_URL": own.url}
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, *args: str) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args, "--loglevel", "INFO"]
        procs[name] = subprocess.Popen(
            argv, env=env, cwd=work, stdout=(work / f"{name}.log").open("ab"), stderr=subprocess.STDOUT
        )

    start("io", "worker", "-Q", "io", "-c", "4", "-n", "io@%h", "--without-mingle", "--without-gossip")
    start("nlp", "worker", "-Q", "nlp", "-c", "1", "-n", "nlp@%h", "--without-mingle", "--without-gossip")
    start("beat", "beat", "-s", str(work / "beat-schedule"))
    kills, restarts, stop = 0, 0, threading.Event()

    argv_of = {
        "io": ("worker", "-Q", "io", "-c", "4", "-n", "io@%h", "--without-mingle", "--without-gossip"),
        "nlp": ("worker", "-Q", "nlp", "-c", "1", "-n", "nlp@%h", "--without-mingle", "--without-gossip"),
    }

    def supervise() -> None:
        """Restart a worker whose main process died (Celery exits when a pool child is killed
        while it starts), as `wirewatch run`, systemd or Docker would."""
        for name, args in argv_of.items():
            if procs[name].poll() is not None:
                start(name, *args)

    def monkey() -> None:
        nonlocal kills, restarts
        started = time.monotonic()
        while not stop.wait(rng.uniform(0.5, kills_every)):
            supervise()
            victim = rng.choice(["io", "io", "nlp"])  # NLP batches reclaim their articles when redelivered
            try:
                children = psutil.Process(procs[victim].pid).children()
            except psutil.NoSuchProcess:
                continue
            if children:
                rng.choice(children).send_signal(signal.SIGKILL)
                kills += 1
            if restarts == 0 and time.monotonic() - started > 6:
                own.stop()
                time.sleep(3)
                own.start()
                restarts += 1

    t0 = time.monotonic()
    if chaos:
        threading.Thread(target=monkey, daemon=True).start()
    stable_since: float | None = None
    done = False
    while time.monotonic() - t0 < timeout:
        time.sleep(1)
        if chaos:
            supervise()
        entries, new, pending = progress(db_url)
        if entries and not new and not pending and (not chaos or restarts):
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since > 5:
                done = True
                break
        else:
            stable_since = None
    stop.set()
    elapsed = time.monotonic() - t0
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    own.stop()
    return {
        "label": label,
        "done": done,
        "seconds": round(elapsed, 1),
        "kills": kills,
        "redis_restarts": restarts,
        **outcome(str(REPO / ".venv/bin/wirewatch"), env, work, db_url),
    }


def outcome(wirewatch: str, env: dict[str, str], work: Path, db_url: str) -> dict[str, Any]:
    """What a run left, read once it is over (its database is dropped): articles stored,
    failures recorded and the incidents exported."""
    out = subprocess.run(
        [wirewatch, "export", "--format", "json"], env=env, cwd=work, capture_output=True, text=True, check=True
    )
    from worker.store.db import get_engine

    with get_engine(db_url).connect() as c:
        failures = [tuple(r) for r in c.execute(sa.text("SELECT stage, reason FROM failures")).all()]
        articles = c.execute(sa.text("SELECT count(*) FROM articles")).scalar_one()
    drop_db(db_url)
    return {"articles": int(articles), "failures": failures, "incidents": json.loads(out.stdout)["incidents"]}


def run_service_kill(label: str, tmp: Path, feeds: list[str], *, embedded: bool, timeout: float) -> dict[str, Any]:
    """`wirewatch run`, killed with SIGKILL as a whole once a few articles are stored, then
    restarted; returns what `run` returns plus how long the restart took to finish the entries."""
    from tests.integration.service import free_port

    work = tmp / label
    work.mkdir(parents=True)
    own = None if embedded else OwnRedis(work)
    if own is not None:
        own.start()
    broker = own.url if own is not None else f"redis://127.0.0.1:{free_port()}/0"  # nothing answers there
    from worker.store.db import upgrade

    db_url = create_db()
    upgrade(db_url)
    config = work / "config.toml"
    config.write_text(
        f'environment = "development"\n[database]\nurl = "{db_url}"\n'
        f'[broker]\nembedded = {"true" if embedded else "false"}\nembedded_dir = "{work}/redis-embedded"\n'
        f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\n[scheduler]\ntick_seconds = 1.0\n'
        f"[worker]\nio_concurrency = 4\n[nlp]\nbatch_size = 16\n"
        + "".join(f'[[feeds]]\nurl = "{u}"\ninterval = 3600\n' for u in feeds)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(WIREWATCH_CONFIG=str(config), WIREWATCH_BROKER_URL=broker)
    wirewatch = str(REPO / ".venv/bin/wirewatch")

    def start(n: int) -> subprocess.Popen[bytes]:
        log = (work / f"run-{n}.log").open("ab")
        return subprocess.Popen([wirewatch, "run"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stored_articles() -> int:
        from worker.store.db import get_engine

        with get_engine(db_url).connect() as c:
            return int(c.execute(sa.text("SELECT count(*) FROM articles")).scalar_one())

    t0 = time.monotonic()
    first = start(1)
    if not wait_for(lambda: stored_articles() >= 5, timeout):
        first.kill()
        raise SystemExit(f"the service stored no articles in {timeout} s: see {work}/run-1.log")
    tree = [psutil.Process(first.pid), *psutil.Process(first.pid).children(recursive=True)]
    if embedded:  # the embedded redis-server runs in a session of its own: kill it too
        tree += [p for p in psutil.process_iter(["name", "cwd"]) if p.info["name"] == "redis-server"
                 and str(work) in (p.info["cwd"] or "")]  # fmt: skip
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(tree, timeout=10)
    killed_at_articles = stored_articles()
    restart = time.monotonic()
    second = start(2)
    resumed: float | None = None
    done = False
    while time.monotonic() - restart < timeout:
        time.sleep(1)
        entries, new, pending = progress(db_url)
        if resumed is None and entries and not new:
            resumed = time.monotonic() - restart
        if entries and not new and not pending:
            done = True
            break
    elapsed = time.monotonic() - t0
    second.send_signal(signal.SIGTERM)
    try:
        second.wait(90)
    except subprocess.TimeoutExpired:
        second.kill()
    if own is not None:
        own.stop()
    return {
        "label": label,
        "done": done,
        "seconds": round(elapsed, 1),
        "kills": len(tree),
        "redis_restarts": 1 if embedded else 0,
        "articles_at_kill": killed_at_articles,
        "resumed_seconds": None if resumed is None else round(resumed, 1),
        **outcome(wirewatch, env, work, db_url),
    }


def clusters(incidents: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[Any, Any]]:
    return {
        tuple(sorted(urlsplit(r["url"]).path for r in i["reports"])): (i["killed"]["best"], i["date"])
        for i in incidents
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=SHARED / "dev")
    ap.add_argument("--kills-every", type=float, default=3.0, help="at most this many seconds between SIGKILLs")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--kill-service", action="store_true", help="SIGKILL the whole `wirewatch run` once, restart it")
    ap.add_argument("--embedded", action="store_true", help="with --kill-service: the embedded Redis")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="wirewatch-chaos-") as d:
        tmp = Path(d)
        ready = tmp / "site.url"
        site = subprocess.Popen(
            [sys.executable, str(SHARED / "news_site.py"), str(args.corpus), "--port", "0", "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda: ready.exists() and ready.read_text().strip(), 60), "news site did not start"
            base = ready.read_text().strip()
            import httpx

            feeds = [u.strip() for u in httpx.get(f"{base}/feeds.txt").text.splitlines() if u.strip()]
            calm = run(
                "undisturbed", tmp, feeds, chaos=False, kills_every=args.kills_every, rng=rng, timeout=args.timeout
            )
            if args.kill_service:
                wild = run_service_kill("kill-service", tmp, feeds, embedded=args.embedded, timeout=args.timeout)
            else:
                wild = run("chaos", tmp, feeds, chaos=True, kills_every=args.kills_every, rng=rng, timeout=args.timeout)
        finally:
            site.terminate()
            site.wait()
    a, b = clusters(calm["incidents"]), clusters(wild["incidents"])
    only_calm, only_wild = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    differing = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    for r in (calm, wild):
        print(
            f"{r['label']:>11}: finished={r['done']} in {r['seconds']} s, {r['articles']} articles, "
            f"{len(r['incidents'])} incidents, {len(r['failures'])} failures, "
            f"{r['kills']} SIGKILLs, {r['redis_restarts']} Redis restart(s)"
        )
    print(f"clusters only in the undisturbed run: {len(only_calm)}")
    for k in only_calm:
        print("   -", k, a[k])
    print(f"clusters only in the chaos run: {len(only_wild)}")
    for k in only_wild:
        print("   +", k, b[k])
    print(f"same reports, different killed/date: {len(differing)}")
    for k in differing:
        print("   ~", k, a[k], "->", b[k])
    for stage, reason in wild["failures"]:
        print(f"failure recorded under chaos: [{stage}] {reason[:300]}")
    task_failures = [f for f in wild["failures"] if f[0] == "task"]
    equal = not only_calm and not only_wild and not differing and calm["articles"] == wild["articles"]
    if args.kill_service:
        print(f"killed the whole service with {wild['articles_at_kill']} articles stored; every entry done "
              f"{wild['resumed_seconds']} s after the restart")  # fmt: skip
        equal = equal and wild["resumed_seconds"] is not None and wild["resumed_seconds"] <= 60
    print(
        json.dumps(
            {
                "equal": equal,
                "incidents": [len(a), len(b)],
                "articles": [calm["articles"], wild["articles"]],
                "kills": wild["kills"],
                "redis_restarts": wild["redis_restarts"],
                "task_failures_chaos": len(task_failures),
                "finished": [calm["done"], wild["done"]],
                "resumed_seconds": wild.get("resumed_seconds"),
            }
        )
    )
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())

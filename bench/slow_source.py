"""One slow source next to a good one (issue 14): how long `wirewatch ingest --once` runs, and
how long until the good report is an incident, when a page trickles a byte every 0.2 s forever.

    .venv/bin/python bench/slow_source.py                   # the shipped 60 s fetch deadline
    .venv/bin/python bench/slow_source.py --deadline 8      # a shorter one, same shape
    .venv/bin/python bench/slow_source.py --max-seconds 20  # with a bound on the run
    .venv/bin/python bench/slow_source.py --code DIR        # another checkout's worker/ (e.g. main)

The run is a real `python -m worker.cli ingest --once` process on a fresh SQLite file; this
script watches the file and notes when the first incident appears. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' loopback site, shared with the integration test

from tests.integration.slow_site import Site, serve  # noqa: E402


def _first_incident(db: Path, started: float, done: threading.Event, out: dict[str, float]) -> None:
    """Poll the run's database until an incident with a report exists; note when."""
    while not done.is_set():
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                (n,) = conn.execute("SELECT count(*) FROM incidents WHERE num_reports > 0").fetchone()
        except sqlite3.Error:  # not created yet, or busy: look again
            n = 0
        if n:
            out["incident_after_s"] = round(time.monotonic() - started, 1)
            return
        time.sleep(0.25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deadline", type=float, default=60.0, help="fetch.total_timeout, seconds (default 60)")
    ap.add_argument("--code", type=Path, default=REPO, help="the checkout whose worker/ runs (default: this one)")
    ap.add_argument("--max-seconds", type=float, default=None, help="pass --max-seconds N to the run")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()

    site = Site()
    server = serve(site)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "run.db"
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{db}"\n'
            f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\ntotal_timeout = {args.deadline}\n'
            f'[[feeds]]\nurl = "{site.feed_url}"\nname = "Loopback Wire"\n'
        )
        env = {**os.environ, "WIREWATCH_CONFIG": str(config), "PYTHONPATH": str(args.code.resolve())}
        seen: dict[str, float] = {}
        done = threading.Event()
        started = time.monotonic()
        watcher = threading.Thread(target=_first_incident, args=(db, started, done, seen), daemon=True)
        watcher.start()
        bound = [] if args.max_seconds is None else ["--max-seconds", f"{args.max_seconds:g}"]
        proc = subprocess.run(
            [args.python, "-m", "worker.cli", "ingest", "--once", *bound],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        run_s = round(time.monotonic() - started, 1)
        done.set()
        watcher.join()
    site.slow = False
    server.shutdown()
    print(
        json.dumps(
            {
                "code": str(args.code.resolve()),
                "deadline_s": args.deadline,
                "max_seconds": args.max_seconds,
                "run_s": run_s,
                "good_report_incident_after_s": seen.get("incident_after_s"),
                "slow_page_requests": len(site.slow_started_at),
                "exit_code": proc.returncode,
                "summary": proc.stderr.strip().splitlines()[-4:],
            }
        )
    )


if __name__ == "__main__":
    main()

"""Time to store a big feed's first poll: the store's item look-up against a bound-parameter baseline.

    python bench/poll.py [--items 70000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a scratch PostgreSQL database and stores one poll of ``--items`` new items for a
feed through ``repo.add_entries``, in one transaction, twice in the same process: with the
store's look-up of known items (keys as literals, see ``repo._known``) and with the
baseline look-up that binds the keys as parameters (the same statement prepared after a few
chunks; its generic plan reads every item of the feed for each chunk). Each run is timed
on its own feed; prints both times and their ratio, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from worker.records import Entry as EntryRecord
from worker.store import repo
from worker.store.db import get_engine, upgrade
from worker.store.models import Entry, Feed

Lookup = Callable[[Session, int, list[str]], dict[str, tuple[int, str | None, str]]]


def bound_known(session: Session, feed_id: int, keys: list[str]) -> dict[str, tuple[int, str | None, str]]:
    """The baseline: the same look-up with the keys bound as parameters."""
    rows = session.execute(
        sa.select(col(Entry.id), col(Entry.item_key), col(Entry.fingerprint), col(Entry.status)).where(
            col(Entry.feed_id) == feed_id, col(Entry.item_key).in_(keys)
        )
    )
    return {key: (eid, fingerprint, status) for eid, key, fingerprint, status in rows.all()}


def first_poll_seconds(engine: sa.Engine, tag: str, n: int, lookup: Lookup) -> float:
    url = f"https://bench.example/{tag}/feed"
    items = [EntryRecord(guid=f"{tag}-{i}", url=f"https://bench.example/{tag}/{i}") for i in range(n)]
    store_lookup = repo._known
    repo._known = lookup  # type: ignore[assignment]
    try:
        with Session(engine) as s:
            repo.add_feed(s, url)
            feed_id = s.exec(select(Feed.id).where(Feed.url == url)).one()
            assert feed_id is not None
            t = time.perf_counter()
            assert len(repo.add_entries(s, feed_id, items)) == n
            s.commit()
            return time.perf_counter() - t
    finally:
        repo._known = store_lookup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--items", type=int, default=70_000)
    args = ap.parse_args()
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    name = f"wirewatch_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = args.pg.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        engine = get_engine(url)
        store = first_poll_seconds(engine, "store", args.items, repo._known)
        baseline = first_poll_seconds(engine, "baseline", args.items, bound_known)
        engine.dispose()
        print(f"first poll of {args.items:,} items: {store:.1f} s (baseline, keys bound: {baseline:.1f} s)")
        print(f"ratio store / baseline: {store / baseline:.2f}x")
        print(
            json.dumps(
                {
                    "items": args.items,
                    "store_s": round(store, 2),
                    "baseline_s": round(baseline, 2),
                    "ratio": round(store / baseline, 3),
                }
            )
        )
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

"""The same articles ingested in a different order give the same incidents (dev corpus)."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

from tests.conftest import make_settings, shared_or_skip
from worker import jobs
from worker.records import Article
from worker.resources import Resources
from worker.store import export
from worker.store.db import session_scope, upgrade


def _articles() -> list[Article]:
    path = shared_or_skip("eval", "dev", "articles.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        Article(
            url=f"https://corpus.example/{r['id']}",
            canonical_url=f"https://corpus.example/{r['id']}",
            title=r["title"],
            text=r["text"],
            published_at=datetime.fromisoformat(r["published_at"]),
            source=r["source"],
        )
        for r in rows
    ]


def _ingest(tmp: Path, name: str, articles: list[Article]) -> set[frozenset[str]]:
    url = f"sqlite:///{tmp}/{name}.db"
    upgrade(url)
    res = Resources.from_settings(make_settings(url))
    for art in articles:  # one at a time, linked at once: the service's arrival-order path
        aid = jobs.store_article(res, None, art)
        jobs.extract_articles(res, [aid])
    with session_scope(res.engine) as s:
        return {frozenset(r["url"] for r in i["reports"]) for i in export.incidents(s)}


def test_arrival_order_does_not_change_the_incidents(tmp_path: Path) -> None:
    articles = _articles()
    shuffled = list(articles)
    random.Random(20171004).shuffle(shuffled)
    by_time = sorted(articles, key=lambda a: a.published_at or datetime.min)
    first = _ingest(tmp_path, "by_time", by_time)
    assert first == _ingest(tmp_path, "reversed", list(reversed(by_time)))
    assert first == _ingest(tmp_path, "shuffled", shuffled)

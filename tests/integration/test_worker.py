"""The real service: Celery worker processes and beat consuming real messages on the real Redis,
storing into the real PostgreSQL (no eager mode)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection
from sqlmodel import func, select

from tests.conftest import REDIS_TEST_URL, NewsSite, _reset
from tests.integration.service import Service, wait_for
from worker.store.db import get_engine, session_scope
from worker.store.models import Article, Entry, Failure, Feed, Report

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path: Path, pg_url: str, site: NewsSite) -> Iterator[Service]:
    _reset(pg_url)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    svc = Service(tmp_path, pg_url, REDIS_TEST_URL, [site.feed_url])
    yield svc
    svc.stop()


def count(url: str, model: type, *where: object) -> int:
    with session_scope(get_engine(url)) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def test_beat_and_workers_ingest_a_site_end_to_end(service: Service, pg_url: str, site: NewsSite) -> None:
    from worker.store.db import upgrade

    upgrade(pg_url)
    service.worker("io", "io")
    service.worker("nlp", "nlp")
    service.start("beat", "-s", str(service.tmp / "beat-schedule"))
    ok = wait_for(lambda: count(pg_url, Article, Article.status == "extracted") == 3, timeout=120)
    assert ok, service.logs()
    assert count(pg_url, Feed) == 1  # beat copied the config's feed into the database
    assert count(pg_url, Report) >= 2  # the air strike and the bombing
    # Each feed polled once per interval (3600 s) although beat ticks every second.
    assert site.hits["/feed.xml"] == 1
    assert count(pg_url, Failure) == 0


def test_worker_consumes_real_messages_and_refuses_pickle(service: Service, pg_url: str, site: NewsSite) -> None:
    from celery import Celery

    from worker.store import repo
    from worker.store.db import upgrade

    upgrade(pg_url)
    with session_scope(get_engine(pg_url)) as s:
        repo.add_feed(s, site.feed_url, interval=3600)
        feed_id = s.exec(select(Feed.id)).one()
    client = Celery(broker=REDIS_TEST_URL, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"])
    service.worker("io", "io")
    assert wait_for(service.ready, 60), service.logs()

    # A pickled message for the poll task must be refused without running.
    with Connection(REDIS_TEST_URL) as conn:
        producer = conn.Producer(serializer="pickle")
        producer.publish(
            {"task": "wirewatch.poll_feed", "id": "pickled-1", "args": [feed_id], "kwargs": {}},
            exchange="io",
            routing_key="io",
            serializer="pickle",
            headers={"task": "wirewatch.poll_feed", "id": "pickled-1", "lang": "py", "argsrepr": "", "kwargsrepr": ""},
        )
    time.sleep(3)
    assert count(pg_url, Entry) == 0, "a pickled message was executed"

    client.send_task("wirewatch.poll_feed", args=[feed_id], queue="io")
    assert wait_for(lambda: count(pg_url, Article) == 3, timeout=60), service.logs()
    assert "ContentDisallowed" in service.logs(tail=None), service.logs()

"""The real service: Celery worker processes and beat consuming real messages on the real Redis,
storing into the real PostgreSQL (no eager mode)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection
from sqlmodel import func, select

from tests.conftest import REDIS_TEST_URL, STORIES, NewsSite, Story, _reset, _serve
from tests.integration.service import Service, free_port, wait_for
from worker.store.db import get_engine, session_scope
from worker.store.models import Article, Entry, Failure, Feed, Report, utcnow

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


# --- issue 12: what Flower sees (Celery's task events) -----------------------------------------


class Events:
    """Celery's monitoring events as Flower receives them (the same ``celery.events.State``),
    captured from the real Redis in a thread while the test runs."""

    def __init__(self, broker_url: str) -> None:
        self.app = Celery(broker=broker_url, set_as_current=False)
        self.app.conf.update(accept_content=["json"], event_serializer="json")
        self.state = self.app.events.State()
        self.stop = threading.Event()
        self.listening = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.connection_for_read() as conn:
            receiver = self.app.events.Receiver(conn, handlers={"*": self.state.event})
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    receiver.capture(limit=None, timeout=1, wakeup=False)
                self.listening.set()  # the event queue is declared: nothing sent from now on is missed

    def __enter__(self) -> Events:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def tasks(self, name: str) -> list[Any]:
        return [t for t in list(self.state.tasks.values()) if t.name == name]


class GoneSite(NewsSite):
    """The tests' site, listing one story whose page is gone (404)."""

    def page(self, slug: str) -> str | None:
        return None if slug == "gone" else super().page(slug)


def test_failed_poll_and_fetch_are_failures_in_flower_with_named_arguments(tmp_path: Path, pg_url: str) -> None:
    """A dead feed and a page gone: each task ends FAILURE with a one-line reason (the events
    Flower shows), the failure is recorded once, the feed's next poll is scheduled with backoff,
    nothing is retried, the worker log has no traceback; task arguments name the feed or entry
    and its URL; the few-seconds tick never appears among the tasks."""
    from worker.store.db import upgrade

    _reset(pg_url)
    upgrade(pg_url)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    site = GoneSite(stories=[*STORIES[:1], Story("gone", "Deleted story", "x", utcnow())])
    server = _serve(site)
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    svc = Service(tmp_path, pg_url, REDIS_TEST_URL, [dead, site.feed_url])
    try:
        with Events(REDIS_TEST_URL) as events:
            assert events.listening.wait(20)
            svc.worker("io", "io")
            assert wait_for(svc.ready, 60), svc.logs()
            svc.beat()

            def finished(name: str, n: int) -> bool:
                return len([t for t in events.tasks(name) if t.state in ("SUCCESS", "FAILURE")]) >= n

            assert wait_for(lambda: finished("wirewatch.poll_feed", 2) and finished("wirewatch.fetch_entry", 2), 90), (
                svc.logs()
            )
            time.sleep(3)  # more ticks: they must stay out of the events, as must any retry
            polls = {t.args: t for t in events.tasks("wirewatch.poll_feed")}
            fetches = {t.args: t for t in events.tasks("wirewatch.fetch_entry")}
            tick_events = events.tasks("wirewatch.tick")
        with session_scope(get_engine(pg_url)) as s:
            feeds = {f.url: f for f in s.exec(select(Feed)).all()}
            entries = {e.url: e for e in s.exec(select(Entry)).all()}
            failures = s.exec(select(Failure)).all()
    finally:
        svc.stop()
        server.shutdown()
        server.server_close()

    dead_feed = feeds[dead]
    failed_poll = polls[f"feed {dead_feed.id} {dead}"]
    assert failed_poll.state == "FAILURE", polls
    assert f"feed {dead_feed.id}: " in failed_poll.exception and "\n" not in failed_poll.exception
    assert "FailureRecorded" in failed_poll.exception
    assert polls[f"feed {feeds[site.feed_url].id} {site.feed_url}"].state == "SUCCESS"
    gone_url = f"{site.base}/a/gone.html?utm_source=rss"
    gone = entries[gone_url]
    failed_fetch = fetches[f"entry {gone.id} {gone_url}"]
    assert failed_fetch.state == "FAILURE" and "404" in failed_fetch.exception, fetches
    assert gone.status == "failed"
    assert tick_events == [], "the tick reached Flower's task list"
    # Recorded once each, by the job (the task's FAILURE is not recorded again).
    assert sorted((f.stage, f.feed_id, f.entry_id) for f in failures) == [
        ("fetch", gone.feed_id, gone.id),
        ("poll", dead_feed.id, None),
    ]
    # The dead feed's next poll is scheduled with backoff, and its lease released.
    assert dead_feed.error_count == 1 and dead_feed.lease_until is None
    assert dead_feed.next_poll_at is not None and dead_feed.next_poll_at > utcnow() + timedelta(seconds=3600)
    logs = svc.logs(None)
    assert "Traceback" not in logs and "Retry in" not in logs, logs[-4000:]
    assert logs.count("raised expected: FailureRecorded") == 2, logs[-4000:]
    assert "wirewatch.tick[" not in logs and "(wirewatch.tick)" not in logs, "the tick's routine lines were logged"

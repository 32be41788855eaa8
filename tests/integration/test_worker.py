"""The real service: Celery worker processes and beat consuming real messages on the real Redis,
storing into the real PostgreSQL (no eager mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection
from sqlmodel import func, select

from tests.conftest import REDIS_TEST_URL, NewsSite, _reset
from worker.store.db import get_engine, session_scope
from worker.store.models import Article, Entry, Failure, Feed, Report

pytestmark = pytest.mark.integration


def wait_for(cond: Callable[[], bool], timeout: float = 90.0, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return cond()


class Service:
    """Celery processes started the way `wirewatch run` starts them, on a test config."""

    def __init__(self, tmp: Path, db_url: str, feed_url: str) -> None:
        self.config = tmp / "config.toml"
        self.config.write_text(
            f'environment = "development"\n[database]\nurl = "{db_url}"\n[broker]\nurl = "{REDIS_TEST_URL}"\n'
            f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\n[scheduler]\ntick_seconds = 1.0\n'
            f'[nlp]\nbatch_size = 8\n[[feeds]]\nurl = "{feed_url}"\ninterval = 3600\n'
        )
        self.env = {**os.environ, "WIREWATCH_CONFIG": str(self.config)}
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args, "--loglevel", "INFO"]
        log = (self.tmp / f"{args[0]}-{len(self.procs)}.log").open("wb")
        p = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.procs.append(p)
        return p

    def worker(self, queue: str, name: str) -> subprocess.Popen[bytes]:
        return self.start("worker", "-Q", queue, "-c", "1", "-n", f"{name}@%h", "--without-mingle",
                          "--without-gossip")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()

    def logs(self, tail: int | None = 4000) -> str:
        text = "\n".join(f.read_text(errors="replace") for f in sorted(self.tmp.glob("*.log")))
        return text[-tail:] if tail else text


@pytest.fixture
def service(tmp_path: Path, pg_url: str, site: NewsSite) -> Iterator[Service]:
    _reset(pg_url)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    svc = Service(tmp_path, pg_url, site.feed_url)
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
    assert wait_for(lambda: "io@" in service.logs(tail=None) and " ready." in service.logs(tail=None), 60), service.logs()

    # A pickled message for the poll task must be refused without running.
    with Connection(REDIS_TEST_URL) as conn:
        producer = conn.Producer(serializer="pickle")
        producer.publish(
            {"task": "wirewatch.poll_feed", "id": "pickled-1", "args": [feed_id], "kwargs": {}},
            exchange="io", routing_key="io", serializer="pickle",
            headers={"task": "wirewatch.poll_feed", "id": "pickled-1", "lang": "py", "argsrepr": "", "kwargsrepr": ""},
        )
    time.sleep(3)
    assert count(pg_url, Entry) == 0, "a pickled message was executed"

    client.send_task("wirewatch.poll_feed", args=[feed_id], queue="io")
    assert wait_for(lambda: count(pg_url, Article) == 3, timeout=60), service.logs()
    assert "ContentDisallowed" in service.logs(tail=None), service.logs()

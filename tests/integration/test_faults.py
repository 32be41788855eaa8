"""Issue 5, faults and access, with real Celery processes, the real PostgreSQL and Redis.

Nothing here stops or restarts the machine's shared Redis or PostgreSQL: the Redis restart
uses a redis-server of the test's own (temp dir, free port, append-only file), and the
database outage is a TCP proxy between the workers and PostgreSQL that refuses and drops
connections for a while. Crashes mid-task are made without test hooks in production code:
the loopback site stalls one page so ``fetch_entry`` is mid-flight, and the test SIGKILLs the
worker's pool process (or SIGTERMs the worker) at that moment.

Each test compares what was stored with an undisturbed run of the same jobs on the same
site (in-process, on SQLite), by URL path, so "nothing lost, nothing doubled" is checked
against a reference rather than a hand-written count.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import redis
from sqlmodel import select

from tests.conftest import REDIS_TEST_URL, STORIES, NewsSite, _reset, make_settings
from tests.integration.loopback import QuietHandler, start, stop
from tests.integration.service import OwnRedis, Service, wait_for
from worker import jobs
from worker.resources import Resources
from worker.store import export, repo
from worker.store.db import get_engine, session_scope, upgrade
from worker.store.models import Article, Entry, Failure, Feed

pytestmark = pytest.mark.integration


# --- a site whose pages can stall --------------------------------------------------------------


@dataclass
class FaultSite(NewsSite):
    """The tests' news site, plus: pages in ``stalled`` hang until ``gate`` is set (so a fetch is
    in flight when the test strikes), and the time of every request is kept."""

    stalled: set[str] = field(default_factory=set)
    gate: threading.Event = field(default_factory=threading.Event)
    times: dict[str, list[float]] = field(default_factory=dict)

    def hit(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


def serve(site: FaultSite) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802  # http.server's name
            path = self.path.split("?")[0]
            with site.lock:
                site.hits[path] = site.hits.get(path, 0) + 1
                site.times.setdefault(path, []).append(time.monotonic())
            if path == "/feed.xml":
                body = site.feed().encode()
                etag = f'"{abs(hash(body))}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send(304, b"", {"ETag": etag})
                else:
                    self.send(200, body, {"Content-Type": "application/rss+xml", "ETag": etag})
                return
            slug = path[3:].removesuffix(".html") if path.startswith("/a/") else ""
            if slug in site.stalled:
                site.gate.wait(30)
            if slug and (page := site.page(slug)):
                self.send(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
            else:
                self.send(404, b"not found", {"Content-Type": "text/plain"})

    server = start(Handler)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def fsite() -> Iterator[FaultSite]:
    s = FaultSite(stories=list(STORIES))
    server = serve(s)
    yield s
    s.gate.set()
    stop(server)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    r = OwnRedis(tmp_path)
    r.start()
    yield r
    r.stop()


# --- a TCP proxy in front of PostgreSQL ---------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; ``down()`` drops every connection and refuses new
    ones (accepts and closes at once) until ``up()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.is_down = False
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self.lock:
                self.open -= {src, dst}

    def down(self) -> None:
        self.is_down = True
        with self.lock:
            conns = list(self.open)
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        self.is_down = False

    def close(self) -> None:
        self.closed = True
        self.down()
        self.listener.close()


# --- the service -----------------------------------------------------------------------------


def pool_children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def sigkill_pool_child(proc: subprocess.Popen[bytes]) -> int:
    (child,) = pool_children(proc)  # -c 1: one pool process, the one running the task
    child.send_signal(signal.SIGKILL)
    return child.pid


@pytest.fixture
def db(pg_url: str) -> str:
    _reset(pg_url)
    return pg_url


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for s in made:
        s.stop()


def add_feed(db_url: str, url: str) -> int:
    with session_scope(get_engine(db_url)) as s:
        repo.add_feed(s, url, interval=3600)
        return int(s.exec(select(Feed.id).where(Feed.url == url)).one())


# --- what was stored, comparable across runs ------------------------------------------------------


def _path(url: str) -> str:
    return urlsplit(url).path


def stored(db_url: str, *, incidents: bool = False) -> dict[str, Any]:
    """Articles (path, title, content hash) and, optionally, incidents (report paths, type,
    killed, date) with base URLs removed, so runs on different ports compare equal."""
    with session_scope(get_engine(db_url)) as s:
        articles = sorted((_path(a.url), a.title, a.content_hash) for a in s.exec(select(Article)).all())
        out: dict[str, Any] = {"articles": articles}
        if incidents:
            out["incidents"] = sorted(
                (tuple(sorted(_path(r["url"]) for r in i["reports"])), i["event_type"], i["killed"]["best"], i["date"])
                for i in export.incidents(s)
            )
    return out


def undisturbed(site: NewsSite, tmp: Path, *, incidents: bool = False) -> dict[str, Any]:
    """The same site ingested in-process, without faults, on a fresh SQLite database."""
    url = f"sqlite:///{tmp}/reference.db"
    upgrade(url)
    res = Resources.from_settings(make_settings(url))
    try:
        feed_id = add_feed(url, site.feed_url)
        for entry_id in jobs.poll_feed(res, feed_id):
            jobs.fetch_entry(res, entry_id)
        if incidents:
            while jobs.extract_articles(res):
                pass
    finally:
        res.close()
    return stored(url, incidents=incidents)


def failures(db_url: str) -> list[tuple[str, str]]:
    with session_scope(get_engine(db_url)) as s:
        return [(f.stage, f.reason) for f in s.exec(select(Failure)).all()]


def entry_status(db_url: str, path: str) -> str | None:
    with session_scope(get_engine(db_url)) as s:
        for e in s.exec(select(Entry)).all():
            if _path(e.url) == path:
                return e.status
    return None


def articles(db_url: str) -> int:
    return len(stored(db_url)["articles"])


STALLED = STORIES[0].slug  # the air strike story: its page hangs until the test releases it
STALLED_PATH = f"/a/{STALLED}.html"


# --- 1. SIGKILL mid-task -------------------------------------------------------------------------


def _polling_io_worker(
    fsite: FaultSite, db: str, services: list[Service], where: Path, extra: str = ""
) -> tuple[Service, subprocess.Popen[bytes]]:
    """An I/O worker on a fresh Redis database, with the feed's poll sent to it; the stalled
    story's fetch follows."""
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    fsite.stalled.add(STALLED)
    svc = Service(where, db, REDIS_TEST_URL, [], extra=extra)
    services.append(svc)
    feed_id = add_feed(db, fsite.feed_url)
    io = svc.worker("io", "io")
    assert wait_for(svc.ready, 60), svc.logs()
    svc.client().send_task("wirewatch.poll_feed", args=[feed_id], queue="io")
    return svc, io


def test_sigkill_mid_task_runs_it_again_exactly_once(
    fsite: FaultSite, db: str, services: list[Service], tmp_path: Path
) -> None:
    reference = undisturbed(fsite, tmp_path)
    fsite.hits.clear()
    svc, io = _polling_io_worker(fsite, db, services, tmp_path / "svc")

    assert wait_for(lambda: fsite.hit(STALLED_PATH) == 1, 60), svc.logs()
    sigkill_pool_child(io)  # the fetch of STALLED is in flight in that process
    # The requeued task comes back to a fresh pool process: let its fetch through.
    assert wait_for(lambda: fsite.hit(STALLED_PATH) == 2, 60), svc.logs()
    fsite.gate.set()
    assert wait_for(lambda: articles(db) == 3, 60), svc.logs()
    time.sleep(2)  # a third run would show up here
    assert fsite.hit(STALLED_PATH) == 2, "the killed task ran again more than once"
    assert stored(db) == reference
    assert failures(db) == []
    assert io.poll() is None, "the worker itself survived the loss of its pool process"


def test_a_task_that_always_kills_its_process_is_stopped_by_the_delivery_guard(
    fsite: FaultSite,
    db: str,
    services: list[Service],
    tmp_path: Path,
) -> None:
    fsite.stories = [STORIES[0]]
    max_deliveries = 3
    svc, io = _polling_io_worker(fsite, db, services, tmp_path, f"[worker]\nmax_deliveries = {max_deliveries}\n")

    for n in range(1, max_deliveries + 1):  # every delivery dies mid-fetch
        assert wait_for(lambda n=n: fsite.hit(STALLED_PATH) == n, 60), svc.logs()
        assert wait_for(lambda: len(pool_children(io)) == 1, 30)
        sigkill_pool_child(io)
    assert wait_for(lambda: [s for s, _ in failures(db)] == ["task"], 60), (failures(db), svc.logs())
    (reason,) = [r for _, r in failures(db)]
    assert "wirewatch.fetch_entry" in reason and "worker lost" in reason
    assert entry_status(db, STALLED_PATH) == "failed"
    time.sleep(2)
    assert fsite.hit(STALLED_PATH) == max_deliveries, "the guard let the task run again"
    assert "delivery guard: giving up" in svc.logs(None)


# --- 2. SIGTERM during a task --------------------------------------------------------------------


def test_sigterm_during_a_task_finishes_it_and_loses_nothing(
    fsite: FaultSite, db: str, services: list[Service], tmp_path: Path
) -> None:
    reference = undisturbed(fsite, tmp_path)
    fsite.hits.clear()
    svc, io = _polling_io_worker(fsite, db, services, tmp_path / "svc")
    assert wait_for(lambda: fsite.hit(STALLED_PATH) == 1, 60), svc.logs()

    io.send_signal(signal.SIGTERM)  # a deploy: warm shutdown while the fetch is in flight
    time.sleep(1)
    assert io.poll() is None, "warm shutdown waits for the task in hand"
    fsite.gate.set()
    assert io.wait(60) == 0, svc.logs()
    # What was still queued is picked up by the next worker.
    svc.worker("io", "io")
    assert wait_for(lambda: articles(db) == 3, 60), svc.logs()
    assert stored(db) == reference
    assert fsite.hit(STALLED_PATH) in (1, 2)  # finished (1) or requeued and run again (2)
    assert failures(db) == []


# --- 3. Redis restarts mid-run ------------------------------------------------------------------


def test_redis_restart_mid_run_loses_and_doubles_nothing(
    fsite: FaultSite, db: str, services: list[Service], own_redis: OwnRedis, tmp_path: Path
) -> None:
    reference = undisturbed(fsite, tmp_path, incidents=True)
    fsite.hits.clear()
    fsite.stalled.add(STALLED)
    # A short visibility timeout so a message whose ack was lost with the broker comes back
    # within the test (every limit lowered below it, as Settings.check demands).
    extra = "[worker]\nsoft_time_limit = 10\ntime_limit = 15\nretry_backoff_max = 5\nmax_retries = 10\n"
    svc = Service(tmp_path / "svc", db, own_redis.url, [fsite.feed_url], extra=extra)
    svc.env["WIREWATCH_BROKER_VISIBILITY_TIMEOUT"] = "20"
    services.append(svc)
    svc.worker("io", "io")
    svc.worker("nlp", "nlp")
    assert wait_for(lambda: svc.ready(2), 90), svc.logs()
    svc.beat()
    assert wait_for(lambda: fsite.hit(STALLED_PATH) == 1, 60), svc.logs()

    own_redis.stop()  # the broker goes away while fetch_entry is in flight
    fsite.gate.set()  # ... and the task finishes during the outage
    time.sleep(3)
    own_redis.start()

    def done() -> bool:
        with session_scope(get_engine(db)) as s:
            rows = s.exec(select(Article.status)).all()
        return len(rows) == 3 and all(r == "extracted" for r in rows)

    assert wait_for(done, 120), svc.logs()
    # Beat and the io worker are back: make the feed due again and see it polled.
    polls = fsite.hit("/feed.xml")
    with session_scope(get_engine(db)) as s:
        for f in s.exec(select(Feed)).all():
            f.next_poll_at = None
            s.add(f)
    assert wait_for(lambda: fsite.hit("/feed.xml") == polls + 1, 60), svc.logs()
    time.sleep(2)
    assert stored(db, incidents=True) == reference
    assert failures(db) == []
    assert all(p.poll() is None for p in svc.procs), "a process died instead of reconnecting"


# --- 4. PostgreSQL unavailable ------------------------------------------------------------------


def test_postgres_outage_is_retried_with_backoff(
    fsite: FaultSite, db: str, services: list[Service], tmp_path: Path
) -> None:
    reference = undisturbed(fsite, tmp_path)
    fsite.hits.clear()
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    real = urlsplit(db.replace("+psycopg", ""))
    proxy = TcpProxy((real.hostname or "127.0.0.1", real.port or 5432))
    try:
        proxied = db.replace(f"{real.hostname}:{real.port}", f"127.0.0.1:{proxy.port}")
        feed_id = add_feed(db, fsite.feed_url)
        svc = Service(
            tmp_path / "svc", proxied, REDIS_TEST_URL, [], extra="[worker]\nretry_backoff_max = 4\nmax_retries = 30\n"
        )
        services.append(svc)
        svc.worker("io", "io")
        assert wait_for(svc.ready, 60), svc.logs()
        proxy.down()
        outage = time.monotonic()
        svc.client().send_task("wirewatch.poll_feed", args=[feed_id], queue="io")
        assert wait_for(lambda: svc.logs(None).count("Retry in") >= 3, 30), svc.logs()
        time.sleep(max(0.0, 10 - (time.monotonic() - outage)))  # ~10 s without a database
        assert articles(db) == 0
        proxy.up()
        assert wait_for(lambda: articles(db) == 3, 60), svc.logs()
        assert stored(db) == reference
        assert failures(db) == []
        assert "database unavailable" in svc.logs(None)
    finally:
        for s in services:
            s.stop()
        proxy.close()


# --- 6. two beats ----------------------------------------------------------------------------


def test_two_beats_poll_every_feed_once_per_interval(
    fsite: FaultSite, db: str, services: list[Service], tmp_path: Path
) -> None:
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    other = FaultSite(stories=list(STORIES[1:]))
    other_server = serve(other)
    interval = 10
    try:
        svc = Service(tmp_path, db, REDIS_TEST_URL, [fsite.feed_url, other.feed_url], feed_interval=interval)
        services.append(svc)
        svc.worker("io", "io")
        svc.beat()
        svc.beat()  # started by mistake
        assert wait_for(lambda: fsite.hit("/feed.xml") >= 2 and other.hit("/feed.xml") >= 2, 55), svc.logs()
        for s in (fsite, other):
            times = s.times["/feed.xml"]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert min(gaps) >= interval - 1, f"a feed was polled twice in one interval: {gaps}"
        assert svc.logs(None).count("beat: Starting") == 2
    finally:
        stop(other_server)


# --- 14. a password-protected Redis -------------------------------------------------------------


def test_password_broker_works_and_never_reaches_the_logs(
    fsite: FaultSite, db: str, services: list[Service], tmp_path: Path
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    secret = "hunter2-Wirewatch-s3cret"
    own = OwnRedis(tmp_path, password=secret)
    own.start()
    try:
        svc = Service(tmp_path / "svc", db, own.url, [])
        services.append(svc)
        feed_id = add_feed(db, fsite.feed_url)
        svc.worker("io", "io")
        assert wait_for(svc.ready, 60), svc.logs()
        svc.client().send_task("wirewatch.poll_feed", args=[feed_id], queue="io")
        assert wait_for(lambda: articles(db) == 3, 60), svc.logs()
        svc.stop()
        logs = svc.logs(None)
        assert f"127.0.0.1:{own.port}" in logs  # the banner names the broker...
        assert secret not in logs  # ... without its password
        # And a wrong password is refused by the server (so the one above was really used).
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(own.url.replace(secret, "wrong")).ping()
    finally:
        own.stop()


# --- 15. root ---------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal only applies to root")
def test_worker_refuses_to_start_as_root_in_production(db: str, tmp_path: Path) -> None:
    svc = Service(tmp_path, db, REDIS_TEST_URL, [], environment="production")
    p = svc.worker("io", "io")
    try:
        code = p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
    logs = svc.logs(None)
    assert code != 0, logs
    assert "refusing to run a Wirewatch worker as root" in logs
    assert " ready." not in logs

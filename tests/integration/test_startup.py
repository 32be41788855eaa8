"""Issue 11 points 4, 8 and 9 with real processes: start-up checks refuse a service that
cannot work (one line, exit 2, no traceback), articles an environment problem stopped are
extracted once a worker starts with its checks passing, and a full disk is a transient
condition, logged once, that ends by itself when space returns."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlmodel import select

from tests.conftest import REDIS_TEST_URL, NewsSite, _reset, make_settings
from tests.integration.service import Service, wait_for
from tests.integration.test_entries import Site, _serve, item, story
from worker import jobs
from worker.errors import ResourceExhausted
from worker.resources import Resources
from worker.store import repo
from worker.store.db import get_engine, session_scope, upgrade
from worker.store.models import Article, Entry, Failure, Feed

pytestmark = pytest.mark.integration
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


def run_cli(tmp_path: Path, config: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    (tmp_path / "config.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env["WIREWATCH_BROKER_URL"] = REDIS_TEST_URL
    return subprocess.run(
        [WIREWATCH, "--config", str(tmp_path / "config.toml"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-3000:]
    for n in needles:
        assert n in lines[0], lines[0]


# --- 9. settings that cannot work: exit 2 before anything starts --------------------------------


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ('log_level = "LOUD"\n', "log_level"),
        ("[flower]\nport = 99999\n", "flower.port"),
        ("[fetch]\ntimeout = -1\n", "fetch.timeout"),
        ("[fetch]\nallowed_networks = 5\n", "fetch.allowed_networks"),
        ('[[feeds]]\nurl = "file:///etc/passwd"\n', "feeds.0.url"),
    ],
)
def test_run_refuses_settings_that_cannot_work(tmp_path: Path, config: str, needle: str) -> None:
    one_line_error(run_cli(tmp_path, config, "run", timeout=60), needle)


def test_a_bad_environment_value_is_blamed_on_the_variable(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env["WIREWATCH_FETCH_MAX_BYTES"] = "-1"
    proc = subprocess.run(
        [WIREWATCH, "--config", str(tmp_path / "config.toml"), "feeds", "list"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    one_line_error(proc, "WIREWATCH_FETCH_MAX_BYTES")
    assert "config.toml" not in proc.stderr


# --- 4. start-up checks load the model and the gazetteer -----------------------------------------


def test_run_refuses_a_model_that_does_not_load(tmp_path: Path) -> None:
    config = (
        f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n[broker]\nembedded = false\n'
        f'embedded_dir = "{tmp_path}/state/redis"\n[nlp]\nmodel = "en_core_web_typo"\n'
    )
    proc = run_cli(tmp_path, config, "run")
    one_line_error(proc, "nlp.model", "en_core_web_typo")
    assert not (tmp_path / "state").exists()  # nothing was started: not even beat's schedule folder
    assert not (tmp_path / "var").exists()  # and nothing is written to the working directory


def test_an_nlp_worker_with_a_model_that_does_not_load_exits_with_one_line(pg_url: str, tmp_path: Path) -> None:
    _reset(pg_url)
    svc = Service(tmp_path, pg_url, REDIS_TEST_URL, [])
    svc.env["WIREWATCH_NLP_MODEL"] = "en_core_web_typo"
    p = svc.worker("nlp", "nlp")
    try:
        code = p.wait(120)
    finally:
        if p.poll() is None:
            p.kill()
    logs = svc.logs(None)
    assert code == 2, logs[-3000:]
    assert "nlp.model" in logs and "en_core_web_typo" in logs
    assert " ready." not in logs


def _stored_article(res: Resources, site: NewsSite) -> int:
    with session_scope(res.engine) as s:
        repo.add_feed(s, site.feed_url, interval=3600)
        fid = s.exec(select(Feed.id)).one()
    assert fid is not None
    jobs.tick(res, all_feeds=True)
    ids = jobs.poll_feed(res, fid)
    aid = jobs.fetch_entry(res, ids[0])
    assert aid is not None
    return aid


def test_articles_held_by_an_environment_problem_are_extracted_after_the_fix(
    pg_url: str, tmp_path: Path, site: NewsSite
) -> None:
    _reset(pg_url)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    broken = Resources.from_settings(make_settings(pg_url, nlp={"model": "en_core_web_typo"}))
    aid = _stored_article(broken, site)
    with pytest.raises(Exception, match="en_core_web_typo"):
        jobs.extract_articles(broken)
    with session_scope(broken.engine) as s:
        assert s.get_one(Article, aid).status == "held"
        (failure,) = s.exec(select(Failure)).all()
        assert failure.article_id == aid and "en_core_web_typo" in failure.reason
    # The operator fixes nlp.model and restarts: the NLP worker's start-up takes the article back.
    svc = Service(tmp_path, pg_url, REDIS_TEST_URL, [])
    svc.worker("nlp", "nlp")
    try:
        assert wait_for(lambda: svc.ready(1), 120), svc.logs()
        with session_scope(broken.engine) as s:
            assert s.get_one(Article, aid).status in ("fetched", "extracted")
        svc.beat()  # its extraction safety net sends the task that extracts it
        engine = get_engine(pg_url)

        def extracted() -> bool:
            with session_scope(engine) as s:
                return s.get_one(Article, aid).status == "extracted"

        assert wait_for(extracted, 90), svc.logs()
    finally:
        svc.stop()
        broken.close()


# --- 8. disk full: transient, logged once, over when space returns ------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[tuple[Resources, dict[str, bool]]]:
    """A SQLite store on a "disk" that fills up on demand: SQLite's max_page_count makes every
    write that needs a new page fail with SQLITE_FULL, "database or disk is full"."""
    url = f"sqlite:///{tmp_path}/full.db"
    upgrade(url)
    res = Resources.from_settings(make_settings(url))
    engine = res.engine
    state = {"full": False}

    def limit(dbapi_conn: object, _record: object) -> None:
        if state["full"]:
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA page_count")
            (pages,) = cur.fetchone()
            cur.execute(f"PRAGMA max_page_count = {pages}")
            cur.close()

    sa.event.listen(engine, "connect", limit)
    yield res, state
    sa.event.remove(engine, "connect", limit)
    res.close()


@pytest.fixture
def long_pages() -> Iterator[Site]:
    """Three articles of ~20 KB: storing one needs new database pages."""
    s = Site()
    server = _serve(s)
    for n in range(3):
        s.html(f"/long/{n}", f"Long {n}", " ".join([story(n)] * 100))
    s.feed("/f.xml", [item(f"{s.base}/long/{n}", f"Long {n}") for n in range(3)])
    yield s
    server.shutdown()
    server.server_close()


def test_disk_full_is_transient_logged_once_and_over_when_space_returns(
    full_disk: tuple[Resources, dict[str, bool]], long_pages: Site, caplog: pytest.LogCaptureFixture
) -> None:
    res, state = full_disk
    with session_scope(res.engine) as s:
        repo.add_feed(s, long_pages.base + "/f.xml", interval=3600)
        fid = s.exec(select(Feed.id)).one()
    assert fid is not None
    jobs.tick(res, all_feeds=True)
    entry_ids = jobs.poll_feed(res, fid)
    res.engine.dispose()
    with sqlite3.connect(res.engine.url.database or "") as conn:  # no free page left to reuse
        conn.execute("VACUUM")
    state["full"] = True
    caplog.set_level(logging.INFO)
    for _ in range(3):
        for eid in entry_ids:
            with pytest.raises(ResourceExhausted):
                jobs.fetch_entry(res, eid)
    full_logs = [r for r in caplog.records if "disk" in r.getMessage().lower() and r.levelno >= logging.WARNING]
    assert len(full_logs) == 1, [r.getMessage() for r in caplog.records]

    state["full"] = False  # space returns
    res.engine.dispose()
    assert all(jobs.fetch_entry(res, eid) for eid in entry_ids)
    with session_scope(res.engine) as s:
        assert {e.status for e in s.exec(select(Entry)).all()} == {"fetched"}
        assert s.exec(select(Failure)).all() == []  # nothing was recorded as failed
    assert any("recovered" in r.getMessage() for r in caplog.records)

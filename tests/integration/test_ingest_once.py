"""`wirewatch ingest --once` against hostile sources: a page that trickles forever, a malformed
international link, a backlog larger than one page of entries. Loopback servers, SQLite files,
the real spaCy model (loaded once for the module, so the timings below are the run's own)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from sqlmodel import col, select
from typer.testing import CliRunner

from tests.integration.slow_site import Site, serve
from worker.cli import _state, app
from worker.settings import NlpSettings
from worker.store import export
from worker.store.db import get_engine, session_scope
from worker.store.models import Article, Entry, Failure

DEADLINE = 8.0  # fetch.total_timeout in the trickle scenario, seconds
MARGIN = 10.0  # start-up, the good page, extraction and linking, on a busy two-core machine


@pytest.fixture(scope="module", autouse=True)
def _warm_model() -> None:
    """Load spaCy and the gazetteer once for the module: the runs below are then timed on
    their own work, not on loading a model."""
    from worker.pipeline.extract import Gazetteer, extract_many, load_nlp

    extract_many(load_nlp(NlpSettings().model), [], gazetteer=Gazetteer.load())


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    server = serve(s)
    yield s
    s.slow = False
    server.shutdown()
    server.server_close()


@dataclass
class Run:
    result: Result
    seconds: float

    @property
    def output(self) -> str:
        return self.result.output


class Ingest:
    """Runs `wirewatch ingest --once` in-process on a config of its own."""

    def __init__(
        self, tmp: Path, monkeypatch: pytest.MonkeyPatch, site: Site, fetch: str = "", db_url: str | None = None
    ) -> None:
        self.db_url = db_url or f"sqlite:///{tmp}/once.db"
        cfg = tmp / "config.toml"
        cfg.write_text(
            f'[database]\nurl = "{self.db_url}"\n'
            f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\n{fetch}\n'
            f'[[feeds]]\nurl = "{site.feed_url}"\nname = "Loopback Wire"\n'
        )
        self.config = cfg
        monkeypatch.setenv("WIREWATCH_CONFIG", str(cfg))
        monkeypatch.chdir(tmp)

    def __call__(self, *args: str) -> Run:
        _state.clear()
        started = time.monotonic()
        result = CliRunner().invoke(app, ["ingest", "--once", *args], catch_exceptions=False)
        return Run(result, time.monotonic() - started)

    def incidents(self) -> list[dict[str, object]]:
        with session_scope(get_engine(self.db_url)) as s:
            return export.incidents(s)

    def entry(self, url_end: str) -> Entry:
        with session_scope(get_engine(self.db_url)) as s:
            return next(e for e in s.exec(select(Entry)).all() if e.url.endswith(url_end))

    def failures(self, entry_id: int | None) -> list[Failure]:
        with session_scope(get_engine(self.db_url)) as s:
            return list(s.exec(select(Failure).where(Failure.entry_id == entry_id)).all())

    def extracted_at(self, url_end: str) -> datetime:
        with session_scope(get_engine(self.db_url)) as s:
            article = next(a for a in s.exec(select(Article)).all() if a.url.endswith(url_end))
            assert article.extracted_at is not None, "the article was never extracted"
            return article.extracted_at


def _strike(incidents: list[dict[str, object]]) -> dict[str, object]:
    (strike,) = [i for i in incidents if i["event_type"] == "Air/drone strike"]
    return strike


def test_a_page_trickling_forever_costs_one_deadline_and_holds_back_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site, db_url: str
) -> None:
    ingest = Ingest(tmp_path, monkeypatch, site, fetch=f"timeout = 5.0\ntotal_timeout = {DEADLINE}", db_url=db_url)
    run = ingest()

    assert run.result.exit_code == 0, run.output  # a slow source is left for later, not a failure
    assert run.seconds < DEADLINE + MARGIN, f"{run.seconds:.1f} s\n{run.output}"
    (slow_started,) = site.slow_started_at  # the deadline was hit once: not retried within the run
    strike = _strike(ingest.incidents())
    assert strike["killed"] == {"low": 4, "best": 4, "high": 4}
    # extraction did not wait for the slow fetch: the good report was extracted while it ran
    assert ingest.extracted_at("/a/good.html") < slow_started + timedelta(seconds=DEADLINE - 1)

    slow = ingest.entry("/a/slow.html")
    assert slow.status == "new"  # resumable: the next run (or the service's sweep) fetches it again
    (failure,) = ingest.failures(slow.id)
    assert failure.error == "DeadlineExceeded" and failure.feed_id == slow.feed_id
    assert "left for the next run" in failure.reason and "\n" not in failure.reason
    assert "1 entry not fetched" in run.output and "wirewatch ingest --once" in run.output


def test_the_run_time_bound_leaves_the_rest_resumable_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site
) -> None:
    bound = 4
    ingest = Ingest(tmp_path, monkeypatch, site, fetch="timeout = 20.0\ntotal_timeout = 60.0")
    with ingest.config.open("a") as cfg:
        cfg.write(f"[ingest]\nmax_seconds = {bound}\n")
    run = ingest()

    assert run.result.exit_code == 0, run.output  # running out of time is not a failure
    assert run.seconds < bound + MARGIN, f"{run.seconds:.1f} s\n{run.output}"
    assert _strike(ingest.incidents())["killed"] == {"low": 4, "best": 4, "high": 4}
    slow = ingest.entry("/a/slow.html")
    assert slow.status == "new" and ingest.failures(slow.id) == []  # cut by the run's bound: not its fault
    assert f"time limit of {bound} s reached" in run.output and "1 entry not fetched" in run.output

    site.slow = False  # the page recovers; the next run, unbounded from the command line, resumes
    again = ingest("--max-seconds", "0")
    assert again.result.exit_code == 0, again.output
    assert ingest.entry("/a/slow.html").status == "fetched"
    assert "not fetched" not in again.output and "time limit" not in again.output
    assert len(ingest.incidents()) == 1


def test_a_malformed_idn_link_is_a_recorded_failure_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site, db_url: str
) -> None:
    site.links = ["http://xn--/a", "/a/good.html"]
    ingest = Ingest(tmp_path, monkeypatch, site, db_url=db_url)
    run = ingest()

    assert run.result.exit_code == 0, run.output  # a bad link is bad input: recorded, not a crash
    assert _strike(ingest.incidents())["killed"] == {"low": 4, "best": 4, "high": 4}
    bad = ingest.entry("xn--/a")
    assert bad.status == "failed"
    (failure,) = ingest.failures(bad.id)
    assert failure.feed_id == bad.feed_id and failure.error == "FetchError"
    assert "invalid host name 'xn--'" in failure.reason and "\n" not in failure.reason
    assert "1 failed" in run.output

    again = ingest()  # and later runs do not die on it either
    assert again.result.exit_code == 0, again.output
    assert len(ingest.failures(bad.id)) == 1


def _add_backlog(db_url: str, like: Entry, prefix: str, n: int) -> None:
    """Entries seen but not fetched yet, as a feed of `n` items leaves them (all one URL, so
    each one is a cheap duplicate of the stored article)."""
    now = datetime.now(UTC)
    rows = [
        {
            "feed_id": like.feed_id,
            "guid": f"{prefix}-{i}",
            "item_key": f"{prefix}-{i}",
            "url": like.url,
            "status": "new",
            "attempts": 0,
            "seen_at": now,
        }
        for i in range(n)
    ]
    with get_engine(db_url).begin() as conn:
        conn.execute(sa.insert(Entry), rows)


def _statuses(db_url: str, prefix: str) -> list[str]:
    with session_scope(get_engine(db_url)) as s:
        return [e.status for e in s.exec(select(Entry).where(col(Entry.guid).startswith(prefix))).all()]


def test_a_backlog_beyond_ten_thousand_entries_is_processed_or_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site
) -> None:
    site.slow = False
    ingest = Ingest(tmp_path, monkeypatch, site)
    assert ingest().result.exit_code == 0
    good = ingest.entry("/a/good.html")
    _add_backlog(ingest.db_url, good, "big", 10_050)

    run = ingest()
    assert run.result.exit_code == 0, run.output
    assert _statuses(ingest.db_url, "big-") == ["duplicate"] * 10_050  # none left behind at a page size
    assert "not fetched" not in run.output

    _add_backlog(ingest.db_url, good, "more", 3_000)
    bounded = ingest("--max-seconds", "1")  # what is left is said, with the way to go on
    assert bounded.result.exit_code == 0, bounded.output
    left = _statuses(ingest.db_url, "more-").count("new")
    if left:
        noun = "entry" if left == 1 else "entries"
        assert f"{left:,} {noun} not fetched" in bounded.output and "wirewatch ingest --once" in bounded.output


def test_a_bug_in_one_page_is_recorded_against_it_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site
) -> None:
    from worker import jobs

    site.slow = False
    real = jobs.normalize

    def normalize(page: Any, entry: Any, **kw: Any) -> Any:
        if page.url.endswith("/a/slow.html"):
            raise RuntimeError("parser bug on this page")
        return real(page, entry, **kw)

    monkeypatch.setattr(jobs, "normalize", normalize)
    ingest = Ingest(tmp_path, monkeypatch, site)
    run = ingest()

    assert run.result.exit_code == 1, run.output  # an unexpected error is a failure of the run
    assert _strike(ingest.incidents())["killed"] == {"low": 4, "best": 4, "high": 4}
    bad = ingest.entry("/a/slow.html")
    assert bad.status == "failed"
    (failure,) = ingest.failures(bad.id)
    assert "parser bug on this page" in failure.reason
    assert "1 unexpected error" in run.output


def test_a_batch_that_breaks_extraction_fails_only_its_culprit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site
) -> None:
    from worker.pipeline import extract

    site.slow = False
    real = extract.extract_many

    def extract_many(nlp: Any, articles: Any, batch_size: int = 32, *, gazetteer: Any) -> Any:
        if any("Izmail" in a.text for a in articles):
            raise RuntimeError("extractor bug on this article")
        return real(nlp, articles, batch_size=batch_size, gazetteer=gazetteer)

    monkeypatch.setattr(extract, "extract_many", extract_many)
    ingest = Ingest(tmp_path, monkeypatch, site)
    run = ingest()

    assert run.result.exit_code == 1, run.output
    with session_scope(get_engine(ingest.db_url)) as s:
        status = {a.url.rsplit("/", 1)[-1]: a.status for a in s.exec(select(Article)).all()}
        reasons = [f.reason for f in s.exec(select(Failure).where(Failure.stage == "extract")).all()]
    assert status == {"good.html": "failed", "slow.html": "extracted"}  # its batch mate is not lost
    assert len(reasons) == 1 and "extractor bug on this article" in reasons[0]


def test_a_page_that_never_answers_in_time_is_given_up_after_max_retries_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site
) -> None:
    ingest = Ingest(tmp_path, monkeypatch, site, fetch="timeout = 2.0\ntotal_timeout = 1.5")
    with ingest.config.open("a") as cfg:
        cfg.write("[worker]\nmax_retries = 1\n")
    assert ingest().result.exit_code == 0
    slow = ingest.entry("/a/slow.html")
    assert (slow.status, slow.attempts) == ("new", 1)

    assert ingest().result.exit_code == 0  # a bad page is recorded, not a failure of the run
    slow = ingest.entry("/a/slow.html")
    assert (slow.status, slow.attempts) == ("failed", 2)
    first, second = ingest.failures(slow.id)
    assert "left for the next run (try 1 of 2)" in first.reason and "gave up after 2 runs" in second.reason
    assert len(site.slow_started_at) == 2  # once per run

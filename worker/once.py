"""``wirewatch ingest --once``: every stage in one process, overlapping the way the service's
queues make them overlap, so that one slow source costs its own time and nobody else's.

    feeds ──poll──> new entries ──────┐
    entries earlier runs left ────────┴──fetch──> articles ──> extract + link
    └─── a pool of fetch.concurrency threads ───┘              (the calling thread, by batches)

* Polls and fetches share one thread pool; the calling thread extracts a batch whenever
  fetched articles are waiting, while the pool goes on fetching, and links after each batch
  as the service does. Incidents are the connected parts of the report-match graph, so the
  order fetches finish in does not change them (tests/quality/test_dedupe_order.py,
  test_ingest_order.py).
* A fetch that ran into its wall-clock deadline is not tried again in this run: it is recorded
  and left ``new`` for the next run (or the service's stranded-entry sweep). Other transient
  trouble is tried again after a short pause, at most ``TRIES`` times in all, then left the same
  way. An entry left this way more than ``worker.max_retries`` times is failed, as the service
  gives up on a task after that many retries.
* A bound on the run (``max_seconds``): after it no poll, fetch or extraction starts, fetches
  under way are cut at it (their deadline is shortened to it; a batch being extracted is
  finished), and what is left stays queued and is counted in the summary.
* Nothing that goes wrong with one feed, entry or batch stops the run: an unexpected error is
  recorded against its subject, as a Celery task's failure is.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from worker import jobs
from worker.errors import DeadlineExceeded, Transient
from worker.pipeline.fetch import FetchLimits
from worker.resources import Resources
from worker.store import repo
from worker.store.db import session_scope
from worker.store.models import Article, Entry, Failure, Feed, Incident, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
TRIES = 3  # in-run attempts at a fetch that failed transiently (never after its deadline)
MAX_PAUSE = 10.0  # a server asking for a longer pause is left for the next run
PAGE = 1000  # entries left by earlier runs are read this many at a time
COLLECT = 1.0  # seconds a fetched article may wait for others to fill its extraction batch

#: ``meter(stage, done, total)``: progress for a display; stages are the ``STAGE_*`` names.
Meter = Callable[[str, int, int], None]
STAGE_POLL, STAGE_FETCH, STAGE_EXTRACT = "polling feeds", "fetching articles", "extracting incidents"


class Outcome(StrEnum):
    """What became of one entry in this run."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    ERROR = "failed unexpectedly"  # an error outside the error tree (a bug): recorded, the entry failed
    LEFT = "left for the next run"  # transient trouble, its deadline included: recorded, still new
    CUT = "cut by the time limit"  # not started, or stopped by the run's bound: still new


@dataclass
class Clock:
    """The run's time bound (None: unbounded); `stop()` ends it early (an interrupt)."""

    limit: float | None
    started: float = field(default_factory=time.monotonic)
    stopped: bool = False

    def remaining(self) -> float | None:
        if self.stopped:
            return 0.0
        return None if self.limit is None else self.limit - (time.monotonic() - self.started)

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def allows(self, pause: float) -> bool:
        left = self.remaining()
        return left is None or pause < left

    def limits(self, base: FetchLimits) -> FetchLimits | None:
        """`base` with its deadline shortened to the end of the run; None once it has ended."""
        left = self.remaining()
        if left is None or left >= base.total_timeout:
            return base
        return dataclasses.replace(base, total_timeout=left) if left > 0 else None

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Tally:
    """Counts of this run, for its summary and exit status."""

    feeds: int = 0
    feeds_failed: int = 0
    feeds_cut: int = 0
    entries: Counter[Outcome] = field(default_factory=Counter)
    extracted: int = 0
    errors: int = 0  # unexpected errors (bugs, or the database gone): recorded where possible


@dataclass(frozen=True)
class Polled:
    feed_id: int
    entry_ids: list[int]
    outcome: Outcome  # STORED (polled), FAILED or CUT


# ------------------------------------------------------------------------------ one feed


def poll(res: Resources, feed_id: int, clock: Clock) -> Polled:
    """Poll one feed within the run's bound. A failed poll is recorded on the feed (by
    jobs.poll_feed, or here for an unexpected error) and never raised."""
    base = res.limits
    limits = clock.limits(base)
    if limits is None:
        with session_scope(res.engine) as s:
            repo.release_feeds(s, [feed_id])
        return Polled(feed_id, [], Outcome.CUT)
    try:
        ids = jobs.poll_feed(res, feed_id, limits)
    except Exception as exc:  # a bug in one feed's poll must not stop the run: recorded
        log.exception("ingest: polling feed %s raised", feed_id, extra={"feed_id": feed_id})
        _record_poll_error(res, feed_id, exc)
        return Polled(feed_id, [], Outcome.FAILED)
    with session_scope(res.engine) as s:
        error = s.get_one(Feed, feed_id).last_error
    if error is None:
        return Polled(feed_id, ids, Outcome.STORED)
    cut = error.startswith(DeadlineExceeded.__name__) and limits is not base  # the run's bound cut it
    return Polled(feed_id, ids, Outcome.CUT if cut else Outcome.FAILED)


def _record_poll_error(res: Resources, feed_id: int, exc: Exception) -> None:
    now = utcnow()
    with session_scope(res.engine) as s:
        feed = s.get_one(Feed, feed_id)
        error = f"{type(exc).__name__}: {exc}"
        repo.record_poll(
            s, feed_id, now=now, status=None, next_poll_at=now + timedelta(seconds=feed.interval), error=error
        )
        repo.record_failure(s, stage="poll", error=exc, url=feed.url, feed_id=feed_id)


# ----------------------------------------------------------------------------- one entry


def fetch(res: Resources, entry_id: int, clock: Clock) -> Outcome:
    """Fetch one entry within the run's bound; see the module docstring for what is retried."""
    base = res.limits
    for attempt in range(1, TRIES + 1):
        limits = clock.limits(base)
        if limits is None:
            return Outcome.CUT
        try:
            jobs.fetch_entry(res, entry_id, limits)
        except DeadlineExceeded as exc:
            # Cut by the run's bound (a shortened deadline) is not the page's fault: no record.
            return Outcome.CUT if limits is not base else leave(res, entry_id, exc)
        except Transient as exc:
            pause = _pause(exc, attempt)
            if pause is None or not clock.allows(pause):
                return leave(res, entry_id, exc)
            time.sleep(pause)
        except Exception as exc:  # one entry must not stop the run: recorded as the service does
            log.exception("ingest: fetching entry %s raised", entry_id, extra={"entry_id": entry_id})
            jobs.record_task_failure(res, task="ingest.fetch", task_id=None, error=exc, attempts=1, entry_id=entry_id)
            return Outcome.ERROR
        else:
            return _status(res, entry_id)
    raise AssertionError("unreachable: the last attempt returns")


def _pause(exc: Transient, attempt: int) -> float | None:
    """Seconds to wait before trying again in this run, or None to leave it for the next."""
    if attempt >= TRIES:
        return None
    pause = exc.retry_after if exc.retry_after is not None else 2.0 ** (attempt - 1)
    return pause if pause <= MAX_PAUSE else None


def leave(res: Resources, entry_id: int, exc: Transient) -> Outcome:
    """Record a transient failure and leave the entry ``new`` for the next run; after
    ``worker.max_retries`` such runs, fail it (recorded) as the service fails a task."""
    limit = res.settings.worker.max_retries
    with session_scope(res.engine) as s:
        entry = s.get_one(Entry, entry_id)
        if entry.status != "new":  # another process got to it meanwhile
            return _outcome(entry.status)
        entry.attempts += 1
        given_up = entry.attempts > limit
        if given_up:
            entry.status = "failed"
            reason = f"{exc}; gave up after {entry.attempts} runs"
        else:
            reason = f"{exc}; left for the next run (try {entry.attempts} of {limit + 1})"
        repo.record_failure(
            s,
            stage="fetch",
            error=exc,
            reason=reason,
            url=entry.url,
            feed_id=entry.feed_id,
            entry_id=entry_id,
            attempts=entry.attempts,
        )
    log.warning("ingest: %s", reason, extra={"entry_id": entry_id})
    return Outcome.FAILED if given_up else Outcome.LEFT


def _status(res: Resources, entry_id: int) -> Outcome:
    with session_scope(res.engine) as s:
        return _outcome(s.get_one(Entry, entry_id).status)


def _outcome(status: str) -> Outcome:
    return {"fetched": Outcome.STORED, "duplicate": Outcome.DUPLICATE, "new": Outcome.LEFT}.get(status, Outcome.FAILED)


# ------------------------------------------------------------------------------- the run


class _Backlog:
    """Entries left ``new`` by earlier runs (ids up to the last one at the start), page by
    page; this run's polls hand over their new entries themselves."""

    def __init__(self, res: Resources) -> None:
        self._res = res
        with session_scope(res.engine) as s:
            self._up_to = repo.last_entry_id(s)
        self._after = 0
        self._done = self._up_to == 0

    def next_page(self) -> list[int]:
        if self._done:
            return []
        ids = jobs.pending_entries(self._res, after=self._after, up_to=self._up_to, limit=PAGE)
        self._done = len(ids) < PAGE
        if ids:
            self._after = ids[-1]
        return ids


class Run:
    """One ``ingest --once`` run; `run()` returns its tally."""

    def __init__(self, res: Resources, clock: Clock, meter: Meter | None = None) -> None:
        self.res, self.clock, self.meter = res, clock, meter or (lambda *_: None)
        self.tally = Tally()
        self.claimant = f"ingest-once-{uuid.uuid4().hex[:16]}"  # lets a failed batch be released
        self._queue: deque[int] = deque()
        # A poll hands over the entries a killed poll left unsent, which the backlog pages
        # list too: each entry is fetched once a run.
        self._scheduled: set[int] = set()
        self._inflight: dict[Future[Polled | Outcome], str] = {}
        self._fetches = 0  # in flight
        self._window = 2 * res.settings.fetch.concurrency
        self._batch = res.settings.nlp.batch_size
        self._leftovers = True  # articles an earlier run fetched but did not extract
        self._waiting = 0  # articles this run stored and has not extracted yet
        self._waiting_since: float | None = None
        self._backlog = _Backlog(res)
        _ = res.client  # built here, once, not by the first threads at the same time

    def run(self) -> Tally:
        pool = ThreadPoolExecutor(self.res.settings.fetch.concurrency, thread_name_prefix="wirewatch-ingest")
        loader = ThreadPoolExecutor(1, thread_name_prefix="wirewatch-nlp-load")
        try:
            self._model: Future[None] = loader.submit(prepare_extraction, self.res)  # loads while fetches run
            self._start(pool)
            self._loop(pool)
        finally:
            self.clock.stopped = self.clock.stopped or bool(self._inflight)  # an error: queued work returns at once
            pool.shutdown(wait=True)
            loader.shutdown(wait=True)
        if not self.clock.expired():
            self._guarded("ingest.link", lambda: jobs.link_reports(self.res))
        return self.tally

    def _start(self, pool: ThreadPoolExecutor) -> None:
        feeds = jobs.tick(self.res, all_feeds=True)
        self.tally.feeds = len(feeds)
        for feed_id in feeds:
            self._submit(pool, poll, feed_id, STAGE_POLL)
        self.meter(STAGE_POLL, 0, len(feeds))

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while True:
            self._refill(pool)
            if self._extract_now():
                self._extract()
                timeout: float | None = 0.0  # collect what finished meanwhile
            elif not self._inflight and (self._model.done() or self.clock.expired()):
                return
            else:
                timeout = self._wake_in()
            loading: set[Future[Any]] = set() if self._model.done() else {self._model}
            done, _ = wait({*self._inflight, *loading}, timeout=timeout, return_when=FIRST_COMPLETED)
            for fut in done:
                if fut is not self._model:
                    self._collect(fut)

    def _extract_now(self) -> bool:
        """Extract when the model is ready and a batch is full, the fetches have run dry, or the
        first waiting article has waited `COLLECT` seconds (fewer, larger spaCy batches)."""
        if self.clock.expired() or not self._model.done():
            return False
        self._model.result()  # a model that cannot load stops the run here, with its own error
        if not (self._leftovers or self._waiting):
            return False
        waited = time.monotonic() - (self._waiting_since or time.monotonic())
        return self._leftovers or self._waiting >= self._batch or not self._fetches or waited >= COLLECT

    def _wake_in(self) -> float | None:
        """How long to wait for the next completion: until the bound (to stop starting work),
        or until the waiting articles' collecting window closes; after the bound, for good."""
        if self.clock.expired():
            return None
        ends = [t for t in (self.clock.remaining(), self._collect_left()) if t is not None]
        return max(0.0, min(ends)) if ends else None

    def _collect_left(self) -> float | None:
        if self._waiting_since is None or not self._model.done():
            return None
        return COLLECT - (time.monotonic() - self._waiting_since)

    def _submit(
        self,
        pool: ThreadPoolExecutor,
        fn: Callable[[Resources, int, Clock], Polled | Outcome],
        subject: int,
        stage: str,
    ) -> None:
        self._inflight[pool.submit(fn, self.res, subject, self.clock)] = stage
        self._fetches += stage == STAGE_FETCH

    def _refill(self, pool: ThreadPoolExecutor) -> None:
        while not self.clock.expired() and self._fetches < self._window:
            if not self._queue:
                self._queue.extend(self._backlog.next_page())
            if not self._queue:
                return
            entry_id = self._queue.popleft()
            if entry_id not in self._scheduled:
                self._scheduled.add(entry_id)
                self._submit(pool, fetch, entry_id, STAGE_FETCH)

    def _collect(self, fut: Future[Polled | Outcome]) -> None:
        stage = self._inflight.pop(fut)
        self._fetches -= stage == STAGE_FETCH
        try:
            result = fut.result()
        except Exception:  # recording the outcome failed (the database went away)
            log.exception("ingest: a %s task could not record its outcome", stage)
            self.tally.errors += 1
            return
        if isinstance(result, Polled):
            self._queue.extend(result.entry_ids)
            self.tally.feeds_failed += result.outcome is Outcome.FAILED
            self.tally.feeds_cut += result.outcome is Outcome.CUT
        else:
            self.tally.entries[result] += 1
            self.tally.errors += result is Outcome.ERROR
            if result is Outcome.STORED:
                self._waiting += 1
                self._waiting_since = self._waiting_since or time.monotonic()
        self._report_progress()

    def _extract(self) -> None:
        done = self._guarded("ingest.extract", lambda: jobs.extract_articles(self.res, claimant=self.claimant))
        if done is None:  # recorded; the batch's articles are released and tried one by one
            return
        self.tally.extracted += len(done)
        self._leftovers = len(done) >= self._batch  # a full batch: there may be more
        self._waiting = max(0, self._waiting - len(done)) if done else 0
        self._waiting_since = time.monotonic() if self._waiting else None
        self._report_progress()

    def _guarded(self, task: str, step: Callable[[], T]) -> T | None:
        """Run `step`; an unexpected error is recorded (an extraction batch is released, its
        articles then extracted one at a time, as the service does) and the run goes on."""
        try:
            return step()
        except Exception as exc:  # recorded below; a bad batch must not stop the run
            log.exception("ingest: %s raised", task)
            self.tally.errors += 1
            jobs.record_task_failure(
                self.res, task=task, task_id=self.claimant, error=exc, attempts=1, nlp_claimant=self.claimant
            )
            return None

    def _report_progress(self) -> None:
        polled = self.tally.feeds - sum(stage == STAGE_POLL for stage in self._inflight.values())
        self.meter(STAGE_POLL, polled, self.tally.feeds)
        fetched = sum(self.tally.entries.values())
        self.meter(STAGE_FETCH, fetched, fetched + self._fetches + len(self._queue))
        stored = self.tally.entries[Outcome.STORED]
        self.meter(STAGE_EXTRACT, self.tally.extracted, max(stored, self.tally.extracted))


def prepare_extraction(res: Resources) -> None:
    """Load the spaCy model and the gazetteer (cached per process)."""
    from worker.pipeline.extract import extract_many  # heavy import, only where NLP runs

    extract_many(res.nlp, [], gazetteer=res.gazetteer)


# --------------------------------------------------------------------------- the summary


@dataclass(frozen=True)
class Left:
    entries: int  # still new: not fetched yet
    articles: int  # fetched, not extracted yet


@dataclass(frozen=True)
class Summary:
    tally: Tally
    left: Left
    totals: dict[str, int]
    seconds: float
    limit: float | None
    timed_out: bool
    failed_now: int = 0  # failures recorded during this run

    @property
    def exit_code(self) -> int:
        """1 when the run itself went wrong: a feed could not be polled, or an unexpected error
        (a bug, the database) was recorded. Bad pages (recorded with their reason) and work
        left for the next run, by the time limit or a slow source, are not failures of the run."""
        return int(bool(self.tally.feeds_failed or self.tally.errors))

    def lines(self) -> list[str]:
        """The summary for the operator: this run, the database, what is left, what failed."""
        out = [self._run_line(), "in the database: " + ", ".join(f"{v:,} {k}" for k, v in self.totals.items())]
        if self.left.entries or self.left.articles or self.timed_out:
            bound = f"time limit of {self.limit:g} s reached: " if self.timed_out and self.limit else ""
            out.append(
                f"{bound}{_n(self.left.entries, 'entry', 'entries')} not fetched, "
                f"{_n(self.left.articles, 'article')} not extracted: `wirewatch ingest --once` again goes on "
                "with them (a running service picks them up as well)"
            )
        if self.exit_code:
            out.append(
                f"failed: {_n(self.tally.feeds_failed, 'feed')} could not be polled (`wirewatch feeds list`), "
                f"{_n(self.tally.errors, 'unexpected error')} (`wirewatch failures` gives the reasons)"
            )
        if self.failed_now:
            minutes = max(1, math.ceil(self.seconds / 60))
            out.append(
                f"{_n(self.failed_now, 'failure')} recorded in this run: `wirewatch failures --since {minutes}m` "
                "lists what and why, `wirewatch failures retry --all` queues them again"
            )
        return out

    def _run_line(self) -> str:
        t, e = self.tally, self.tally.entries
        feeds = f"{_n(t.feeds - t.feeds_cut, 'feed')} polled ({t.feeds_failed} failed"
        feeds += f", {t.feeds_cut} not reached in time)" if t.feeds_cut else ")"
        entries = (
            f"{_n(sum(e.values()) - e[Outcome.CUT], 'entry', 'entries')}: {e[Outcome.STORED]:,} stored, "
            f"{e[Outcome.DUPLICATE]:,} duplicates, {e[Outcome.FAILED] + e[Outcome.ERROR]:,} failed, "
            f"{e[Outcome.LEFT]:,} left for the next run"
        )
        return f"ingest --once: {feeds}; {entries}; {_n(t.extracted, 'article')} extracted; {self.seconds:.1f} s"


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def _count(s: Session, model: type[SQLModel], *where: sa.ColumnElement[bool]) -> int:
    return int(s.exec(select(func.count()).select_from(model).where(sa.true(), *where)).one())


def summarize(res: Resources, tally: Tally, clock: Clock) -> Summary:
    with session_scope(res.engine) as s:
        left = Left(
            entries=_count(s, Entry, col(Entry.status) == "new"),
            articles=_count(s, Article, col(Article.status) == "fetched"),
        )
        totals = {
            "feeds": _count(s, Feed),
            "articles": _count(s, Article),
            "incidents": _count(s, Incident, col(Incident.merged_into).is_(None), col(Incident.num_reports) > 0),
            "failed entries": _count(s, Entry, col(Entry.status) == "failed"),
            "failures recorded": _count(s, Failure),
        }
        failed_now = _count(s, Failure, col(Failure.at) >= utcnow() - timedelta(seconds=clock.elapsed()))
    timed_out = clock.limit is not None and clock.expired()
    return Summary(tally, left, totals, clock.elapsed(), clock.limit, timed_out, failed_now)


def ingest_once(
    res: Resources, *, max_seconds: float | None = None, meter: Meter | None = None, started: float | None = None
) -> Summary:
    """Poll every feed once and take everything new (and everything earlier runs left) through
    every stage, within `max_seconds` (counted from `started`, a time.monotonic(), when given)
    of the start. Returns the run's summary."""
    clock = Clock(max_seconds or None, started=time.monotonic() if started is None else started)
    tally = Run(res, clock, meter).run()
    return summarize(res, tally, clock)

"""The pure parts of `ingest --once`: the run's clock, the in-run retry pause, the summary."""

from __future__ import annotations

import time

import pytest

from worker.errors import TransientFetchError
from worker.once import TRIES, Clock, Left, Outcome, Summary, Tally, _pause
from worker.pipeline.fetch import FetchLimits


def test_an_unbounded_clock_keeps_the_configured_deadline() -> None:
    base = FetchLimits(total_timeout=60)
    clock = Clock(None)
    assert clock.limits(base) is base and not clock.expired() and clock.allows(1e9)


def test_the_deadline_is_shortened_to_the_end_of_the_run_and_none_after_it() -> None:
    base = FetchLimits(total_timeout=60)
    clock = Clock(5.0)
    shortened = clock.limits(base)
    assert shortened is not None and shortened is not base and 4.0 < shortened.total_timeout <= 5.0
    assert shortened.max_bytes == base.max_bytes and shortened.timeout == base.timeout
    assert Clock(120.0).limits(base) is base  # far from the end: the page's own deadline
    assert Clock(0.01, started=time.monotonic() - 1).limits(base) is None
    assert not clock.allows(6.0) and clock.allows(1.0)


def test_stopping_ends_the_run_at_once() -> None:
    clock = Clock(None)
    clock.stopped = True
    assert clock.expired() and clock.limits(FetchLimits()) is None


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [(None, 1, 1.0), (None, 2, 2.0), (3.0, 1, 3.0), (600.0, 1, None), (None, TRIES, None)],
)
def test_in_run_pauses_are_short_or_left_for_the_next_run(
    retry_after: float | None, attempt: int, expected: float | None
) -> None:
    assert _pause(TransientFetchError("HTTP 503", retry_after=retry_after), attempt) == expected


NOTHING_LEFT = Left(entries=0, articles=0)


def _summary(
    tally: Tally, left: Left = NOTHING_LEFT, *, limit: float | None = None, timed_out: bool = False
) -> Summary:
    return Summary(tally, left, {"feeds": 1, "articles": 2}, 12.34, limit, timed_out)


def test_a_clean_run_says_what_it_did_and_exits_0() -> None:
    tally = Tally(feeds=1)
    tally.entries.update({Outcome.STORED: 2, Outcome.FAILED: 1})
    tally.extracted = 2
    summary = _summary(tally)
    assert summary.exit_code == 0
    assert summary.lines() == [
        "ingest --once: 1 feed polled (0 failed); 3 entries: 2 stored, 0 duplicates, 1 failed, "
        "0 left for the next run; 2 articles extracted; 12.3 s",
        "in the database: 1 feeds, 2 articles",
    ]


def test_time_running_out_is_reported_with_the_way_on_but_is_not_a_failure() -> None:
    tally = Tally(feeds=2, feeds_cut=1)
    tally.entries.update({Outcome.STORED: 1, Outcome.CUT: 40_000})
    summary = _summary(tally, Left(40_000, 3), limit=300, timed_out=True)
    assert summary.exit_code == 0
    first, _, left = summary.lines()
    assert first.startswith("ingest --once: 1 feed polled (0 failed, 1 not reached in time); 1 entry: 1 stored")
    assert left.startswith("time limit of 300 s reached: 40,000 entries not fetched, 3 articles not extracted")
    assert "`wirewatch ingest --once` again" in left


@pytest.mark.parametrize(("feeds_failed", "errors"), [(1, 0), (0, 1)])
def test_a_feed_that_cannot_be_polled_or_an_unexpected_error_exits_1(feeds_failed: int, errors: int) -> None:
    summary = _summary(Tally(feeds=1, feeds_failed=feeds_failed, errors=errors))
    assert summary.exit_code == 1 and summary.lines()[-1].startswith("failed: ")

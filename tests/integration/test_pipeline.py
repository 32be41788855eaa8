"""Poll -> fetch -> normalize -> store against a loopback news site, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import func, select

from tests.conftest import NewsSite, Story
from worker import jobs
from worker.resources import Resources
from worker.store import repo
from worker.store.db import session_scope
from worker.store.models import Article, Entry, Failure, Feed, utcnow


def _add_feed(res: Resources, url: str) -> int:
    with session_scope(res.engine) as s:
        repo.add_feed(s, url, interval=60)
    (fid,) = jobs.tick(res, all_feeds=True)
    return fid


def test_poll_fetch_store_round_trip_and_304_on_second_poll(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.feed_url)
    entry_ids = jobs.poll_feed(res, fid)
    assert len(entry_ids) == 3
    article_ids = [jobs.fetch_entry(res, e) for e in entry_ids]
    assert all(article_ids)
    with session_scope(res.engine) as s:
        arts = {a.canonical_url.rsplit("/", 1)[1]: a for a in s.exec(select(Article)).all()}
        feed = s.get_one(Feed, fid)
        assert feed.etag and feed.last_status == 200 and feed.next_poll_at is not None
    strike = arts["strike-village.html"]
    assert strike.url.endswith("?utm_source=rss")  # as fetched from the feed
    assert "Kurylivka" in strike.text and "Cookie policy" not in strike.text and "Markets edge" not in strike.text
    assert strike.dateline_place == "Kyiv" and strike.dateline_agency == "Reuters"
    assert strike.published_at is not None and strike.published_at.tzinfo is not None
    assert strike.language == "en"

    # Second poll of the unchanged feed: a conditional GET answered 304, nothing new.
    with session_scope(res.engine) as s:
        s.get_one(Feed, fid).lease_until = None
    assert jobs.tick(res, all_feeds=True) == [fid]
    assert jobs.poll_feed(res, fid) == []
    assert site.statuses.count(("/feed.xml", 304)) == 1
    with session_scope(res.engine) as s:
        assert s.get_one(Feed, fid).last_status == 304


def test_redelivered_fetch_is_harmless(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.feed_url)
    (first, *_rest) = jobs.poll_feed(res, fid)
    a = jobs.fetch_entry(res, first)
    assert jobs.fetch_entry(res, first) == a  # the same message delivered twice
    with session_scope(res.engine) as s:
        assert s.exec(select(func.count()).select_from(Article)).one() == 1
    assert site.hits["/a/strike-village.html"] == 1


def test_same_article_in_two_feeds_is_stored_once(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.feed_url)
    with session_scope(res.engine) as s:
        repo.add_feed(s, site.feed_url + "?edition=intl", interval=60)
    ids = jobs.tick(res, all_feeds=True)
    for f in [fid, *ids]:
        for e in jobs.poll_feed(res, f):
            jobs.fetch_entry(res, e)
    with session_scope(res.engine) as s:
        assert s.exec(select(func.count()).select_from(Article)).one() == 3
        assert s.exec(select(func.count()).select_from(Entry).where(Entry.status == "duplicate")).one() == 3


def test_missing_page_is_recorded_not_dropped(res: Resources, site: NewsSite) -> None:
    site.stories.append(Story("gone", "Deleted story", "x", utcnow()))
    fid = _add_feed(res, site.feed_url)
    entry_ids = jobs.poll_feed(res, fid)
    site.stories.pop()  # the page is deleted between the poll and the fetch
    for e in entry_ids:
        jobs.fetch_entry(res, e)
    with session_scope(res.engine) as s:
        failed = s.exec(select(Entry).where(Entry.status == "failed")).all()
        assert [e.guid.rsplit("/", 1)[-1] for e in failed] == ["gone"]
        (failure,) = s.exec(select(Failure).where(Failure.stage == "fetch")).all()
        assert "404" in failure.reason and failure.url and failure.url.endswith("/a/gone.html?utm_source=rss")


def test_failing_feed_backs_off_and_is_recorded(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.base + "/no-such-feed.xml")
    assert jobs.poll_feed(res, fid) == []
    with session_scope(res.engine) as s:
        feed = s.get_one(Feed, fid)
        assert feed.error_count == 1 and "404" in (feed.last_error or "")
        assert feed.next_poll_at is not None and feed.next_poll_at > utcnow() + timedelta(seconds=100)
        assert s.exec(select(func.count()).select_from(Failure).where(Failure.stage == "poll")).one() == 1


def test_two_schedulers_never_claim_one_feed_twice(res: Resources, site: NewsSite) -> None:
    with session_scope(res.engine) as s:
        for i in range(5):
            repo.add_feed(s, f"{site.feed_url}?n={i}", interval=60)
    first, second = jobs.tick(res), jobs.tick(res)
    assert len(first) == 5 and second == []


def test_a_redelivered_nlp_task_reclaims_its_own_batch_at_once(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.feed_url)
    for e in jobs.poll_feed(res, fid):
        jobs.fetch_entry(res, e)
    lease = timedelta(minutes=15)
    with session_scope(res.engine) as s:
        first = repo.claim_articles_for_nlp(s, 10, lease, claimant="task-1")
    assert len(first) == 3
    with session_scope(res.engine) as s:  # another task finds them leased
        assert repo.claim_articles_for_nlp(s, 10, lease, claimant="task-2") == []
    with session_scope(res.engine) as s:  # task-1's process died; its redelivery takes them back
        again = repo.claim_articles_for_nlp(s, 10, lease, claimant="task-1")
    assert [a.id for a in again] == [a.id for a in first]


def test_a_batch_that_gives_up_is_retried_one_by_one_and_only_the_poison_fails(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.feed_url)
    for e in jobs.poll_feed(res, fid):
        jobs.fetch_entry(res, e)
    lease = timedelta(minutes=15)
    with session_scope(res.engine) as s:
        batch = repo.claim_articles_for_nlp(s, 10, lease, claimant="batch")
    assert len(batch) == 3
    # The batch's process died too often: the delivery guard gives up on it.
    jobs.record_task_failure(
        res,
        task="wirewatch.extract_pending",
        task_id="batch",
        error="worker lost 3 times",
        attempts=4,
        nlp_claimant="batch",
    )
    with session_scope(res.engine) as s:
        (alone,) = repo.claim_articles_for_nlp(s, 10, lease, claimant="single-1")  # suspects go one at a time
    jobs.record_task_failure(
        res,
        task="wirewatch.extract_pending",
        task_id="single-1",
        error="worker lost 3 times",
        attempts=4,
        nlp_claimant="single-1",
    )
    with session_scope(res.engine) as s:
        assert s.get_one(Article, alone.id).status == "failed"
        (failure,) = s.exec(select(Failure).where(Failure.stage == "extract")).all()
        assert failure.article_id == alone.id
    # The others were innocent: extracted normally, one at a time while suspect.
    assert sorted(jobs.extract_articles(res) + jobs.extract_articles(res)) == sorted(
        a.id for a in batch if a.id != alone.id
    )


def test_entries_whose_fetch_went_missing_are_sent_again(res: Resources, site: NewsSite) -> None:
    fid = _add_feed(res, site.feed_url)
    entry_ids = jobs.poll_feed(res, fid)
    jobs.mark_dispatched(res, entry_ids[:1])  # the broker went down after the first message
    assert jobs.stranded_entries(res) == []  # too early to call them lost
    with session_scope(res.engine) as s:
        for e in s.exec(select(Entry)).all():
            e.seen_at = e.seen_at - timedelta(hours=1)
            if e.dispatched_at is not None:
                e.dispatched_at = e.dispatched_at - timedelta(seconds=30)  # sent recently: still in flight
    assert jobs.stranded_entries(res) == entry_ids[1:]
    assert jobs.stranded_entries(res) == []  # marked dispatched: not sent twice in a row

"""Jobs: load by id, run pipeline stages, write the outcome. Shared by the Celery tasks and
by ``wirewatch ingest --once`` so both modes run the very same code.

    tick(res)                  -> feed ids claimed for polling
    poll_feed(res, feed_id)    -> new entry ids                (feeds.py, fetch.py)
    fetch_entry(res, entry_id) -> article id | None            (fetch.py, normalize.py, wire copies)
    extract_articles(res, ids) -> report ids                   (extract/, dedupe via store.linking)

Transient failures (network, 5xx, database down) raise `worker.errors.Transient` for the
caller to retry; permanent ones are recorded in ``failures`` with their reason and the
entry or article is marked failed. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from sqlmodel import col, select

from worker.errors import EnvironmentFault, FeedError, FetchError, Permanent, Transient
from worker.pipeline import feeds as feed_stage
from worker.pipeline import fetch as fetch_stage
from worker.pipeline.normalize import content_hash, normalize
from worker.records import Article as ArticleRecord
from worker.resources import Resources
from worker.store import linking, repo
from worker.store.db import session_scope
from worker.store.models import Entry, Failure, Feed, utcnow

log = logging.getLogger(__name__)
POLL_LEASE = timedelta(minutes=10)
NLP_LEASE = timedelta(minutes=15)


def sync_config_feeds(res: Resources) -> int:
    """Make the database's feed list include every feed of the config."""
    with session_scope(res.engine) as s:
        return repo.sync_feeds(s, res.settings.feeds, res.settings.scheduler.default_interval)


def tick(res: Resources, *, all_feeds: bool = False) -> list[int]:
    """Claim the feeds due now (atomically: concurrent schedulers never claim one feed twice)."""
    with session_scope(res.engine) as s:
        return repo.claim_due_feeds(s, utcnow(), POLL_LEASE, all_feeds=all_feeds)


def stranded_entries(res: Resources) -> list[int]:
    """Entries whose fetch message went missing (see repo.claim_stranded_entries)."""
    with session_scope(res.engine) as s:
        return repo.claim_stranded_entries(s, older_than=timedelta(seconds=res.settings.scheduler.stranded_after))


def mark_dispatched(res: Resources, entry_ids: Sequence[int]) -> None:
    with session_scope(res.engine) as s:
        repo.mark_dispatched(s, entry_ids)


def backoff_seconds(interval: int, errors: int, cap: int, retry_after: float | None = None) -> float:
    """Next poll delay: the feed's interval, doubled per consecutive error (with jitter), capped;
    never sooner than the server's Retry-After, and never later than the cap (or the feed's own
    interval, if longer) whatever the server asks for."""
    delay = float(interval) if errors == 0 else min(float(cap), interval * 2.0 ** min(errors, 16))
    delay *= 1 + random.uniform(0, 0.1) if errors else 1
    return min(max(delay, retry_after or 0.0), max(float(cap), float(interval)))


def poll_feed(res: Resources, feed_id: int, limits: fetch_stage.FetchLimits | None = None) -> list[int]:
    """Poll one feed (conditional GET), store its new entries; returns their ids, with those
    of entries a poll killed mid-way stored but never sent.

    Poll failures are recorded on the feed (error count, backoff) and in ``failures``;
    they are not raised: the next tick polls again when the backoff has passed. A database
    refusal while storing the entries (one the entry checks did not foresee) is recorded the
    same way, against the feed, and releases its lease.
    `limits` replaces the configured fetch limits (``ingest --once`` shortens the deadline).
    """
    with session_scope(res.engine) as s:
        feed = s.get_one(Feed, feed_id)
        url, etag, last_modified, interval, errors = (
            feed.url,
            feed.etag,
            feed.last_modified,
            feed.interval,
            feed.error_count,
        )
    now = utcnow()
    cap = res.settings.scheduler.max_backoff
    try:
        result = fetch_stage.fetch_feed(res.client, url, limits or res.limits, etag=etag, last_modified=last_modified)
        if isinstance(result, fetch_stage.NotModified):
            with session_scope(res.engine) as s:
                repo.record_poll(s, feed_id, now=now, status=304, next_poll_at=now + timedelta(seconds=interval))
                return repo.undispatched_entries(s, feed_id)  # left by a poll killed before sending them
        doc = feed_stage.parse_feed(
            result.body, result.final_url, content_type=result.content_type, max_bytes=res.limits.max_bytes
        )
    except (Transient, Permanent) as exc:
        retry_after = exc.retry_after if isinstance(exc, Transient) else None
        delay = backoff_seconds(interval, errors + 1, cap, retry_after)
        log.warning("poll failed", extra={"feed_id": feed_id, "url": url, "error": str(exc)})
        with session_scope(res.engine) as s:
            repo.record_poll(
                s,
                feed_id,
                now=now,
                status=None,
                next_poll_at=now + timedelta(seconds=delay),
                error=f"{type(exc).__name__}: {exc}",
            )
            repo.record_failure(s, stage="poll", error=exc, url=url, feed_id=feed_id)
        return []
    try:
        with session_scope(res.engine) as s:
            new_ids = repo.add_entries(s, feed_id, doc.entries)
            new_ids += [i for i in repo.undispatched_entries(s, feed_id) if i not in set(new_ids)]
            for warning in doc.warnings:
                repo.record_failure(s, stage="poll", error=FeedError.__name__, reason=warning, url=url, feed_id=feed_id)
            repo.record_poll(
                s,
                feed_id,
                now=now,
                status=result.status,
                next_poll_at=now + timedelta(seconds=interval),
                etag=result.etag,
                last_modified=result.last_modified,
                title=doc.title,
            )
    except (DataError, IntegrityError, ProgrammingError) as exc:
        log.exception("storing the feed's entries failed", extra={"feed_id": feed_id})
        with session_scope(res.engine) as s:
            error = f"{type(exc.orig or exc).__name__}: {str(exc.orig or exc).splitlines()[0][:500]}"
            delay = backoff_seconds(interval, errors + 1, cap)
            repo.record_poll(s, feed_id, now=now, status=None, next_poll_at=now + timedelta(seconds=delay), error=error)
            repo.record_failure(
                s, stage="poll", error=exc, reason=f"storing entries: {error}", url=url, feed_id=feed_id
            )
        return []
    log.info("polled", extra={"feed_id": feed_id, "new_entries": len(new_ids)})
    return new_ids


def fetch_entry(res: Resources, entry_id: int, limits: fetch_stage.FetchLimits | None = None) -> int | None:
    """Fetch and normalize one entry's article and store it; returns the article id, or None
    when it failed permanently (recorded) or was already done. Raises Transient to retry.
    `limits` replaces the configured fetch limits (``ingest --once`` shortens the deadline)."""
    with session_scope(res.engine) as s:
        entry = s.get_one(Entry, entry_id)
        if entry.status != "new":
            return entry.article_id
        feed = s.get_one(Feed, entry.feed_id)
        record, source, language = repo.entry_record(entry), feed.name, feed.language
        own = entry.article_id if entry.revision else None  # an updated item: fetch its page again
        existing = repo.find_article(s, record.url) if own is None else None
        if existing is not None:  # reached through another feed already
            assert existing.id is not None
            reason = f"link already stored as article {existing.id} ({existing.url})"
            repo.mark_entry(s, entry, "duplicate", reason, article_id=existing.id)
            return existing.id
    try:
        page = fetch_stage.fetch_page(res.client, record.url, limits or res.limits)
        if isinstance(page, fetch_stage.NotModified):  # no validators were sent: a server bug
            raise FetchError(f"unexpected 304 for {record.url}")
        article = normalize(page, record, source=source, language=language)
    except Permanent as exc:
        with session_scope(res.engine) as s:
            entry = s.get_one(Entry, entry_id)
            entry.status, entry.attempts = "failed", entry.attempts + 1
            repo.record_failure(s, stage="fetch", error=exc, url=record.url, feed_id=entry.feed_id, entry_id=entry_id)
        return None
    return store_article(res, entry_id, article, update_id=own)


def store_article(
    res: Resources,
    entry_id: int | None,
    article: ArticleRecord,
    feed_id: int | None = None,
    *,
    update_id: int | None = None,
) -> int:
    """Store a normalized article (once, whichever URL reached it) and mark its entry with the
    outcome and its reason. `update_id`: the article an updated feed item was fetched for."""
    with session_scope(res.engine) as s:
        entry = s.get(Entry, entry_id) if entry_id is not None else None
        feed_id = entry.feed_id if entry is not None else feed_id
        text_hash = content_hash(article.text)
        if update_id is not None:
            sig, bands = linking.signature(article.text, res.settings.dedupe.near_duplicate_jaccard)
            stored = repo.update_article(s, update_id, article, content_hash=text_hash, minhash=sig)
            if stored.outcome == "updated":
                linking.store_bands(s, update_id, bands, replace=True)
        else:
            sig, bands, copy_of = linking.find_copy_of(s, article.text, res.settings.dedupe.near_duplicate_jaccard)
            stored = repo.store_article(
                s, article, feed_id=feed_id, content_hash=text_hash, minhash=sig, copy_of_id=copy_of
            )
            if stored.outcome == "created":
                linking.store_bands(s, stored.article_id, bands)
        if entry is not None:
            status = "duplicate" if stored.outcome == "duplicate" else "fetched"
            reason = entry.reason if stored.outcome == "created" else stored.reason
            if stored.outcome in ("updated", "unchanged"):
                reason = f"{entry.reason}; {stored.reason}"
            repo.mark_entry(s, entry, status, reason, article_id=stored.article_id)
            if stored.outcome == "duplicate":
                log.info("duplicate entry", extra={"entry_id": entry.id, "article_id": stored.article_id})
    return stored.article_id


def extract_articles(
    res: Resources,
    article_ids: Sequence[int] = (),
    limit: int | None = None,
    claimant: str | None = None,
    *,
    link: bool = True,
) -> list[int]:
    """Claim articles not yet extracted (among `article_ids`, or any), extract their incidents
    in one spaCy batch, store them as reports and link each report into an incident.
    `claimant` (the task id) lets a redelivered task take back the batch it held when its
    process died. Returns the ids of the articles processed (empty when none was waiting)."""
    from worker.pipeline.extract import extract_many  # heavy import, only on NLP workers

    batch = limit or res.settings.nlp.batch_size
    with session_scope(res.engine) as s:
        rows = repo.claim_articles_for_nlp(s, batch, NLP_LEASE, article_ids, claimant=claimant)
        claimed = [(r.id, repo.article_record(r)) for r in rows]
    if not claimed:
        return []
    try:
        results = extract_many(res.nlp, [a for _, a in claimed], batch_size=batch, gazetteer=res.gazetteer)
    except (OSError, ImportError) as exc:  # the model or the gazetteer, not these articles
        reason = f"held until a worker starts with its checks passing: {type(exc).__name__}: {exc}"
        log.exception("extraction cannot run", extra={"articles": len(claimed)})
        with session_scope(res.engine) as s:
            repo.hold_articles(s, [aid for aid, _ in claimed if aid is not None], reason[:2000])
        raise EnvironmentFault(f"extraction cannot run here: {exc}") from exc
    report_ids: list[int] = []
    for (article_id, _), incidents in zip(claimed, results, strict=True):
        assert article_id is not None
        with session_scope(res.engine) as s:
            for incident_id in sorted(repo.refresh_reports(s, article_id, incidents)):  # an updated article
                linking.recompute(s, incident_id, action="updated")
            report_ids.extend(repo.store_reports(s, article_id, incidents))
    if link:
        # Every unlinked report, not only this batch's: a task killed between storing reports
        # and linking them leaves some behind, and the next extraction task picks them up.
        link_reports(res)
    return [aid for aid, _ in claimed if aid is not None]


def link_reports(res: Resources, report_ids: Sequence[int] | None = None) -> int:
    """Link reports (the given ones, or every unlinked one) into incidents, in publication
    order, one transaction each. Returns how many were linked."""
    with session_scope(res.engine) as s:
        ordered = repo.unlinked_report_ids(s, report_ids)
    for rid in ordered:
        with session_scope(res.engine) as s:
            linking.link_report(s, rid, res.policy)
    return len(ordered)


def release_held(res: Resources) -> int:
    """Queue the articles an environment problem held for extraction again."""
    with session_scope(res.engine) as s:
        return repo.release_held(s)


def pending_entries(res: Resources, *, after: int = 0, up_to: int | None = None, limit: int = 1000) -> list[int]:
    """One page of entries still to fetch (see repo.pending_entry_ids)."""
    with session_scope(res.engine) as s:
        return repo.pending_entry_ids(s, after=after, up_to=up_to, limit=limit)


def record_task_failure(
    res: Resources,
    *,
    task: str,
    task_id: str | None,
    error: BaseException | str,
    attempts: int,
    entry_id: int | None = None,
    feed_id: int | None = None,
    article_ids: Sequence[int] = (),
    nlp_claimant: str | None = None,
) -> None:
    """A task gave up (retries exhausted, or its process died too often): record it and mark
    its subject failed so nothing waits on it forever (a feed's poll: its lease is released). For an extraction batch
    (`nlp_claimant`), its articles are released to be extracted one by one; an article whose
    lone extraction gives up as well is marked failed (recorded)."""
    with session_scope(res.engine) as s:
        if not getattr(error, "recorded", False):  # else the job recorded it with its subject
            repo.record_failure(
                s,
                stage="task",
                error=error,
                reason=f"{task}: {error}",
                task_id=task_id,
                entry_id=entry_id,
                feed_id=feed_id,
                attempts=attempts,
            )
        if feed_id is not None and (feed := s.get(Feed, feed_id)) is not None:
            feed.lease_until = None  # polled again at its next due time, not after the lease
        if entry_id is not None and (entry := s.get(Entry, entry_id)) is not None and entry.status == "new":
            entry.status = "failed"
        repo.fail_articles(s, article_ids)
        if nlp_claimant is not None:
            for article in repo.release_nlp_claim(s, nlp_claimant):
                repo.record_failure(
                    s,
                    stage="extract",
                    error=error,
                    article_id=article.id,
                    url=article.url,
                    reason=f"extraction gave up on this article alone: {error}",
                    attempts=attempts,
                )


# --- what the service's tasks report to Celery (names, outcomes) ---------------------------------
# poll_feed and fetch_entry record their failures and return (ingest --once relies on that); the
# tasks read the recorded reason back to end in FAILURE, and name their subject in messages.


def poll_error(res: Resources, feed_id: int) -> str | None:
    """The error the feed's last poll recorded, or None when that poll succeeded."""
    with session_scope(res.engine) as s:
        feed = s.get(Feed, feed_id)
        return feed.last_error if feed is not None else None


def fetch_error(res: Resources, entry_id: int) -> str | None:
    """Why the entry failed (the reason of its latest recorded failure), or None when it did not."""
    with session_scope(res.engine) as s:
        entry = s.get(Entry, entry_id)
        if entry is None or entry.status != "failed":
            return None
        reason = s.exec(
            select(Failure.reason).where(Failure.entry_id == entry_id).order_by(col(Failure.id).desc()).limit(1)
        ).first()
        return reason or entry.reason or "failed"


def feed_urls(res: Resources, feed_ids: Sequence[int]) -> dict[int, str]:
    """The URLs of these feeds, by id (one query), to name them in task messages."""
    return _urls(res, Feed, feed_ids)


def entry_urls(res: Resources, entry_ids: Sequence[int]) -> dict[int, str]:
    """The URLs of these entries, by id (one query), to name them in task messages."""
    return _urls(res, Entry, entry_ids)


def _urls(res: Resources, table: type[Feed] | type[Entry], ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    with session_scope(res.engine) as s:
        rows = s.exec(select(table.id, table.url).where(col(table.id).in_(ids))).all()
        return {int(i): u for i, u in rows if i is not None}

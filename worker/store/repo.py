"""Repository functions: every read and write the jobs need, one small function each.

Writes are idempotent: inserts go through unique constraints (a re-delivered message finds
its row already there), claims are conditional updates (two schedulers cannot both claim a
feed, two NLP workers cannot both claim an article).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from worker import records
from worker.pipeline.feeds import MAX_FIELD_CHARS, clean_text
from worker.settings import FeedSettings
from worker.store.models import Article, Entry, Failure, Feed, Report, utcnow

log = logging.getLogger(__name__)
#: Rows per INSERT and per IN (...) list: PostgreSQL takes at most 65,535 parameters in one
#: statement and SQLite 32,766, and a feed may list tens of thousands of entries.
CHUNK = 500


def sync_feeds(session: Session, feeds: Iterable[FeedSettings], default_interval: int) -> int:
    """Insert configured feeds that are not in the database yet; update name/interval of known ones.

    An operator's decisions win over the file: a feed disabled (``wirewatch feeds disable``)
    stays disabled, and one removed (``wirewatch feeds remove``, a tombstone row) is neither
    added back nor updated; each start says so in a warning until config.toml drops it."""
    added = 0
    for spec in feeds:
        feed = session.exec(select(Feed).where(Feed.url == spec.url)).first()
        if feed is not None and feed.removed_at is not None:
            log.warning(
                "config.toml lists feed %s, removed on %s by `wirewatch feeds remove`: it stays removed "
                "(delete its [[feeds]] entry, or `wirewatch feeds add %s` to bring it back)",
                spec.url,
                feed.removed_at.isoformat(timespec="seconds"),
                spec.url,
                extra={"feed_id": feed.id},
            )
            continue
        if feed is None:
            session.add(
                Feed(url=spec.url, name=spec.name, language=spec.language, interval=spec.interval or default_interval)
            )
            added += 1
        else:
            feed.name = spec.name or feed.name
            feed.language = spec.language or feed.language
            feed.interval = spec.interval or feed.interval
    session.flush()
    return added


def add_feed(session: Session, url: str, *, name: str | None = None, interval: int = 300) -> bool:
    """Add a feed by URL; False when it was already there."""
    if session.exec(select(Feed.id).where(Feed.url == url)).first() is not None:
        return False
    session.add(Feed(url=url, name=name, interval=interval))
    session.flush()
    return True


def claim_due_feeds(session: Session, now: datetime, lease: timedelta, *, all_feeds: bool = False) -> list[int]:
    """Atomically claim feeds due for polling; a feed claimed here is skipped by any other
    scheduler until its lease ends or its poll is recorded."""
    due = sa.and_(
        col(Feed.enabled).is_(True),
        sa.or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now),
    )
    if not all_feeds:
        due = sa.and_(due, sa.or_(col(Feed.next_poll_at).is_(None), col(Feed.next_poll_at) <= now))
    stmt = sa.update(Feed).where(due).values(lease_until=now + lease).returning(col(Feed.id))
    return sorted(session.execute(stmt).scalars().all())


def record_poll(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    status: int | None,
    next_poll_at: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    error: str | None = None,
    title: str | None = None,
) -> None:
    """Store the outcome of a poll and release the feed's lease (and name an unnamed feed)."""
    feed = session.get_one(Feed, feed_id)
    if feed.name is None and title:
        feed.name = title.strip()[:200]
    feed.last_polled_at = now
    feed.last_status = status
    feed.next_poll_at = next_poll_at
    feed.lease_until = None
    if error is None:
        feed.last_success_at = now
        feed.error_count = 0
        feed.last_error = None
        if etag is not None or last_modified is not None:
            feed.etag, feed.last_modified = etag, last_modified
    else:
        feed.error_count += 1
        feed.last_error = error[:2000]


def entry_refusal(entry: records.Entry) -> str | None:
    """Why the store cannot hold `entry` (checked before the database sees it), else None."""
    for name in ("guid", "url"):
        value: str = getattr(entry, name)
        if len(value) > MAX_FIELD_CHARS:
            return f"{name} longer than {MAX_FIELD_CHARS} characters ({len(value)}): {value[:120]}..."
        if not value.strip():
            return f"empty {name}"
    return None


def _entry_values(feed_id: int, e: records.Entry, now: datetime) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "item_key": e.identity,
        "guid": clean_text(e.guid),
        "url": clean_text(e.url),
        "title": clean_text(e.title)[:MAX_FIELD_CHARS] if e.title else None,
        "published_at": e.published_at,
        "fingerprint": e.fingerprint,
        "revision": 0,
        "status": "new",
        "attempts": 0,
        "seen_at": now,
    }


def _insert_entries(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows, skipping items already there (a concurrent poll); returns the new ids."""
    conn = session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    table: sa.Table = Entry.__table__  # type: ignore[attr-defined]
    # One statement executed with many parameter sets: compiled once (cached), sent in batches.
    stmt = insert(table).on_conflict_do_nothing(index_elements=["feed_id", "item_key"]).returning(table.c.id)
    return [int(i) for i in conn.execute(stmt, rows).scalars().all()]


def _reopen(row: Entry, e: records.Entry) -> None:
    """The feed updated an item already processed: fetch it again, saying what changed."""
    changed = [
        name
        for name, old, new in (("title", row.title, e.title), ("date", row.published_at, e.published_at))
        if new is not None and old != new
    ]
    row.revision += 1
    row.reason = f"updated by its feed (revision {row.revision}): {', '.join(changed) or 'summary or content'} changed"
    row.fingerprint = e.fingerprint
    row.title = clean_text(e.title)[:MAX_FIELD_CHARS] if e.title else row.title
    row.published_at = e.published_at or row.published_at
    row.status, row.dispatched_at = "new", None


def add_entries(session: Session, feed_id: int, entries: Sequence[records.Entry]) -> list[int]:
    """Store a poll's entries; returns the ids to fetch: new items, and items the feed updated.

    An item is known by its guid and link together (``records.Entry.identity``). A known item
    whose ``fingerprint`` changed (new title, date, summary or content) after it was processed
    is set back to ``new`` with ``revision`` + 1 and a ``reason`` naming what changed. An
    entry the store cannot hold (see :func:`entry_refusal`) is recorded in ``failures``
    against the feed and skipped; the rest are stored. Inserts and look-ups go in chunks of
    :data:`CHUNK` rows; should a chunk still be refused by the database, its rows are stored
    one by one so only the bad one is recorded and skipped."""
    now = utcnow()
    todo: dict[str, records.Entry] = {}
    for e in entries:
        if (why := entry_refusal(e)) is not None:
            record_failure(
                session,
                stage="poll",
                error="EntryRefused",
                reason=f"entry {e.guid[:80]!r} skipped: {why}",
                url=e.url[:MAX_FIELD_CHARS],
                feed_id=feed_id,
            )
        else:
            todo.setdefault(e.identity, e)
    ids: list[int] = []
    items = list(todo.values())
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        known = _known(session, feed_id, [e.identity for e in chunk])
        fresh, fill = [], []
        for e in chunk:
            if (found := known.get(e.identity)) is None:
                fresh.append(e)
                continue
            eid, fingerprint, status = found
            if fingerprint is None and e.fingerprint is not None:  # seen before fingerprints were kept
                fill.append({"eid": eid, "fp": e.fingerprint})
            elif e.fingerprint and fingerprint and e.fingerprint != fingerprint and status != "new":
                _reopen(session.get_one(Entry, eid), e)
                ids.append(eid)
        if fill:
            table: sa.Table = Entry.__table__  # type: ignore[attr-defined]
            stmt = table.update().where(table.c.id == sa.bindparam("eid")).values(fingerprint=sa.bindparam("fp"))
            session.connection().execute(stmt, fill)
        if fresh:
            ids.extend(_insert_chunk(session, feed_id, fresh, now))
    session.flush()
    return ids


def _known(session: Session, feed_id: int, keys: list[str]) -> dict[str, tuple[int, str | None, str]]:
    """Item key -> (entry id, fingerprint, status) of the feed's stored items among ``keys``.

    The keys go into the statement as literals (they are hex digests), so PostgreSQL tests
    rows against a hashed list. Bound as parameters, the statement is prepared after a few
    polls, and its generic plan, like any plan made before the table has statistics (a big
    feed's first poll, in one transaction), reads every item of the feed through the
    ``feed_id`` index and walks the whole list for each: about a second per chunk once a feed
    holds 70,000 items. Columns, not ORM objects: tens of thousands of entries in the session
    would make every autoflush walk them all.
    """
    among: sa.BindParameter[list[str]] = sa.bindparam("keys", keys, expanding=True, literal_execute=True)
    rows = session.execute(
        sa.select(col(Entry.id), col(Entry.item_key), col(Entry.fingerprint), col(Entry.status)).where(
            col(Entry.feed_id) == feed_id, col(Entry.item_key).in_(among)
        )
    )
    return {key: (eid, fingerprint, status) for eid, key, fingerprint, status in rows.all()}


def _insert_chunk(session: Session, feed_id: int, chunk: list[records.Entry], now: datetime) -> list[int]:
    try:
        with session.begin_nested():
            return _insert_entries(session, [_entry_values(feed_id, e, now) for e in chunk])
    except (DataError, IntegrityError) as exc:
        log.warning("a chunk of entries was refused; storing them one by one", extra={"feed_id": feed_id})
        if len(chunk) == 1:
            (e,) = chunk
            record_failure(
                session,
                stage="poll",
                error=type(exc.orig or exc).__name__,
                reason=f"entry {e.guid[:80]!r} refused by the database: {str(exc.orig or exc).splitlines()[0][:300]}",
                url=e.url[:MAX_FIELD_CHARS],
                feed_id=feed_id,
            )
            return []
        return [i for e in chunk for i in _insert_chunk(session, feed_id, [e], now)]


def undispatched_entries(session: Session, feed_id: int) -> list[int]:
    """The feed's entries stored but never sent to be fetched (a poll killed between storing
    them and sending their messages): the next poll of the feed sends them."""
    q = select(col(Entry.id)).where(Entry.feed_id == feed_id, Entry.status == "new", col(Entry.dispatched_at).is_(None))
    return [i for i in session.exec(q.order_by(col(Entry.id))).all() if i is not None]


def mark_entry(session: Session, entry: Entry, status: str, reason: str | None, article_id: int | None = None) -> None:
    """Set an entry's status and the reason an operator reads (duplicate of what, and why)."""
    entry.status, entry.reason = status, reason
    if article_id is not None:
        entry.article_id = article_id


def entry_reasons(session: Session, feed_id: int | None = None, limit: int = 100) -> list[Entry]:
    """Entries carrying a reason (duplicates with what they duplicate, items fetched again
    because their feed updated them), newest first; of one feed, or of all."""
    q = select(Entry).where(col(Entry.reason).is_not(None))
    if feed_id is not None:
        q = q.where(Entry.feed_id == feed_id)
    return list(session.exec(q.order_by(col(Entry.id).desc()).limit(limit)).all())


def pending_entry_ids(session: Session, *, after: int = 0, up_to: int | None = None, limit: int = 1000) -> list[int]:
    """Ids of entries still to fetch, in id order: one page of at most `limit` after the id
    `after` (keyset paging: page on with the last id returned), none above `up_to`."""
    cond = sa.and_(col(Entry.status) == "new", col(Entry.id) > after)
    if up_to is not None:
        cond = sa.and_(cond, col(Entry.id) <= up_to)
    rows = session.exec(select(col(Entry.id)).where(cond).order_by(col(Entry.id)).limit(limit)).all()
    return [r for r in rows if r is not None]


def last_entry_id(session: Session) -> int:
    """The highest entry id so far (0 when there is none)."""
    return int(session.execute(sa.select(sa.func.max(col(Entry.id)))).scalar() or 0)


def release_feeds(session: Session, feed_ids: Sequence[int]) -> None:
    """Give up the poll lease on feeds claimed but not polled (due again at once)."""
    if feed_ids:
        session.execute(sa.update(Feed).where(col(Feed.id).in_(list(feed_ids))).values(lease_until=None))


def entry_record(row: Entry) -> records.Entry:
    return records.Entry(
        guid=row.guid,
        url=row.url,
        title=row.title,
        published_at=row.published_at,
        fingerprint=row.fingerprint,
        seen_at=row.seen_at,
    )


def find_article(session: Session, *urls: str) -> Article | None:
    """An article already stored under any of `urls` (as fetched or canonical)."""
    return session.exec(
        select(Article).where(sa.or_(col(Article.url).in_(urls), col(Article.canonical_url).in_(urls)))
    ).first()


@dataclass(frozen=True)
class Stored:
    """What :func:`store_article` did: ``created``, ``updated`` (an updated item's new text),
    ``unchanged``, or ``duplicate`` of ``article_id``; ``reason`` says why for the last three."""

    article_id: int
    outcome: str
    reason: str | None = None


def _article_values(article: records.Article, content_hash: str, minhash: bytes | None) -> dict[str, Any]:
    return {
        "title": article.title,
        "text": article.text,
        "published_at": article.published_at,
        "author": article.author,
        "language": article.language,
        "dateline_place": article.dateline.place if article.dateline else None,
        "dateline_agency": article.dateline.agency if article.dateline else None,
        "content_hash": content_hash,
        "minhash": minhash,
    }


def update_article(
    session: Session, article_id: int, article: records.Article, *, content_hash: str, minhash: bytes | None
) -> Stored:
    """An updated feed item's page, fetched again: replace the stored text when it changed
    and queue the article for extraction again (its reports are then updated in place)."""
    row = session.get_one(Article, article_id)
    if row.content_hash == content_hash and row.title == article.title:
        return Stored(article_id, "unchanged", "the page's text is unchanged")
    for key, value in _article_values(article, content_hash, minhash).items():
        setattr(row, key, value)
    row.status, row.nlp_attempts, row.extracted_at = "fetched", 0, None
    row.nlp_lease_until = row.nlp_claim = None
    return Stored(article_id, "updated", "the page's text changed")


def store_article(
    session: Session,
    article: records.Article,
    *,
    feed_id: int | None,
    content_hash: str,
    minhash: bytes | None,
    copy_of_id: int | None,
) -> Stored:
    """Insert the article once, whichever URL reached it.

    It is a duplicate of a stored article reached by the same link or with the same canonical
    URL (its own address without tracking parameters or AMP suffix). A page whose canonical URL
    it *declared* for another address (rel=canonical, same site) is a duplicate only with the
    same text (exactly, or as a near-duplicate: `copy_of_id`); with other text it is another
    article, stored under its own URL: a page cannot suppress another by declaring its URL."""
    existing = session.exec(select(Article).where(Article.url == article.url)).first()
    if existing is not None and existing.id is not None:
        return Stored(existing.id, "duplicate", f"same link as article {existing.id} ({existing.url})")
    keys = list(dict.fromkeys([article.canonical_url, article.url]))
    for key in keys:
        other = find_article(session, key)
        if other is None:
            break
        assert other.id is not None
        if not article.canonical_declared:
            return Stored(other.id, "duplicate", f"same canonical URL as article {other.id} ({other.canonical_url})")
        if other.content_hash == content_hash or copy_of_id == other.id:
            return Stored(
                other.id,
                "duplicate",
                f"declares the canonical URL of article {other.id} ({other.canonical_url}) and has the same text",
            )
    else:
        assert other is not None and other.id is not None
        return Stored(other.id, "duplicate", f"its URL is already article {other.id} ({other.url})")
    row = Article(
        url=article.url,
        canonical_url=key,
        feed_id=feed_id,
        source=article.source,
        copy_of_id=copy_of_id,
        **_article_values(article, content_hash, minhash),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # stored concurrently by another worker
        existing = find_article(session, article.url, key)
        assert existing is not None and existing.id is not None
        return Stored(existing.id, "duplicate", f"stored concurrently as article {existing.id} ({existing.url})")
    assert row.id is not None
    return Stored(row.id, "created")


def article_record(row: Article) -> records.Article:
    dateline = records.Dateline(row.dateline_place, row.dateline_agency, 0) if row.dateline_place else None
    return records.Article(
        url=row.url,
        canonical_url=row.canonical_url,
        title=row.title,
        text=row.text,
        published_at=row.published_at,
        source=row.source,
        author=row.author,
        language=row.language,
        dateline=dateline,
    )


def claim_articles_for_nlp(
    session: Session, limit: int, lease: timedelta, ids: Sequence[int] = (), claimant: str | None = None
) -> list[Article]:
    """Claim up to `limit` fetched articles not yet extracted (optionally only among `ids`).

    Articles whose lease has expired, or that `claimant` itself leased before (a redelivered
    task whose process died), can be claimed."""
    now = utcnow()
    free = sa.or_(col(Article.nlp_lease_until).is_(None), col(Article.nlp_lease_until) < now)
    if claimant:
        free = sa.or_(free, col(Article.nlp_claim) == claimant)
    cond = sa.and_(col(Article.status) == "fetched", free)
    if ids:
        cond = sa.and_(cond, col(Article.id).in_(list(ids)))
    suspect = session.exec(
        select(col(Article.id)).where(cond, col(Article.nlp_attempts) > 0).order_by(col(Article.id)).limit(1)
    ).first()
    if suspect is not None:  # a batch holding it gave up before: extract it alone
        cond, limit = col(Article.id) == suspect, 1
    pick = sa.select(col(Article.id)).where(cond).order_by(col(Article.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        sa.update(Article)
        .where(col(Article.id).in_(pick.scalar_subquery()))
        .values(nlp_lease_until=now + lease, nlp_claim=claimant)
        .returning(col(Article.id))
    )
    claimed = sorted(session.execute(stmt).scalars().all())
    if not claimed:
        return []
    return list(session.exec(select(Article).where(col(Article.id).in_(claimed)).order_by(col(Article.id))).all())


def _report_values(inc: records.Incident) -> dict[str, Any]:
    loc = inc.location
    return {
        "data": inc.to_dict(),
        "event_type": inc.event_type,
        "date": inc.date,
        "country": loc.country if loc else None,
        "lat": loc.lat if loc else None,
        "lon": loc.lon if loc else None,
        "killed_best": inc.killed.best,
    }


def refresh_reports(session: Session, article_id: int, incidents: Sequence[records.Incident]) -> set[str]:
    """An article extracted again (its text changed): update its stored reports in place,
    keeping their links, and withdraw those it no longer makes; returns the ids of the
    incidents to recompute (their history then shows the change). Reports it makes anew
    are left to :func:`store_reports`."""
    touched: set[str] = set()
    for row in session.exec(select(Report).where(Report.article_id == article_id)).all():
        if row.ordinal >= len(incidents):
            if row.incident_id:
                touched.add(row.incident_id)
            session.delete(row)
            continue
        values = _report_values(incidents[row.ordinal])
        if values["data"] != row.data:
            for key, value in values.items():
                setattr(row, key, value)
            if row.incident_id:
                touched.add(row.incident_id)
    session.flush()
    return touched


def store_reports(session: Session, article_id: int, incidents: Sequence[records.Incident]) -> list[int]:
    """Store the article's incidents as reports (idempotent per (article, ordinal))."""
    existing = {r.ordinal: r.id for r in session.exec(select(Report).where(Report.article_id == article_id)).all()}
    ids: list[int] = []
    for ordinal, inc in enumerate(incidents):
        if ordinal in existing:
            rid = existing[ordinal]
            assert rid is not None
            ids.append(rid)
            continue
        row = Report(article_id=article_id, ordinal=ordinal, **_report_values(inc))
        session.add(row)
        session.flush()
        assert row.id is not None
        ids.append(row.id)
    article = session.get_one(Article, article_id)
    article.status = "extracted"
    article.extracted_at = utcnow()
    article.nlp_lease_until = None
    article.nlp_claim = None
    return ids


def record_failure(
    session: Session,
    *,
    stage: str,
    error: BaseException | str,
    reason: str | None = None,
    url: str | None = None,
    feed_id: int | None = None,
    entry_id: int | None = None,
    article_id: int | None = None,
    task_id: str | None = None,
    attempts: int = 1,
) -> None:
    """Record what failed and why (never silently dropped)."""
    name = error if isinstance(error, str) else type(error).__name__
    session.add(
        Failure(
            stage=stage,
            error=name[:64],
            reason=(reason or str(error))[:4000],
            url=url,
            feed_id=feed_id,
            entry_id=entry_id,
            article_id=article_id,
            task_id=task_id,
            attempts=attempts,
        )
    )


def fail_articles(session: Session, article_ids: Sequence[int]) -> None:
    """Mark articles whose extraction gave up as failed (they are not claimed again)."""
    if article_ids:
        session.execute(
            sa.update(Article)
            .where(col(Article.id).in_(list(article_ids)), col(Article.status) == "fetched")
            .values(status="failed")
        )


def hold_articles(session: Session, article_ids: Sequence[int], reason: str) -> None:
    """Extraction stopped by the machine, not the articles: mark them ``held`` (not claimed
    again, not failed) and record why against each; :func:`release_held` takes them back."""
    rows = session.exec(select(Article).where(col(Article.id).in_(list(article_ids)))).all()
    for a in rows:
        a.status, a.nlp_claim, a.nlp_lease_until = "held", None, None
        record_failure(session, stage="extract", error="EnvironmentFault", reason=reason, article_id=a.id, url=a.url)


def release_held(session: Session) -> int:
    """Queue every held article for extraction again (a worker started with its checks
    passing: the environment problem is fixed). Returns how many."""
    stmt = (
        sa.update(Article)
        .where(col(Article.status) == "held")
        .values(status="fetched", nlp_attempts=0)
        .returning(col(Article.id))
    )
    return len(session.execute(stmt).all())


def unlinked_report_ids(session: Session, among: Sequence[int] | None = None) -> list[int]:
    """Reports without an incident, in publication order (then URL and position): linking in a
    fixed order makes the result independent of the order articles happened to arrive in."""
    q = (
        select(col(Report.id))
        .join(Article, col(Article.id) == col(Report.article_id))
        .where(col(Report.incident_id).is_(None))
    )
    if among is not None:
        q = q.where(col(Report.id).in_(list(among)))
    q = q.order_by(col(Article.published_at), col(Article.url), col(Report.ordinal))
    return [r for r in session.exec(q).all() if r is not None]


def release_nlp_claim(session: Session, claimant: str, max_attempts: int = 2) -> list[Article]:
    """An extraction task gave up: count an attempt on each article it held and release them;
    articles that reached `max_attempts` (the last time alone) are marked failed and returned."""
    rows = list(session.exec(select(Article).where(Article.nlp_claim == claimant, Article.status == "fetched")).all())
    failed = []
    for a in rows:
        a.nlp_attempts += 1
        a.nlp_claim, a.nlp_lease_until = None, None
        if a.nlp_attempts >= max_attempts:
            a.status = "failed"
            failed.append(a)
    return failed


def claim_stranded_entries(session: Session, *, older_than: timedelta, limit: int = 500) -> list[int]:
    """Entries still new whose fetch was never sent or was sent long ago (lost with a broker
    outage): mark them dispatched now and return them, to be sent again. Fetching is
    idempotent, so a fetch that was merely slow costs one extra no-op message."""
    now = utcnow()
    stale = sa.and_(
        col(Entry.status) == "new",
        sa.or_(
            sa.and_(col(Entry.dispatched_at).is_(None), col(Entry.seen_at) < now - older_than),
            col(Entry.dispatched_at) < now - older_than,
        ),
    )
    pick = sa.select(col(Entry.id)).where(stale).order_by(col(Entry.id)).limit(limit).scalar_subquery()
    stmt = sa.update(Entry).where(col(Entry.id).in_(pick)).values(dispatched_at=now).returning(col(Entry.id))
    return sorted(session.execute(stmt).scalars().all())


def mark_dispatched(session: Session, entry_ids: Sequence[int]) -> None:
    if entry_ids:
        session.execute(sa.update(Entry).where(col(Entry.id).in_(list(entry_ids))).values(dispatched_at=utcnow()))

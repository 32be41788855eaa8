"""Repository functions: every read and write the jobs need, one small function each.

Writes are idempotent: inserts go through unique constraints (a re-delivered message finds
its row already there), claims are conditional updates (two schedulers cannot both claim a
feed, two NLP workers cannot both claim an article).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from worker import records
from worker.settings import FeedSettings
from worker.store.models import Article, Entry, Failure, Feed, Report, utcnow


def sync_feeds(session: Session, feeds: Iterable[FeedSettings], default_interval: int) -> int:
    """Insert configured feeds that are not in the database yet; update name/interval of known ones."""
    added = 0
    for spec in feeds:
        feed = session.exec(select(Feed).where(Feed.url == spec.url)).first()
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


def add_entries(session: Session, feed_id: int, entries: Sequence[records.Entry]) -> list[int]:
    """Insert entries not seen before for this feed (by GUID); returns the new entry ids."""
    if not entries:
        return []
    guids = [e.guid for e in entries]
    known = set(session.exec(select(Entry.guid).where(Entry.feed_id == feed_id, col(Entry.guid).in_(guids))).all())
    new_ids: list[int] = []
    for e in entries:
        if e.guid in known:
            continue
        known.add(e.guid)
        row = Entry(feed_id=feed_id, guid=e.guid, url=e.url, title=e.title, published_at=e.published_at)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a concurrent poll inserted it first
            continue
        assert row.id is not None
        new_ids.append(row.id)
    return new_ids


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
    return records.Entry(guid=row.guid, url=row.url, title=row.title, published_at=row.published_at)


def find_article(session: Session, *urls: str) -> Article | None:
    """An article already stored under any of `urls` (as fetched or canonical)."""
    return session.exec(
        select(Article).where(sa.or_(col(Article.url).in_(urls), col(Article.canonical_url).in_(urls)))
    ).first()


def store_article(
    session: Session,
    article: records.Article,
    *,
    feed_id: int | None,
    content_hash: str,
    minhash: bytes | None,
    copy_of_id: int | None,
) -> tuple[int, bool]:
    """Insert the article; (id, True) when new, (existing id, False) when already stored."""
    existing = find_article(session, article.url, article.canonical_url)
    if existing is not None:
        assert existing.id is not None
        return existing.id, False
    row = Article(
        url=article.url,
        canonical_url=article.canonical_url,
        feed_id=feed_id,
        title=article.title,
        text=article.text,
        published_at=article.published_at,
        source=article.source,
        author=article.author,
        language=article.language,
        dateline_place=article.dateline.place if article.dateline else None,
        dateline_agency=article.dateline.agency if article.dateline else None,
        content_hash=content_hash,
        minhash=minhash,
        copy_of_id=copy_of_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # stored concurrently by another worker
        existing = find_article(session, article.url, article.canonical_url)
        assert existing is not None and existing.id is not None
        return existing.id, False
    assert row.id is not None
    return row.id, True


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
        loc = inc.location
        row = Report(
            article_id=article_id,
            ordinal=ordinal,
            data=inc.to_dict(),
            event_type=inc.event_type,
            date=inc.date,
            country=loc.country if loc else None,
            lat=loc.lat if loc else None,
            lon=loc.lon if loc else None,
            killed_best=inc.killed.best,
        )
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

"""What an operator does to feeds and failures (``wirewatch feeds``, ``failures``, ``status``).

    find_feed(s, "12" | URL)      -> Feed | None        (removed feeds included)
    set_enabled(s, feed, on)      -> changed?           (a disabled feed is never claimed for a poll)
    remove_feed(s, feed, now)     -> entries dropped    (a tombstone: the row and its evidence stay)
    restore_feed(s, feed)         -> entries reopened   (`feeds add` of a removed URL)
    list_failures(s, ...)         -> recorded failures, newest first
    retry_failure(s, failure, now) -> Retry             (its subject queued again, or why not)
    overview(s, now)              -> Overview           (the figures `wirewatch status` prints)

Removing a feed keeps its row as a tombstone (``removed_at``, never polled): its entries,
their articles, and the reports and incidents drawn from them are evidence and stay as they
are; entries not fetched yet are marked ``dropped`` (with the reason) so no worker fetches
them, and :func:`restore_feed` reopens them. A feed config.toml lists is thus not added back
by the next start (``repo.sync_feeds`` skips tombstones and says so).

Retrying a failure acts on its subject, in this order: an article (failed or held) goes
back to the extraction queue (the service's extraction safety net, or the next ``ingest
--once``, takes it); an entry (failed) goes back to ``new`` with no dispatch time, so the
service's next tick sends it (the stranded-entry sweep, once ``scheduler.stranded_after``
has passed since the entry was first seen) and the next ``ingest --once`` fetches it; a feed
whose last poll failed becomes due now rather than after its backoff. A subject already
done, removed, disabled or absent is reported as such and the failure is left unmarked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from worker.store.models import Article, Entry, Failure, Feed

#: Feed states as `wirewatch feeds list` shows them.
REMOVED, DISABLED, FAILING, NEW, OK = "removed", "disabled", "failing", "new", "ok"
DROPPED_REASON = "not fetched: its feed was removed (`wirewatch feeds remove`)"


def find_feed(session: Session, ref: str) -> Feed | None:
    """The feed with id `ref` (all digits) or URL `ref`, removed ones included."""
    ref = ref.strip()
    if ref.isdigit():
        return session.get(Feed, int(ref))
    return session.exec(select(Feed).where(Feed.url == ref)).first()


def feed_state(feed: Feed) -> str:
    """removed | disabled | failing (its last poll failed) | new (never polled) | ok."""
    if feed.removed_at is not None:
        return REMOVED
    if not feed.enabled:
        return DISABLED
    if feed.error_count:
        return FAILING
    return OK if feed.last_polled_at is not None else NEW


def set_enabled(session: Session, feed: Feed, enabled: bool) -> bool:
    """Enable or disable polling of `feed`; False when it already was so. An enabled feed is
    due at once (it may have missed many polls); a disabled one gives up its poll lease."""
    if feed.enabled == enabled:
        return False
    feed.enabled = enabled
    feed.lease_until = None
    feed.next_poll_at = None if enabled else feed.next_poll_at
    session.add(feed)
    return True


def remove_feed(session: Session, feed: Feed, now: datetime) -> int:
    """Make `feed` a tombstone (see the module docstring); returns how many of its entries,
    not fetched yet, were dropped."""
    feed.removed_at, feed.enabled, feed.lease_until = now, False, None
    session.add(feed)
    stmt = (
        sa.update(Entry)
        .where(col(Entry.feed_id) == feed.id, col(Entry.status) == "new")
        .values(status="dropped", reason=DROPPED_REASON)
        .returning(col(Entry.id))
    )
    return len(session.execute(stmt).all())


def restore_feed(session: Session, feed: Feed) -> int:
    """Bring a removed feed back (enabled, due now); its dropped entries are queued again
    (their items are known, so a poll would not offer them anew). Returns how many."""
    feed.removed_at, feed.enabled, feed.next_poll_at, feed.lease_until = None, True, None, None
    session.add(feed)
    stmt = (
        sa.update(Entry)
        .where(col(Entry.feed_id) == feed.id, col(Entry.status) == "dropped")
        .values(status="new", reason=None, dispatched_at=None)
        .returning(col(Entry.id))
    )
    return len(session.execute(stmt).all())


# ------------------------------------------------------------------------------ failures


def list_failures(
    session: Session,
    *,
    since: datetime | None = None,
    feed_id: int | None = None,
    limit: int | None = 50,
    unretried: bool = False,
) -> list[Failure]:
    """Recorded failures, newest first: since a time, of one feed, not yet retried.

    A feed's failures are its polls' and those of its entries and articles: an extraction
    failure names only the article, so it is found through the article's feed."""
    q = select(Failure)
    if since is not None:
        q = q.where(col(Failure.at) >= since)
    if feed_id is not None:
        q = q.where(
            sa.or_(
                col(Failure.feed_id) == feed_id,
                col(Failure.entry_id).in_(select(Entry.id).where(col(Entry.feed_id) == feed_id)),
                col(Failure.article_id).in_(select(Article.id).where(col(Article.feed_id) == feed_id)),
            )
        )
    if unretried:
        q = q.where(col(Failure.retried_at).is_(None))
    q = q.order_by(col(Failure.at).desc(), col(Failure.id).desc())
    return list(session.exec(q.limit(limit) if limit else q).all())


@dataclass(frozen=True)
class Retry:
    """What retrying one failure did: `queued` its subject again, or not; `what` says which
    and how it will be picked up, or why nothing was done."""

    failure_id: int
    queued: bool
    what: str


def _retry_article(session: Session, article_id: int) -> tuple[bool, str]:
    article = session.get(Article, article_id)
    if article is None:
        return False, f"article {article_id} no longer exists"
    if article.status in ("failed", "held"):
        article.status, article.nlp_attempts, article.nlp_claim, article.nlp_lease_until = "fetched", 0, None, None
        session.add(article)
        return True, f"article {article_id} queued for extraction again"
    if article.status == "fetched":
        return False, f"article {article_id} is already waiting for extraction"
    return False, f"article {article_id} is already {article.status}: nothing to retry"


def _retry_entry(session: Session, entry_id: int) -> tuple[bool, str]:
    entry = session.get(Entry, entry_id)
    if entry is None:
        return False, f"entry {entry_id} no longer exists"
    if entry.status == "dropped":
        return False, f"entry {entry_id}: its feed was removed (`wirewatch feeds add URL` restores it)"
    if entry.status == "failed":
        entry.status, entry.attempts, entry.dispatched_at = "new", 0, None
        session.add(entry)
        return True, f"entry {entry_id} queued to be fetched again ({entry.url})"
    if entry.status == "new":
        return False, f"entry {entry_id} is already waiting to be fetched"
    return False, f"entry {entry_id} is already {entry.status}: nothing to retry"


def _retry_feed(session: Session, feed_id: int, now: datetime) -> tuple[bool, str]:
    feed = session.get(Feed, feed_id)
    if feed is None or feed.removed_at is not None:
        return False, f"feed {feed_id} was removed"
    if not feed.enabled:
        return False, f"feed {feed_id} is disabled: `wirewatch feeds enable {feed_id}` first"
    if not feed.error_count:  # polling it now would bring nothing its next regular poll does not
        return False, f"feed {feed_id}: its last poll succeeded, nothing to retry"
    feed.next_poll_at, feed.lease_until = now, None
    session.add(feed)
    return True, f"feed {feed_id} due for polling now"


def retry_failure(session: Session, failure: Failure, now: datetime) -> Retry:
    """Queue the subject of `failure` again (see the module docstring); a queued failure is
    marked ``retried_at`` (a new failure of the retry is a new row)."""
    assert failure.id is not None
    if failure.article_id is not None:
        queued, what = _retry_article(session, failure.article_id)
    elif failure.entry_id is not None:
        queued, what = _retry_entry(session, failure.entry_id)
    elif failure.feed_id is not None and failure.stage in ("poll", "task"):
        queued, what = _retry_feed(session, failure.feed_id, now)
    else:
        queued, what = False, f"nothing to retry: no feed, entry or article recorded ({failure.stage})"
    if queued:
        failure.retried_at = now
        session.add(failure)
    return Retry(failure.id, queued, what)


# -------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Overview:
    """The database's side of `wirewatch status`."""

    feeds: dict[str, int]  # by state (see feed_state), removed feeds left out
    oldest_success: tuple[Feed, datetime | None] | None  # the enabled feed polled successfully longest ago
    entries_waiting: int  # not fetched yet
    articles_waiting: int  # fetched, not extracted yet
    articles_held: int  # held by an environment problem
    failures_24h: int
    last_poll: datetime | None


def _count(session: Session, model: type[Entry | Article | Failure], *where: sa.ColumnElement[bool]) -> int:
    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def overview(session: Session, now: datetime) -> Overview:
    """Feed states, the stalest feed, the backlog and the last day's failures."""
    feeds = [f for f in session.exec(select(Feed).order_by(col(Feed.id))).all() if f.removed_at is None]
    states: dict[str, int] = dict.fromkeys((OK, FAILING, NEW, DISABLED), 0)
    for f in feeds:
        states[feed_state(f)] += 1
    polled = [f for f in feeds if f.enabled]
    stalest = min(polled, key=lambda f: (f.last_success_at is not None, f.last_success_at or now), default=None)
    return Overview(
        feeds=states,
        oldest_success=(stalest, stalest.last_success_at) if stalest is not None else None,
        entries_waiting=_count(session, Entry, col(Entry.status) == "new"),
        articles_waiting=_count(session, Article, col(Article.status) == "fetched"),
        articles_held=_count(session, Article, col(Article.status) == "held"),
        failures_24h=_count(session, Failure, col(Failure.at) >= now - timedelta(days=1)),
        last_poll=max((f.last_polled_at for f in feeds if f.last_polled_at), default=None),
    )

"""Celery tasks: thin adapters from messages (ids only) to jobs.

Every task is idempotent (database constraints and status columns make re-delivery
harmless), acks late, has time limits, and retries transient failures with capped backoff.
A delivery guard counts how often a message was delivered: with
``task_reject_on_worker_lost`` a task whose process dies is requeued, and without a bound a
task that always kills its process would run forever. After ``worker.max_deliveries``
deliveries the task is recorded as failed instead of run.

A permanent failure (a dead feed, a page gone) is recorded by the job, which returns; the task
then raises `FailureRecorded` so that Celery's events, and Flower, show FAILURE with a one-line
reason. It is one of the task's ``throws`` (Celery logs it as one INFO line, no traceback) and
not a Transient (no autoretry). Messages carry ids only; ``argsrepr`` names the feed or entry
and its URL for the worker log and Flower ("feed 3 https://example.org/rss").
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject, Retry, SecurityWarning
from celery.signals import celeryd_init, worker_init, worker_ready
from kombu.exceptions import OperationalError

from worker import jobs
from worker.celery_app import app
from worker.errors import ConfigError, FailureRecorded, ResourceExhausted, Transient
from worker.queues import ROUTES, Queue
from worker.resources import Resources, get_resources
from worker.settings import get_settings

log = logging.getLogger(__name__)
DELIVERY_KEY = "wirewatch:deliveries:{}"
NLP_SCHEDULED_KEY = "wirewatch:nlp:scheduled"
NLP_WINDOW_SECONDS = 2
RESOURCE_RETRY_SECONDS = 15
POLL_EXPIRES = 600
REPR_MAX = 300  # characters of a URL or a reason shown in a task's argsrepr or failure


class RootRefused(SystemExit):
    """Raised at worker start when running as root outside development."""


def refuse_root(euid: int, environment: str, allow_root: bool) -> None:
    """Worker processes refuse to run as root outside development (a compromised parser or
    extractor would own the machine)."""
    if euid == 0 and environment != "development" and not allow_root:
        raise RootRefused(
            "refusing to run a Wirewatch worker as root in production: run it as an unprivileged "
            "user (the Docker image does), or set worker.allow_root = true"
        )


@celeryd_init.connect
def _check_user(**_: Any) -> None:
    """Apply the root policy before Celery's own check (``check_privileges`` runs right after
    this signal): a refused start stops with our one line, and an allowed one does not print
    Celery's multi-line SecurityWarning as well; ``_note_root`` says it once, in our format."""
    s = get_settings()
    refuse_root(os.geteuid(), s.environment, s.worker.allow_root)
    if os.geteuid() == 0:
        warnings.filterwarnings("ignore", category=SecurityWarning)


@worker_ready.connect
def _note_root(sender: Any = None, **_: Any) -> None:
    """One line per worker that runs as root, saying why it is allowed to."""
    if os.geteuid() == 0:
        s = get_settings()
        why = (
            "worker.allow_root is set"
            if s.worker.allow_root
            else f"environment is {s.environment}; production refuses it unless worker.allow_root"
        )
        log.warning("%s runs as root (allowed: %s)", getattr(sender, "hostname", "worker"), why)


@worker_init.connect
def _preload_nlp(sender: Any = None, **_: Any) -> None:
    """On a worker that consumes the NLP queue, load spaCy and the gazetteer in the parent
    process before the pool forks: children share them copy-on-write, and a child that dies
    is replaced without reloading the model."""
    queues = getattr(getattr(getattr(sender, "app", None), "amqp", None), "queues", None)
    if queues is None or Queue.NLP.value not in (getattr(queues, "consume_from", None) or {}):
        return
    from worker.checks import StartupRefused, check_nlp

    try:
        check_nlp(get_settings().nlp.model)  # loads and warms the model and the gazetteer
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise StartupRefused(2) from exc
    try:
        released = jobs.release_held(get_resources())
    except Transient as exc:  # the database is down: the next start (or an operator) releases them
        log.warning("could not release held articles: %s", exc)
    else:
        if released:
            log.warning("%d articles held by an environment problem are queued for extraction again", released)


@functools.cache
def redis_client() -> redis.Redis:
    url = get_settings().broker.url
    if url.startswith("redis+socket://"):
        url = "unix://" + url[len("redis+socket://") :]
    return redis.Redis.from_url(url)


class GuardedTask(Task):  # type: ignore[misc]
    """Base task: delivery guard, retries with backoff, failures recorded when giving up."""

    abstract = True
    acks_late = True
    autoretry_for = (Transient,)
    throws = (FailureRecorded,)  # an expected outcome for Celery: FAILURE, logged in one line
    retry_backoff = True
    retry_jitter = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        settings = get_settings()
        self.retry_backoff_max = settings.worker.retry_backoff_max
        self.max_retries = settings.worker.max_retries
        task_id = self.request.id
        if task_id and not self.request.called_directly:
            key = DELIVERY_KEY.format(task_id)
            try:
                deliveries = int(redis_client().incr(key))
                redis_client().expire(key, 2 * settings.broker.visibility_timeout)
            except redis.RedisError as exc:
                # Redis (the broker too) is down: failing here would record the task as failed
                # and mark its entry failed. Leave the message unacknowledged instead: it is
                # requeued, or restored after the visibility timeout when Redis is back.
                raise Reject(f"delivery guard unavailable: {exc}", requeue=True) from exc
            # Retries are new deliveries of the same id; only deliveries beyond them count.
            if deliveries - self.request.retries > settings.worker.max_deliveries:
                log.error("delivery guard: giving up", extra={"task": self.name, "task_id": task_id})
                jobs.record_task_failure(
                    get_resources(),
                    task=self.name,
                    task_id=task_id,
                    attempts=deliveries,
                    error=f"worker lost {deliveries - 1} times",
                    **_subject(self.name, args, kwargs, task_id),
                )
                return None
        return super().__call__(*args, **kwargs)

    def signature_from_request(self, request: Any = None, *args: Any, **options: Any) -> Any:
        """Retries keep the message's ``argsrepr`` (Celery rebuilds it from the ids otherwise)."""
        argsrepr = getattr(request if request is not None else self.request, "argsrepr", None)
        if argsrepr:
            options.setdefault("argsrepr", argsrepr)
        return super().signature_from_request(request, *args, **options)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, (Retry, FailureRecorded)):  # retried, or recorded by the job already
            return
        jobs.record_task_failure(
            get_resources(),
            task=self.name,
            task_id=task_id,
            error=exc,
            attempts=self.request.retries + 1,
            **_subject(self.name, args, kwargs, task_id),
        )


def _subject(name: str, args: Any, kwargs: Any, task_id: str | None) -> dict[str, Any]:
    """What a task that gives up leaves behind: its entry, or its claimed extraction batch."""
    if name == "wirewatch.fetch_entry" and args:
        return {"entry_id": int(args[0])}
    if name == "wirewatch.poll_feed" and args:
        return {"feed_id": int(args[0])}
    if name == "wirewatch.extract_pending":
        return {"nlp_claimant": task_id}
    return {}


def task(name: str, queue: Queue, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register a bound GuardedTask with a stable name; its queue comes from `ROUTES` (Celery's
    task objects are untyped)."""
    if ROUTES.get(name) is not queue:
        raise ValueError(f"{name} must be routed to {queue} in worker.queues.ROUTES")

    def wrap(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def run(self: Task, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except ResourceExhausted as exc:
                # A full disk is not the task's fault and ends when space returns: retry soon and
                # without limit instead of failing the entry after max_retries (the condition is
                # logged once by the store, not once per attempt).
                raise self.retry(exc=exc, countdown=RESOURCE_RETRY_SECONDS, max_retries=None) from exc

        return app.task(name=name, base=GuardedTask, bind=True, **options)(run)

    return wrap


def _named(kind: str, ident: int, url: str | None) -> str:
    """What an operator reads for a task's arguments in the worker log and Flower."""
    return f"{kind} {ident} {(url or '?')[:REPR_MAX]}"


def _failed(subject: str, error: str) -> FailureRecorded:
    return FailureRecorded(f"{subject}: {' '.join(error.split())[:REPR_MAX]}")


def send_polls(res: Resources, feed_ids: list[int]) -> None:
    urls = jobs.feed_urls(res, feed_ids)
    for feed_id in feed_ids:
        poll_feed.apply_async((feed_id,), expires=POLL_EXPIRES, argsrepr=_named("feed", feed_id, urls.get(feed_id)))


def send_fetches(res: Resources, entry_ids: list[int], sent: list[int] | None = None) -> None:
    """Send one fetch per entry, named by its URL, appending each id sent to `sent`: when the
    broker goes away midway the caller knows which went out."""
    urls = jobs.entry_urls(res, entry_ids)
    for entry_id in entry_ids:
        fetch_entry.apply_async((entry_id,), argsrepr=_named("entry", entry_id, urls.get(entry_id)))
        if sent is not None:
            sent.append(entry_id)


# The tick runs every few seconds and finds nothing to do most of the time: it sends no
# monitoring events (beat sends it without a task-sent event, see scheduler.beat), so Flower's
# task list shows the polls and fetches it fans out, not the tick itself; its routine log lines
# are dropped too (worker.logs). A failing tick still logs an error and records a failure.
@task("wirewatch.tick", Queue.IO, expires=60, send_events=False)
def tick(self: Task) -> int:
    """Claim due feeds and fan out one poll per feed; resend fetches that went missing."""
    res = get_resources()
    feed_ids = jobs.tick(res)
    send_polls(res, feed_ids)
    send_fetches(res, jobs.stranded_entries(res))
    return len(feed_ids)


@task("wirewatch.poll_feed", Queue.IO)
def poll_feed(self: Task, feed_id: int) -> int:
    """Poll one feed and enqueue a fetch for each new entry; FailureRecorded when the poll
    failed (recorded, next poll scheduled with backoff by the job).

    The entries are in the database before any message is sent; if the broker goes away
    while sending, the entries left unsent are picked up by beat's tick (stranded entries)."""
    res = get_resources()
    entry_ids = jobs.poll_feed(res, feed_id)
    if not entry_ids and (error := jobs.poll_error(res, feed_id)):
        raise _failed(f"feed {feed_id}", error)
    sent: list[int] = []
    try:
        send_fetches(res, entry_ids, sent)
    except (redis.RedisError, OperationalError) as exc:
        log.warning(
            "broker unavailable; %d fetches left for the stranded-entry sweep: %s",
            len(entry_ids) - len(sent),
            exc,
            extra={"feed_id": feed_id},
        )
    jobs.mark_dispatched(res, sent)
    return len(entry_ids)


@task("wirewatch.fetch_entry", Queue.IO)
def fetch_entry(self: Task, entry_id: int) -> int | None:
    """Fetch, normalize and store one entry's article, then wake the NLP queue; FailureRecorded
    when the entry failed permanently (recorded and marked failed by the job)."""
    res = get_resources()
    article_id = jobs.fetch_entry(res, entry_id)
    if article_id is None and (error := jobs.fetch_error(res, entry_id)):
        raise _failed(f"entry {entry_id}", error)
    if article_id is not None:
        schedule_extraction()
    return article_id


def schedule_extraction() -> None:
    """Send one extraction task per collecting window, so articles arriving together are
    processed in one spaCy batch (``nlp.pipe``) instead of one model call per message."""
    try:
        if redis_client().set(NLP_SCHEDULED_KEY, "1", nx=True, ex=NLP_WINDOW_SECONDS):
            extract_pending.apply_async(countdown=NLP_WINDOW_SECONDS)
    except (redis.RedisError, OperationalError) as exc:
        # The wake-up is only a shortcut: the article is stored and beat's extract safety net
        # claims it within SAFETY_NET_SECONDS. Failing the task here would record a stored
        # article as a failure (seen when Redis restarts mid-task).
        log.warning("NLP wake-up not sent, the safety net will pick the article up", extra={"error": str(exc)})


@task("wirewatch.extract_pending", Queue.NLP)
def extract_pending(self: Task, article_ids: list[int] | None = None) -> int:
    """Extract incidents from a batch of stored articles and link them; loop while full."""
    res = get_resources()
    done = jobs.extract_articles(res, article_ids or (), claimant=self.request.id)
    if not done:
        jobs.link_reports(res)  # the safety net also links reports a killed task left unlinked
    if done and not article_ids:
        try:
            extract_pending.apply_async()  # more may be waiting (a full batch, or suspects taken one by one)
        except (redis.RedisError, OperationalError) as exc:  # the work is done; beat's safety net goes on
            log.warning("broker unavailable; leaving the rest to the extraction safety net: %s", exc)
    return len(done)

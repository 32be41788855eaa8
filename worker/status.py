"""The broker's side of ``wirewatch status``: queue lengths and the workers that answer.

Both are read with a short timeout and never raise: an unreachable broker or a silent worker
pool is a state to report, not an error of the command. Queue lengths are read from Redis
as kombu's Redis transport stores them (a list per queue, one more per priority step; the
``unacked`` hash holds messages delivered to a worker and not acknowledged yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from worker.queues import Queue

#: kombu's Redis transport: a queue's messages of priority p > 0 are in "<queue>\x06\x16<p>".
PRIORITY_SEP, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
UNACKED_KEY = "unacked"


@dataclass(frozen=True)
class BrokerState:
    """Queue lengths by queue name and unacknowledged messages; `error` says why the broker
    could not be read (then the figures are empty)."""

    queues: dict[str, int] = field(default_factory=dict)
    unacked: int = 0
    error: str | None = None


def _redis(url: str, timeout: float) -> redis.Redis:
    if url.startswith("redis+socket://"):
        url = "unix://" + url[len("redis+socket://") :]
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def broker_state(url: str, timeout: float = 1.0) -> BrokerState:
    """How many messages wait on each queue of `url`'s Redis, within `timeout` seconds."""
    try:
        client = _redis(url, timeout)
        with client.pipeline(transaction=False) as pipe:
            for q in Queue:
                for key in (q.value, *(f"{q.value}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS)):
                    pipe.llen(key)
            pipe.hlen(UNACKED_KEY)
            counts = [int(n) for n in pipe.execute()]
        client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return BrokerState(error=f"{type(exc).__name__}: {exc}")
    per = 1 + len(PRIORITY_STEPS)
    queues = {q.value: sum(counts[i * per : (i + 1) * per]) for i, q in enumerate(Queue)}
    return BrokerState(queues=queues, unacked=counts[-1])


def workers_answering(url: str, timeout: float = 1.0) -> list[str]:
    """The names of the Celery workers answering a ping on `url` within `timeout` seconds
    (sorted). Only to be asked once the broker is known to answer: kombu retries a broker it
    cannot reach."""
    from celery import Celery  # the Celery app of the workers reads the settings of its process

    app = Celery("wirewatch-status", broker=url, set_as_current=False)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_timeout = timeout
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)

"""The Celery application: JSON only, late acks, Redis broker, two queues.

Configuration is read from Settings when Celery first needs it (``on_configure``), not at
import time. ``visibility_timeout`` is set wherever Redis redelivery matters (broker and
result transport options) and every time limit and retry backoff stays below it
(``Settings.check`` enforces it at start).
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery
from kombu import Exchange  # type: ignore[attr-defined]
from kombu import Queue as KQueue  # type: ignore[attr-defined]

from worker.errors import ConfigError
from worker.queues import ROUTES, Queue
from worker.settings import Settings, get_settings

app = Celery("wirewatch", include=["worker.tasks", "scheduler.beat"])
import worker.logs  # noqa: E402, F401  (connects the structured log formatter to Celery's loggers)


def redact(url: str) -> str:
    """The URL with any password replaced, for logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def celery_config(settings: Settings) -> dict[str, Any]:
    vt = settings.broker.visibility_timeout
    w = settings.worker
    return {
        "broker_url": settings.broker.url,
        "broker_transport_options": {"visibility_timeout": vt},
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # reconnect forever after a broker restart
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,  # bounded by the delivery guard in worker.tasks
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": w.soft_time_limit,
        "task_time_limit": w.time_limit,
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_default_queue": Queue.IO.value,
        "task_routes": {name: {"queue": q.value} for name, q in ROUTES.items()},
        "task_queues": [KQueue(q.value, Exchange(q.value), routing_key=q.value) for q in Queue],  # type: ignore[no-untyped-call]
        "task_create_missing_queues": False,
        "worker_hijack_root_logger": False,
        "beat_schedule": {},  # filled by scheduler.beat
        "timezone": "UTC",
        "enable_utc": True,
    }


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    try:
        settings = get_settings()
    except ConfigError as exc:
        # A worker, beat or Flower started on a bad configuration stops at once with the one
        # line that names the key (SystemExit is not swallowed by Celery's signal dispatch).
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(2) from exc
    sender.conf.update(celery_config(settings))

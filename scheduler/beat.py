"""Beat only ticks and fans out.

Two periodic entries, each with ``expires`` so a backlog never replays stale ticks:

- ``tick`` every ``scheduler.tick_seconds``: claims the feeds whose ``next_poll_at`` has come
  (an atomic conditional update, so even two beats started by mistake never poll a feed twice
  in one interval) and sends one poll task per feed;
- ``extract_pending`` every 30 s: a safety net that picks up stored articles whose NLP wake-up
  message was lost.

When beat starts it copies the config's feeds into the database.

Beat sends no ``task-sent`` events: its two entries are routine (the tick every few seconds
sends no monitoring events at all, see ``worker.tasks.tick``), and Flower's task list is for
the polls and fetches they fan out. The workers still report the safety net's runs.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import beat_init

from worker import jobs
from worker.celery_app import app
from worker.resources import get_resources
from worker.settings import get_settings

SAFETY_NET_SECONDS = 30.0


@app.on_after_configure.connect
def setup_periodic_tasks(sender: Celery, **_: Any) -> None:
    every = get_settings().scheduler.tick_seconds
    sender.add_periodic_task(every, sender.signature("wirewatch.tick", options={"expires": every}), name="tick")
    sender.add_periodic_task(
        SAFETY_NET_SECONDS,
        sender.signature("wirewatch.extract_pending", options={"expires": SAFETY_NET_SECONDS, "queue": "nlp"}),
        name="extract-safety-net",
    )


@beat_init.connect
def sync_feeds(**_: Any) -> None:
    jobs.sync_config_feeds(get_resources())


@beat_init.connect
def _no_sent_events(**_: Any) -> None:
    app.conf.task_send_sent_event = False  # this process only: beat's routine sends stay out of Flower


if app.configured:  # imported through `include` after configuration: the signal has already fired
    setup_periodic_tasks(app)

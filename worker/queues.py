"""The queues: I/O-bound work (polling, fetching) and CPU-bound work (NLP), scaled apart."""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    IO = "io"
    NLP = "nlp"


# Every task, by its stable name, and the queue it runs on (Celery's `task_routes`).
ROUTES: dict[str, Queue] = {
    "wirewatch.tick": Queue.IO,
    "wirewatch.poll_feed": Queue.IO,
    "wirewatch.fetch_entry": Queue.IO,
    "wirewatch.extract_pending": Queue.NLP,
}

"""Structured logs: every record's extra fields (task, feed, entry and article ids, urls) are
appended as ``key=value`` pairs, so a line can be grepped by id.

    log.info("polled", extra={"feed_id": 3, "new_entries": 12})
    -> 2026-11-24 20:40:01,123 INFO worker.jobs polled feed_id=3 new_entries=12

Every process of ``wirewatch run`` writes this one format: the CLI and the supervisor
(:func:`configure`), the Celery workers and beat (Celery's ``after_setup_logger`` signals
replace its own ``[time: LEVEL/Process]`` format), Flower and tornado (:func:`configure` runs
before Flower starts, so tornado's ``enable_pretty_logging`` finds a handler and adds none).

Routine lines nobody reads are dropped where they are made (:func:`quiet_routine`): the
"sending", "received", "succeeded" (and "discarding expired") lines beat and the worker log
for every few-seconds tick.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
ROUTINE_TASKS = frozenset({"wirewatch.tick"})
# Celery's `data` extra repeats the line's context (with the traceback of an expected failure).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "task_id",
    "task_name",
    "data",
}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if extras:
            line += " " + " ".join(
                f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}" for k, v in sorted(extras.items())
            )
        return line


class Conditions:
    """Conditions of the machine (disk full...) logged once when they start and once when they
    end, however many attempts run into them in between. One instance per process."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._active: dict[str, str] = {}

    def raised(self, condition: str, detail: str) -> None:
        if condition not in self._active:
            self._active[condition] = detail
            self._log.warning(
                "%s: %s; retrying until it clears (logged once)", condition, detail, extra={"condition": condition}
            )

    def cleared(self) -> None:
        """Called after a success: every active condition has ended."""
        if self._active:
            for condition in list(self._active):
                self._log.warning("recovered from %s", condition, extra={"condition": condition})
            self._active.clear()

    @property
    def active(self) -> bool:
        return bool(self._active)


def configure(level: int = logging.INFO) -> None:
    """Root logging for the CLI: one stderr handler with the key=value formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _celery_handlers(logger: logging.Logger, **_: Any) -> None:
    """Celery's handlers get our format, not the one Celery passes (``[time: LEVEL/Process]``)."""
    for handler in logger.handlers:
        handler.setFormatter(KeyValueFormatter(FORMAT))


def _not_routine(record: logging.LogRecord) -> bool:
    """False for the INFO lines of a routine task's run: Celery logs the worker's with a dict
    context, beat's "Sending due task %s (%s)" and the worker's "Discarding revoked task: %s[%s]"
    (an expired tick) with the task's name among their arguments."""
    args = record.args
    if isinstance(args, dict):
        names = {args.get("name")}
    else:
        names = {a for a in args if isinstance(a, str)} if isinstance(args, tuple) else set()
    return record.levelno >= logging.WARNING or not names & ROUTINE_TASKS


def quiet_routine() -> None:
    """Drop Celery's "sending", "received", "succeeded" and "discarding expired" lines for
    ROUTINE_TASKS; their warnings, errors and failures still show."""
    for name in ("celery.beat", "celery.worker.strategy", "celery.worker.request", "celery.app.trace"):
        logger = logging.getLogger(name)
        if _not_routine not in logger.filters:
            logger.addFilter(_not_routine)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # "setup plugin ..." at import


quiet_routine()

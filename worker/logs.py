"""Structured logs: every record's extra fields (task, feed, entry and article ids, urls) are
appended as ``key=value`` pairs, so a line can be grepped by id.

    log.info("polled", extra={"feed_id": 3, "new_entries": 12})
    -> 2026-11-24 20:40:01,123 INFO worker.jobs polled feed_id=3 new_entries=12
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "task_id", "task_name"}


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
def _celery_handlers(logger: logging.Logger, format: str = FORMAT, **_: Any) -> None:  # Celery passes `format`
    for handler in logger.handlers:
        handler.setFormatter(KeyValueFormatter(format))

"""Flower as Wirewatch serves it: ``python -m worker.flower [flower options]``.

Flower takes its logins from ``FLOWER_BASIC_AUTH`` as a comma-separated list of
``user:password``. :func:`basic_auth` builds that value from ``WIREWATCH_FLOWER_USER`` and
``WIREWATCH_FLOWER_PASSWORD`` and refuses what Flower would misread: a comma (the list would
split in two and the fragment after it would become a login of its own), a colon in the user
name (Basic auth ends the user at the first colon), control characters, empty values.

Flower answers ``/metrics`` (task names, worker host names, counts) without credentials;
:func:`main` puts it behind them like every other page. What stays open without credentials:

* ``/healthcheck``: the text "OK" and nothing else, for a load balancer's or orchestrator's
  health probe;
* ``/static/...``: Flower's own JavaScript, CSS and images.

Every other route Flower serves (its pages, ``/api/...``, ``/metrics``) answers 401 without
the login. ``/login`` and ``/logout`` are Flower's OAuth hand-off pages: with Basic auth only
they show nothing. ``tests/integration/test_flower.py`` checks every route of Flower's URL
table against a running Flower, without and with the login.

Logs: Flower writes Wirewatch's one log format (``worker.logs.configure`` before it starts).
Flower asks the workers for their stats as it starts; until a worker is up nobody answers and
it would log "Inspect method ... failed" once per method: those no-answer lines are dropped
(Flower asks again when a worker comes online); inspect errors with a cause still show.
"""

from __future__ import annotations

import logging
import os
import sys
import unicodedata

from worker.errors import ConfigError

USER_ENV, PASSWORD_ENV = "WIREWATCH_FLOWER_USER", "WIREWATCH_FLOWER_PASSWORD"


def basic_auth(user: str | None, password: str | None) -> str:
    """The ``FLOWER_BASIC_AUTH`` value for one login; ConfigError (never echoing the secret)
    when it is missing or holds a character Flower would split or misread."""
    if not user or not password:
        raise ConfigError(f"Flower needs {USER_ENV} and {PASSWORD_ENV} in the environment")
    for name, value in ((USER_ENV, user), (PASSWORD_ENV, password)):
        if "," in value:
            raise ConfigError(f"{name} must not contain a comma (Flower splits its logins on commas)")
        if any(unicodedata.category(c).startswith("C") for c in value):
            raise ConfigError(f"{name} must not contain control characters")
    if ":" in user:
        raise ConfigError(f"{USER_ENV} must not contain a colon (HTTP Basic auth ends the user name there)")
    return f"{user}:{password}"


def _close_metrics() -> None:
    """Make Flower's ``/metrics`` handler require the login, as its other pages do."""
    from flower.views import monitor  # type: ignore[import-untyped]
    from tornado import web

    get = monitor.Metrics.get
    if not getattr(get, "__wirewatch_authenticated__", False):
        guarded = web.authenticated(get)
        guarded.__wirewatch_authenticated__ = True  # type: ignore[attr-defined]
        monitor.Metrics.get = guarded


def _answered(record: logging.LogRecord) -> bool:
    """False for Flower's "Inspect method X failed" without a cause: no worker answered yet."""
    return record.msg != "Inspect method %s failed"


def main(argv: list[str] | None = None) -> None:
    """Run ``celery -A worker.celery_app flower`` with ``/metrics`` behind the login. The login
    comes from ``WIREWATCH_FLOWER_USER``/``WIREWATCH_FLOWER_PASSWORD`` (checked by
    :func:`basic_auth`); without them Flower is not started (exit 2)."""
    from celery.bin.celery import main as celery_main

    try:
        os.environ["FLOWER_BASIC_AUTH"] = basic_auth(os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV))
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(2) from exc
    _close_metrics()
    from worker.logs import configure

    configure(logging.INFO)
    logging.getLogger("flower.inspector").addFilter(_answered)
    sys.argv = ["celery", "-A", "worker.celery_app", "flower", *(sys.argv[1:] if argv is None else argv)]
    celery_main()


if __name__ == "__main__":
    main()

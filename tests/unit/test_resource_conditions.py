"""Issue 11 point 8, the pure part: which errors mean "the machine ran out of something"
(transient, logged once) on SQLite, PostgreSQL and the OS. The SQLite disk-full path runs for
real in ``tests/integration/test_startup.py``."""

from __future__ import annotations

import errno
import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from worker.logs import Conditions
from worker.store.db import resource_condition


@pytest.mark.parametrize(
    ("exc", "condition"),
    [
        (OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")), "disk full"),
        (OperationalError("INSERT", {}, psycopg.errors.DiskFull("could not extend file")), "disk full"),
        (OperationalError("SELECT", {}, psycopg.errors.TooManyConnections("sorry")), "too many connections"),
        (OperationalError("SELECT", {}, psycopg.errors.OutOfMemory("out of memory")), "out of memory"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk full"),
        (OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked")), None),
        (ValueError("disk"), None),
    ],
)
def test_resource_conditions_are_recognised(exc: BaseException, condition: str | None) -> None:
    assert resource_condition(exc) == condition


def test_the_cause_counts_when_a_rollback_error_surfaces() -> None:
    try:
        try:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
        except OperationalError:
            raise OperationalError("ROLLBACK", {}, sqlite3.OperationalError("no such savepoint")) from None
    except OperationalError as surfaced:
        assert resource_condition(surfaced) == "disk full"


def test_a_condition_is_logged_once_until_it_clears(caplog: pytest.LogCaptureFixture) -> None:
    conditions = Conditions(logging.getLogger("test.conditions"))
    with caplog.at_level(logging.WARNING, logger="test.conditions"):
        for _ in range(50):
            conditions.raised("disk full", "database or disk is full")
        conditions.cleared()
        conditions.cleared()
        conditions.raised("disk full", "again")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "disk full",
        "recovered from disk full",
        "disk full",
    ]

"""Engine, sessions and migrations.

One engine per process and database URL, built lazily. SQLite (the embedded default) gets
WAL mode and a busy timeout so the I/O and NLP workers can share the file; PostgreSQL is
used as is. ``upgrade`` applies the Alembic migrations shipped in ``worker/store/migrations``.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlmodel import Session

from worker.errors import ResourceExhausted, StoreUnavailable
from worker.logs import Conditions

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)
CONDITIONS = Conditions(log)
# Resource exhaustion, by the words SQLite and the OS use, and PostgreSQL's SQLSTATE class 53
# (insufficient resources: 53100 disk full, 53200 out of memory, 53300 too many connections).
_RESOURCE_WORDS = {
    "database or disk is full": "disk full",
    "no space left on device": "disk full",
    "disk full": "disk full",
    "could not extend file": "disk full",
    "out of memory": "out of memory",
    "too many connections": "too many connections",
}
_SQLSTATE_53 = {"53100": "disk full", "53200": "out of memory", "53300": "too many connections"}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _note_owner(_dbapi_conn: Any, record: Any) -> None:
    record.info["pid"] = os.getpid()


def _refuse_inherited(_dbapi_conn: Any, record: Any, proxy: Any) -> None:
    """A connection opened by the process this one was forked from (a Celery pool process is
    forked from its worker, which reads the database at start) is never used here: two
    processes on one socket corrupt each other's statements ("prepared statement already
    exists"). The pool drops it, without closing the parent's socket, and connects anew."""
    if record.info.get("pid") != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError(f"connection inherited from process {record.info.get('pid')}")


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file if missing: SQLite creates the file, not its
    directory, and fails with a bare "unable to open database file" otherwise."""
    parsed = sa.engine.make_url(url)
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


# A connection attempt that gets no answer (a half-open proxy, a dropped SYN) fails after this
# many seconds and is retried like any outage, instead of holding a worker forever; TCP
# keepalives find a connection whose peer vanished.
PG_CONNECT_ARGS: dict[str, Any] = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30}


@functools.cache
def get_engine(url: str, echo: bool = False) -> Engine:
    """The process's engine for `url` (cached). SQLite parent directories are created."""
    url = normalize_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = PG_CONNECT_ARGS
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    sa.event.listen(engine, "connect", _note_owner)
    sa.event.listen(engine, "checkout", _refuse_inherited)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    Connection failures become StoreUnavailable (transient: the task retries); a full disk,
    exhausted memory or connections become ResourceExhausted, logged once per condition
    (and once more when a later transaction succeeds).
    """
    session = Session(engine, expire_on_commit=False)
    wrote: list[bool] = []
    if CONDITIONS.active:  # only a write that succeeds says the condition is over, not a read
        sa.event.listen(session, "after_flush", lambda *_: wrote.append(True))
        sa.event.listen(session, "do_orm_execute", lambda st: wrote.append(True) if not st.is_select else None)
    try:
        yield session
        session.commit()
    except (DBAPIError, OSError) as exc:
        _rollback(session)
        if (condition := resource_condition(exc)) is not None:
            CONDITIONS.raised(condition, _first_line(exc))
            raise ResourceExhausted(f"{condition}: {_first_line(exc)}", condition=condition) from exc
        if isinstance(exc, OperationalError) and _is_unavailable(exc):
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc
        raise
    except BaseException:
        session.rollback()
        raise
    else:
        if wrote:
            CONDITIONS.cleared()
    finally:
        session.close()


def _rollback(session: Session) -> None:
    try:
        session.rollback()
    except (DBAPIError, OSError) as exc:  # the connection is gone with the failure
        log.debug("rollback failed: %s", exc)


def _first_line(exc: BaseException) -> str:
    while exc.__context__ is not None and resource_condition(exc.__context__) is not None:
        exc = exc.__context__  # the error that says what ran out, not the rollback after it
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]


def resource_condition(exc: BaseException) -> str | None:
    """The resource a database or OS error says ran out ("disk full"...), else None. The
    exceptions it was raised from count too: SQLite rolls a transaction back by itself when
    the disk is full, and the error that surfaces is the savepoint rollback that follows."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 8:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        if (condition := _condition_of(e)) is not None:
            return condition
        todo += [e.__cause__, e.__context__]
    return None


def _condition_of(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError) and orig.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if isinstance(orig, OSError) and orig.errno == errno.ENOMEM:
        return "out of memory"
    if (state := getattr(orig, "sqlstate", None)) and str(state) in _SQLSTATE_53:
        return _SQLSTATE_53[str(state)]
    text = str(orig).lower()
    return next((c for words, c in _RESOURCE_WORDS.items() if words in text), None)


def _is_unavailable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(
        s in text
        for s in ("connection", "could not connect", "server closed", "terminating", "database is locked", "timeout")
    )


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def current_revision(url: str) -> str | None:
    """The migration the database is at; None for a database without Wirewatch tables."""
    ensure_sqlite_dir(url)
    normalized = normalize_url(url)
    args = PG_CONNECT_ARGS if normalized.startswith("postgresql") else {}
    engine = sa.create_engine(normalized, poolclass=sa.pool.NullPool, connect_args=args)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent). A SQLite file's directory is created."""
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)

"""Engine, sessions and migrations.

One engine per process and database URL, built lazily. SQLite (the embedded default) gets
WAL mode and a busy timeout so the I/O and NLP workers can share the file; PostgreSQL is
used as is. ``upgrade`` applies the Alembic migrations shipped in ``worker/store/migrations``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from worker.errors import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@functools.cache
def get_engine(url: str, echo: bool = False) -> Engine:
    """The process's engine for `url` (cached). SQLite parent directories are created."""
    url = normalize_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    Connection failures become StoreUnavailable (transient: the task retries).
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if _is_unavailable(exc):
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


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


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent)."""
    command.upgrade(alembic_config(url), revision)

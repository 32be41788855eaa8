"""Issue 5, the pure parts: the visibility-timeout invariant (5), Flower and task arguments
(13), broker URLs with passwords and TLS (14), and the root guard (15).

The process-level counterparts (real workers, real Redis) are in
``tests/integration/test_faults.py``.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import typing
from pathlib import Path

import pytest
import sqlalchemy as sa
from celery import Celery
from celery.utils.time import get_exponential_backoff_interval

from tests.conftest import make_settings
from worker.celery_app import celery_config, redact
from worker.errors import ConfigError, StoreUnavailable
from worker.settings import Settings
from worker.store.db import PG_CONNECT_ARGS, get_engine, session_scope
from worker.supervisor import children
from worker.tasks import GuardedTask, RootRefused, refuse_root

DB = "sqlite:///unused.db"


def _app(settings: Settings) -> Celery:
    app = Celery("reliability-test", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


# --- 5. visibility timeout ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("worker", {"time_limit": 3600, "soft_time_limit": 100}),
        ("worker", {"time_limit": 4000, "soft_time_limit": 100}),
        ("worker", {"retry_backoff_max": 3600}),
        ("worker", {"retry_backoff_max": 7200}),
    ],
)
def test_check_rejects_limits_at_or_above_the_visibility_timeout(section: str, values: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="visibility_timeout"):
        make_settings(DB, broker={"visibility_timeout": 3600}, **{section: values})


def test_check_rejects_a_soft_limit_not_below_the_hard_limit() -> None:
    with pytest.raises(ConfigError, match="soft_time_limit"):
        make_settings(DB, worker={"soft_time_limit": 360, "time_limit": 360})


def test_check_accepts_a_lowered_visibility_timeout_with_lowered_limits() -> None:
    s = make_settings(
        DB, broker={"visibility_timeout": 60}, worker={"soft_time_limit": 20, "time_limit": 30, "retry_backoff_max": 10}
    )
    assert s.broker.visibility_timeout == 60


def test_celery_config_takes_the_visibility_timeout_from_settings() -> None:
    s = make_settings(
        DB,
        broker={"visibility_timeout": 1234},
        worker={"soft_time_limit": 20, "time_limit": 30, "retry_backoff_max": 10},
    )
    conf = celery_config(s)
    assert conf["broker_transport_options"]["visibility_timeout"] == 1234
    # Results are ignored: no result backend whose own transport options could disagree.
    assert conf["task_ignore_result"] is True and "result_backend" not in conf
    assert conf["task_time_limit"] == 30 and conf["task_soft_time_limit"] == 20
    assert _app(s).conf.broker_transport_options["visibility_timeout"] == 1234


def test_largest_retry_countdown_and_beat_expiries_stay_below_the_visibility_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scheduler.beat as beat
    from worker import tasks

    s = Settings()  # the shipped defaults
    vt = s.broker.visibility_timeout
    s.check()
    # The countdown Celery's autoretry computes (celery.app.autoretry) for every attempt,
    # without jitter (jitter only lowers it).
    assert GuardedTask.retry_backoff is True and GuardedTask.autoretry_for
    countdowns = [
        get_exponential_backoff_interval(
            factor=int(GuardedTask.retry_backoff), retries=n, maximum=s.worker.retry_backoff_max, full_jitter=False
        )
        for n in range(s.worker.max_retries + 1)
    ]
    assert max(countdowns) <= s.worker.retry_backoff_max < vt
    assert s.worker.time_limit < vt
    # Messages sent with a countdown or expiry by the tasks themselves.
    assert vt > tasks.NLP_WINDOW_SECONDS
    assert (tasks.tick.expires or 0) < vt
    # Beat's entries: every one has an expiry, below the visibility timeout.
    app = _app(s)
    monkeypatch.setattr(beat, "get_settings", lambda: s)
    beat.setup_periodic_tasks(app)
    schedule = app.conf.beat_schedule
    assert {"tick", "extract-safety-net"} <= set(schedule)
    for name, entry in schedule.items():
        expires = entry["options"].get("expires")
        assert expires is not None, f"beat entry {name} has no expires"
        assert 0 < expires < vt, name


def test_poll_feed_is_sent_with_an_expiry_below_the_visibility_timeout() -> None:
    from worker import tasks

    assert 0 < tasks.POLL_EXPIRES < Settings().broker.visibility_timeout


# --- 13. Flower, task arguments ---------------------------------------------------------------


def test_flower_is_refused_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WIREWATCH_FLOWER_USER", raising=False)
    monkeypatch.delenv("WIREWATCH_FLOWER_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="WIREWATCH_FLOWER_USER"):
        children(Settings(), {}, flower=True, var=tmp_path)
    monkeypatch.setenv("WIREWATCH_FLOWER_USER", "admin")
    with pytest.raises(ConfigError):
        children(Settings(), {}, flower=True, var=tmp_path)
    # Without Flower, nothing is asked for.
    assert [c.name for c in children(Settings(), {}, flower=False, var=tmp_path)] == ["io-worker", "nlp-worker", "beat"]


def test_flower_binds_loopback_by_default_and_gets_basic_auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WIREWATCH_FLOWER_USER", "admin")
    monkeypatch.setenv("WIREWATCH_FLOWER_PASSWORD", "pw")
    flower = next(c for c in children(Settings(), {"X": "1"}, flower=True, var=tmp_path) if c.name == "flower")
    assert "--address=127.0.0.1" in flower.argv
    assert flower.env["FLOWER_BASIC_AUTH"] == "admin:pw"
    # Credentials go to Flower's environment only, never on its command line (visible in ps).
    assert not any("pw" in a for a in flower.argv)


def test_registered_tasks_take_ids_only() -> None:
    from worker import tasks  # noqa: F401  (registers the tasks)
    from worker.celery_app import app

    ours = {n: t for n, t in app.tasks.items() if n.startswith("wirewatch.")}
    assert set(ours) == {"wirewatch.tick", "wirewatch.poll_feed", "wirewatch.fetch_entry", "wirewatch.extract_pending"}
    allowed = {int, list[int] | None}
    for name, task in ours.items():
        hints = typing.get_type_hints(task.run)
        hints.pop("return", None)
        params = [p for p in inspect.signature(task.run).parameters if p != "self"]
        for p in params:
            assert hints[p] in allowed, f"{name}({p}: {hints[p]}) would put more than ids on the broker"
    assert app.conf.task_serializer == "json" and list(app.conf.accept_content) == ["json"]


# --- 14. broker URLs with passwords, TLS ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://user:s3cret@redis:6379/1", "redis://user:***@redis:6379/1"),
        (
            "rediss://:s3cret@redis.example:6380/2?ssl_cert_reqs=required",
            "rediss://:***@redis.example:6380/2?ssl_cert_reqs=required",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis+socket:///tmp/redis.sock", "redis+socket:///tmp/redis.sock"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


def test_rediss_url_is_parsed_as_tls_by_celery_config() -> None:
    url = "rediss://:s3cret@redis.example:6380/2?ssl_cert_reqs=required"
    s = make_settings(DB, broker={"url": url})
    conn = _app(s).connection_for_write()
    assert conn.transport_cls == "rediss"
    assert conn.ssl and conn.ssl["ssl_cert_reqs"].name == "CERT_REQUIRED"
    assert (conn.hostname, conn.port, conn.virtual_host, conn.password) == ("redis.example", 6380, "2", "s3cret")
    assert "s3cret" not in conn.as_uri()


def test_redis_client_for_the_delivery_guard_accepts_password_and_tls_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    from worker import tasks

    for url, tls in (
        ("redis://:s3cret@127.0.0.1:6390/3", False),
        ("rediss://:s3cret@redis.example:6380/2?ssl_cert_reqs=required", True),
    ):
        s = make_settings(DB, broker={"url": url})
        monkeypatch.setattr(tasks, "get_settings", lambda s=s: s)
        tasks.redis_client.cache_clear()
        try:
            client = tasks.redis_client()
            kwargs = client.connection_pool.connection_kwargs
            assert kwargs["password"] == "s3cret"
            assert issubclass(client.connection_pool.connection_class, redis.SSLConnection) is tls
        finally:
            tasks.redis_client.cache_clear()


def test_supervisor_logs_redacted_broker_urls(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from worker import supervisor

    monkeypatch.chdir(tmp_path)
    s = make_settings(DB, broker={"url": "redis://:s3cret@127.0.0.1:1/0", "embedded": False})
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as err:
        supervisor.supervise(s, None)
    assert "s3cret" not in str(err.value) and "***" in str(err.value)
    assert "s3cret" not in caplog.text


# --- 15. root --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("euid", "environment", "allow_root", "refused"),
    [
        (0, "production", False, True),
        (0, "production", True, False),
        (0, "development", False, False),
        (1000, "production", False, False),
        (1000, "development", False, False),
    ],
)
def test_refuse_root(euid: int, environment: str, allow_root: bool, refused: bool) -> None:
    if refused:
        with pytest.raises(RootRefused, match="root") as err:
            refuse_root(euid, environment, allow_root)
        assert isinstance(err.value, SystemExit)
    else:
        refuse_root(euid, environment, allow_root)


def test_a_retried_task_keeps_the_arguments_named_for_operators() -> None:
    """Issue 12 point 2: a retry is a new message built from the request; it keeps the
    ``argsrepr`` ("feed 3 <url>") instead of Celery's rebuilt "(3,)"."""
    from celery.app.task import Context

    from worker import tasks

    named = "feed 3 https://example.org/rss"
    request = Context(id="t-1", args=[3], kwargs={}, argsrepr=named, retries=1, delivery_info={})
    retry = tasks.poll_feed.signature_from_request(request, (3,), {}, countdown=5)
    assert retry.options["argsrepr"] == named and retry.args == (3,)
    plain = Context(id="t-2", args=[3], kwargs={}, retries=1, delivery_info={})
    assert "argsrepr" not in tasks.poll_feed.signature_from_request(plain, (3,), {}).options


def test_a_database_that_never_answers_is_an_outage_not_a_hang() -> None:
    """A listener that accepts the TCP handshake and never speaks (a half-open proxy) makes
    the store unavailable after the connect timeout: the task retries instead of hanging."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # never accepts: the kernel completes the handshake, nobody answers
        engine = get_engine(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/none")
        with pytest.raises(StoreUnavailable, match="timeout"), session_scope(engine) as s:
            s.connection()
    assert PG_CONNECT_ARGS["connect_timeout"] <= 30


def test_a_forked_process_opens_its_own_database_connections(pg_url: str) -> None:
    """A Celery pool process is forked from a worker that has read the database: it must not
    use (nor close) the parent's pooled connection, which would interleave two processes'
    statements on one socket."""
    engine = get_engine(pg_url)
    with engine.connect() as c:
        parent_backend = c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    # the connection is back in the pool: a fork inherits it
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            with engine.connect() as c:
                os.write(write, str(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    child_backend = int(os.read(read, 64) or b"0")
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend not in (0, parent_backend), "the child reused its parent's connection"
    with engine.connect() as c:  # the parent's connection still works: the child did not close it
        assert c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == parent_backend

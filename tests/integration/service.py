"""Test harness: Celery worker and beat processes on a test config, the way `wirewatch run`
starts them; a redis-server of the test's own; a condition wait. Also used by bench/chaos.py."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from celery import Celery

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: the kernel sends it SIGTERM when the process that
    started it dies, even by a signal that skips atexit, so no redis-server outlives its tests."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return cond()


class Service:
    """Celery worker and beat processes on a test config (the way `wirewatch run` starts them)."""

    def __init__(
        self,
        tmp: Path,
        db_url: str,
        broker_url: str,
        feeds: list[str],
        extra: str = "",
        environment: str = "development",
        feed_interval: int = 3600,
    ) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.config = tmp / "config.toml"
        feed_toml = "".join(f'[[feeds]]\nurl = "{u}"\ninterval = {feed_interval}\n' for u in feeds)
        self.config.write_text(
            f'environment = "{environment}"\n[database]\nurl = "{db_url}"\n[broker]\nembedded = false\n'
            f'[fetch]\nallowed_networks = ["127.0.0.1/32"]\ntimeout = 25.0\n'
            f"[scheduler]\ntick_seconds = 1.0\n[nlp]\nbatch_size = 8\n{extra}\n{feed_toml}"
        )
        # The broker URL (it may hold a password) comes from the environment, as in production.
        self.env = {**os.environ, "WIREWATCH_CONFIG": str(self.config), "WIREWATCH_BROKER_URL": broker_url}
        self.broker_url = broker_url
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args, "--loglevel", "INFO"]
        log = (self.tmp / f"{args[0]}-{len(self.procs)}.log").open("wb")
        p = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.procs.append(p)
        return p

    def worker(self, queue: str, name: str) -> subprocess.Popen[bytes]:
        return self.start(
            "worker",
            "-Q",
            queue,
            "-c",
            "1",
            "-n",
            f"{name}-{len(self.procs)}@%h",
            "--without-mingle",
            "--without-gossip",
        )

    def beat(self) -> subprocess.Popen[bytes]:
        return self.start("beat", "-s", str(self.tmp / f"beat-{len(self.procs)}"))

    def ready(self, n: int = 1) -> bool:
        return self.logs(None).count(" ready.") >= n

    def client(self) -> Celery:
        c = Celery(broker=self.broker_url, set_as_current=False)
        c.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
        return c

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self, tail: int | None = 6000) -> str:
        text = "\n".join(f.read_text(errors="replace") for f in sorted(self.tmp.glob("*.log")))
        return text[-tail:] if tail else text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own on a free port; by default with an append-only file so
    a restart keeps the queue (`durable=False`: memory only, for the suite's shared server)."""

    def __init__(self, tmp: Path, password: str | None = None, *, durable: bool = True) -> None:
        self.dir = tmp / "redis"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.password = password
        self.durable = durable
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes" if self.durable else "no",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        if self.password:
            argv += ["--requirepass", self.password]
        log = (self.dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509  # no threads yet
        )
        assert wait_for(self.alive, 15), (self.dir / "redis.log").read_text()

    def alive(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # SHUTDOWN: fsyncs the append-only file
            self.proc.wait(15)
        self.proc = None

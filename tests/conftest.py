"""Shared fixtures: real databases (SQLite file, fresh PostgreSQL database), a real Redis of
the suite's own, and a loopback news site with feeds and pages.

The suite touches only what it creates: PostgreSQL databases named ``wirewatch_test_*`` that it
drops afterwards, and a redis-server it starts on a free loopback port (stopped at exit).
``WIREWATCH_TEST_PG`` (an admin URL, default the machine's ``test`` database on 127.0.0.1:5432)
and ``WIREWATCH_TEST_REDIS`` (a Redis URL whose database the tests flush) point it elsewhere."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.loopback import QuietHandler, start, stop
from worker.resources import Resources
from worker.settings import Settings, load_settings
from worker.store.db import get_engine, upgrade

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PG_ADMIN_URL = os.environ.get("WIREWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _own_redis_url() -> str:
    """A memory-only redis-server of the suite's own (temp dir, free port), stopped at exit, so
    the tests never flush a database of the machine's Redis."""
    from tests.integration.service import OwnRedis

    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed: install it, or set WIREWATCH_TEST_REDIS to a Redis URL")
    tmp = Path(tempfile.mkdtemp(prefix="wirewatch-test-redis-"))
    server = OwnRedis(tmp, durable=False)
    server.start()
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    atexit.register(server.stop)
    return server.url


REDIS_TEST_URL = os.environ.get("WIREWATCH_TEST_REDIS") or _own_redis_url()


def shared_or_skip(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared (eval corpus, seed) only exists beside the dev checkout and in CI")
    return path


@pytest.fixture(scope="session", autouse=True)
def _own_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default database and embedded Redis live in the per-user data directory: point it
    at a temporary one for the whole session (subprocesses inherit it), so that a test that
    leaves them at their defaults never writes to the real home."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (dropped afterwards)."""
    name = f"wirewatch_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset(url: str) -> None:
    """Empty every table (fast isolation between tests on one database)."""
    engine = get_engine(url)
    upgrade(url)
    tables = [
        "report_keys",
        "article_bands",
        "incident_history",
        "corrections",
        "failures",
        "reports",
        "incidents",
        "entries",
        "articles",
        "feeds",
    ]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f"DELETE FROM {t}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite:///{tmp_path}/test.db"
        upgrade(sqlite_url)
        return sqlite_url
    pg: str = request.getfixturevalue("pg_url")
    _reset(pg)
    return pg


def make_settings(db_url: str, **sections: dict[str, object]) -> Settings:
    env = {
        "WIREWATCH_DATABASE_URL": db_url,
        "WIREWATCH_BROKER_URL": REDIS_TEST_URL,
        "WIREWATCH_FETCH_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "WIREWATCH_ENVIRONMENT": "development",
    }
    for section, values in sections.items():
        for key, value in values.items():
            env[f"WIREWATCH_{section.upper()}_{key.upper()}"] = repr(value).replace("'", '"')
    return load_settings(os.devnull, environ=env)


@pytest.fixture
def res(db_url: str) -> Iterator[Resources]:
    r = Resources.from_settings(make_settings(db_url))
    yield r
    r.close()


# --- a loopback news site ------------------------------------------------------------------

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<link rel="canonical" href="{canonical}"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>{title}</h1><p class="byline">By Staff</p>{body}</article>
<aside><h3>Related</h3><a href="/r/1">Markets edge higher</a></aside>
<footer>Copyright. Cookie policy. Terms.</footer></body></html>"""


@dataclass
class Story:
    slug: str
    title: str
    text: str
    published: datetime


@dataclass
class NewsSite:
    """Feeds and pages on 127.0.0.1; counts requests and answers conditional GETs with 304."""

    stories: list[Story] = field(default_factory=list)
    base: str = ""
    hits: dict[str, int] = field(default_factory=dict)
    statuses: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def feed_url(self) -> str:
        return f"{self.base}/feed.xml"

    def feed(self) -> str:
        items = "".join(
            f"<item><title>{s.title}</title><link>{self.base}/a/{s.slug}.html?utm_source=rss</link>"
            f"<guid>{s.slug}</guid><pubDate>{format_datetime(s.published)}</pubDate></item>"
            for s in self.stories
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test Wire</title>{items}</channel></rss>'

    def page(self, slug: str) -> str | None:
        for s in self.stories:
            if s.slug == slug:
                body = "".join(f"<p>{p}</p>" for p in s.text.split("\n\n"))
                return PAGE.format(title=s.title, body=body, canonical=f"{self.base}/a/{slug}.html")
        return None


def _serve(site: NewsSite) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802  # http.server's name
            path = self.path.split("?")[0]
            with site.lock:
                site.hits[path] = site.hits.get(path, 0) + 1
            if path == "/feed.xml":
                body = site.feed().encode()
                etag = f'"{abs(hash(body))}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send(304, b"", {"ETag": etag})
                    return
                self.send(200, body, {"Content-Type": "application/rss+xml", "ETag": etag})
                return
            if path.startswith("/a/") and (page := site.page(path[3:].removesuffix(".html"))):
                self.send(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
                return
            self.send(404, b"not found", {"Content-Type": "text/plain"})

        def send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
            with site.lock:
                site.statuses.append((self.path.split("?")[0], status))
            super().send(status, body, headers)

    server = start(Handler)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    return server


STORIES = [
    Story(
        "strike-village",
        "Air strike kills 12 in village",
        "KYIV (Reuters) - Russian air strikes killed at least 12 civilians in the village of Kurylivka on "
        "Thursday, regional officials said.\n\nRescue workers searched the rubble of a grain store for survivors. "
        "The governor said 9 people were wounded.",
        datetime(2024, 5, 9, 16, 0, tzinfo=UTC),
    ),
    Story(
        "market-bombing",
        "Car bomb hits market",
        "BAIDOA (AP) - A car bomb exploded at a busy market in Baidoa on Saturday, killing at least "
        "16 people, police said.\n\nNo group has claimed the attack, which wounded dozens.",
        datetime(2018, 3, 17, 12, 0, tzinfo=UTC),
    ),
    Story(
        "talks",
        "Peace talks resume",
        "GENEVA (Reuters) - Delegations returned to the negotiating table on Monday as mediators pressed for "
        "a ceasefire. Diplomats said the talks would last a week and cover prisoner exchanges and aid access.",
        datetime(2023, 10, 9, 9, 0, tzinfo=UTC),
    ),
]


@pytest.fixture
def site() -> Iterator[NewsSite]:
    s = NewsSite(stories=list(STORIES))
    server = _serve(s)
    yield s
    stop(server)


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)

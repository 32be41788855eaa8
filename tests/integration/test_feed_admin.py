"""Feed administration from the command line: `feeds add` validation, `feeds remove/disable/
enable`, `feeds list`, `failures` and `failures retry`, `status`. Each runs on SQLite and on
the real PostgreSQL (the `db_url` fixture), against the loopback news site and the real Redis."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from click.testing import Result
from sqlmodel import col, select
from typer.testing import CliRunner

from tests.conftest import REDIS_TEST_URL, NewsSite, Story, make_settings
from tests.integration.service import Service, wait_for
from worker import jobs
from worker.cli import _state, app
from worker.resources import Resources
from worker.settings import load_settings
from worker.store import repo
from worker.store.db import session_scope
from worker.store.models import Article, Entry, Failure, Feed, utcnow
from worker.supervisor import start_embedded_redis

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@dataclass
class Cli:
    """The `wirewatch` command on one database, with config.toml listing the site's feed."""

    runner: CliRunner
    res: Resources
    site: NewsSite
    config: Path

    def __call__(self, *args: str, code: int = 0) -> Result:
        _state.clear()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:  # the CLI sets up logging to its own stderr, which the runner closes afterwards
            result = self.runner.invoke(app, ["--config", str(self.config), *args], catch_exceptions=False)
        finally:
            root.handlers[:], root.level = handlers, level
        assert result.exit_code == code, result.output
        return result

    def feed_id(self, url: str) -> int:
        with session_scope(self.res.engine) as s:
            fid = s.exec(select(Feed.id).where(Feed.url == url)).one()
        assert fid is not None
        return fid


def _config(path: Path, db_url: str, site: NewsSite, broker: str) -> Path:
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[broker]\nurl = "{broker}"\nembedded = false\n'
        '[fetch]\nallowed_networks = ["127.0.0.1/32"]\n'
        f'[[feeds]]\nurl = "{site.feed_url}"\nname = "Test Wire"\n'
    )
    return path


@pytest.fixture
def cli(db_url: str, site: NewsSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.chdir(tmp_path)
    res = Resources.from_settings(make_settings(db_url))
    cli = Cli(CliRunner(), res, site, _config(tmp_path / "config.toml", db_url, site, REDIS_TEST_URL))
    cli("db", "upgrade")
    _sync(cli)
    yield cli
    res.close()


def _cells(stdout: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of cell texts."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in stdout.splitlines() if line.startswith("│")]


def _sync(cli: Cli) -> int:
    """What every start does: config.toml's feeds into the database."""
    settings = load_settings(cli.config)
    with session_scope(cli.res.engine) as s:
        return repo.sync_feeds(s, settings.feeds, settings.scheduler.default_interval)


# ------------------------------------------------------------------------------ feeds add


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("not-a-url", "unsupported scheme, use one of http, https"),
        ("ftp://files.example/feed.xml", "unsupported scheme, use one of http, https"),
        ("https:///no-host", "no host"),
    ],
)
def test_feeds_add_refuses_what_is_not_an_http_url_and_adds_nothing(cli: Cli, bad: str, why: str) -> None:
    result = cli("feeds", "add", "https://ok.example/rss", bad, code=2)
    (line,) = result.output.strip().splitlines()
    assert line == f"refused {bad}: {why}"
    with session_scope(cli.res.engine) as s:
        assert s.exec(select(Feed.url)).all() == [cli.site.feed_url]  # the config's feed only


def test_feeds_add_accepts_http_and_https(cli: Cli) -> None:
    out = cli("feeds", "add", "https://a.example/rss", "http://b.example/feed").output
    assert "added: https://a.example/rss" in out and "added: http://b.example/feed" in out
    assert "already there: https://a.example/rss" in cli("feeds", "add", "https://a.example/rss").output


# ---------------------------------------------------------------------- remove / disable


def _poll_and_fetch_one(cli: Cli, feed_id: int) -> list[int]:
    """Poll the feed and fetch its first entry: one article stored, the other entries new."""
    entry_ids = jobs.poll_feed(cli.res, feed_id)
    assert len(entry_ids) == len(cli.site.stories)
    assert jobs.fetch_entry(cli.res, entry_ids[0]) is not None
    return entry_ids


def test_remove_keeps_the_evidence_and_config_does_not_bring_the_feed_back(
    cli: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    url = cli.site.feed_url
    fid = cli.feed_id(url)
    entry_ids = _poll_and_fetch_one(cli, fid)

    out = cli("feeds", "remove", str(fid)).output
    assert f"removed feed {fid} ({url})" in out and f"{len(entry_ids) - 1} entries not fetched yet dropped" in out
    assert "config.toml still lists it: it stays removed" in out
    with session_scope(cli.res.engine) as s:
        assert s.exec(select(Article).where(Article.feed_id == fid)).one().url.startswith(cli.site.base)
        statuses = {e.id: e.status for e in s.exec(select(Entry).where(Entry.feed_id == fid)).all()}
    assert statuses == {entry_ids[0]: "fetched", **dict.fromkeys(entry_ids[1:], "dropped")}
    assert jobs.tick(cli.res, all_feeds=True) == []  # neither the scheduler nor ingest --once polls it
    assert jobs.pending_entries(cli.res) == []  # nor fetches what it had not fetched

    assert url not in cli("feeds", "list").stdout
    assert [c[3] for c in _cells(cli("feeds", "list", "--all").stdout) if c[1] == url] == ["removed"]

    with caplog.at_level(logging.WARNING, logger="worker.store.repo"):
        assert _sync(cli) == 0  # the next start: still listed in config.toml, not added back
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "worker.store.repo"]
    assert warning.startswith(f"config.toml lists feed {url}, removed on ") and "it stays removed" in warning
    assert jobs.tick(cli.res, all_feeds=True) == []

    out = cli("feeds", "add", url).output
    assert f"added back: {url} (feed {fid}; {len(entry_ids) - 1} entries" in out
    assert jobs.pending_entries(cli.res) == entry_ids[1:]
    assert jobs.tick(cli.res) == [fid]


def test_import_brings_a_removed_feed_back_like_add(cli: Cli, tmp_path: Path) -> None:
    url = cli.site.feed_url
    fid = cli.feed_id(url)
    entry_ids = _poll_and_fetch_one(cli, fid)
    cli("feeds", "remove", str(fid))
    listing = tmp_path / "feeds.txt"
    listing.write_text(f"{url}\n{cli.site.base}/other.xml\n")

    assert (
        "imported 1 new feeds, 1 removed earlier added back (0 already known)"
        in cli("feeds", "import", str(listing)).output
    )
    assert [c[3] for c in _cells(cli("feeds", "list").stdout) if c[1] == url] != ["removed"]
    assert jobs.pending_entries(cli.res) == entry_ids[1:]  # what it had not fetched is queued again
    assert "imported 0 new feeds (2 already known)" in cli("feeds", "import", str(listing)).output


def test_disable_and_enable_by_id_or_url(cli: Cli) -> None:
    url = cli.site.feed_url
    fid = cli.feed_id(url)
    out = cli("feeds", "disable", url).output
    assert f"disabled: feed {fid} ({url}); config.toml lists it: it stays disabled after a restart" in out
    assert "already disabled" in cli("feeds", "disable", str(fid)).output
    assert jobs.tick(cli.res) == [] and jobs.tick(cli.res, all_feeds=True) == []
    _sync(cli)  # a restart does not enable it again
    assert jobs.tick(cli.res, all_feeds=True) == []
    assert [c[3] for c in _cells(cli("feeds", "list").stdout) if c[1] == url] == ["disabled"]

    assert f"enabled: feed {fid}" in cli("feeds", "enable", str(fid)).output
    assert jobs.tick(cli.res) == [fid]


def test_a_configured_feed_can_be_disabled_before_the_service_first_ran(
    site: NewsSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/fresh.db"
    res = Resources.from_settings(make_settings(url))
    cli = Cli(CliRunner(), res, site, _config(tmp_path / "config.toml", url, site, REDIS_TEST_URL))
    out = cli("feeds", "disable", site.feed_url).output
    assert f"disabled: feed 1 ({site.feed_url}); config.toml lists it" in out
    assert [c[1:4] for c in _cells(cli("feeds", "list").stdout)] == [[site.feed_url, "Test Wire", "disabled"]]
    res.close()


@pytest.mark.parametrize("command", ["remove", "disable", "enable"])
def test_an_unknown_feed_is_one_line_and_a_failure(cli: Cli, command: str) -> None:
    for ref in ("999", "https://nowhere.example/rss"):
        result = cli("feeds", command, ref, code=1)
        assert result.output.strip().splitlines() == [f"no feed {ref} (see `wirewatch feeds list`)"]


def test_ingest_once_skips_disabled_and_removed_feeds_and_points_at_failures(cli: Cli) -> None:
    """One real run (spaCy included): the disabled config feed and a removed feed are not
    requested at all; a failing feed is, and the summary names the failures command."""
    cli("feeds", "add", cli.site.base + "/gone.xml", cli.site.feed_url + "?edition=removed")
    cli("feeds", "disable", cli.site.feed_url)
    cli("feeds", "remove", cli.site.feed_url + "?edition=removed")
    out = cli("ingest", "--once", code=1).output  # the 404 feed failed
    assert "ingest --once: 1 feed polled (1 failed)" in out
    assert cli.site.hits.get("/feed.xml", 0) == 0 and cli.site.hits["/gone.xml"] == 1
    assert "1 failure recorded in this run: `wirewatch failures --since 1m`" in out


# ----------------------------------------------------------------------------- feeds list


def test_feeds_list_shows_state_success_error_newest_item_and_next_poll(cli: Cli) -> None:
    good = cli.feed_id(cli.site.feed_url)
    cli("feeds", "add", cli.site.base + "/gone.xml", "https://never.example/rss", "https://off.example/rss")
    bad = cli.feed_id(cli.site.base + "/gone.xml")
    jobs.poll_feed(cli.res, good)
    jobs.poll_feed(cli.res, bad)
    cli("feeds", "disable", "https://off.example/rss")

    stdout = cli("feeds", "list").stdout
    header = [c.strip() for c in next(line for line in stdout.splitlines() if "┃" in line).split("┃")[1:-1]]
    assert header == ["id", "url", "name", "status", "last success", "last error", "newest item", "next poll"]
    rows = {cells[1]: cells[2:] for cells in _cells(stdout)}
    today = f"{utcnow():%Y-%m-%d}"
    name, state, success, error, newest, next_poll = rows[cli.site.feed_url]
    newest_story = max(story.published for story in cli.site.stories)
    assert (name, state, error, newest) == ("Test Wire", "ok", "", f"{newest_story:%Y-%m-%d %H:%M}Z")
    assert success.startswith(today) and next_poll.startswith(today)
    _, state, success, error, newest, next_poll = rows[cli.site.base + "/gone.xml"]
    assert (state, success, newest) == ("failing", "never", "") and "404" in error and next_poll.startswith(today)
    assert rows["https://never.example/rss"][1:] == ["new", "never", "", "", "now"]
    assert rows["https://off.example/rss"][1:] == ["disabled", "never", "", "", "-"]


# ------------------------------------------------------------------------------- failures


def _a_fetch_failure(cli: Cli) -> tuple[int, int]:
    """An entry whose page is gone (404): (entry id, failure id)."""
    text = (
        "NAIROBI (AP) - Floods cut the main road north of the capital on Wednesday, officials said.\n\n"
        "Relief agencies sent trucks with food and water to the villages cut off by the water, and the "
        "weather service warned that more rain would fall over the weekend."
    )
    gone = Story("gone-story", "Floods cut road", text, cli.site.stories[0].published)
    cli.site.stories.append(gone)
    entry_ids = jobs.poll_feed(cli.res, cli.feed_id(cli.site.feed_url))
    cli.site.stories.remove(gone)
    with session_scope(cli.res.engine) as s:
        entry = s.exec(select(Entry).where(col(Entry.id).in_(entry_ids), col(Entry.url).contains("gone-story"))).one()
    assert entry.id is not None
    assert jobs.fetch_entry(cli.res, entry.id) is None
    with session_scope(cli.res.engine) as s:
        failure = s.exec(select(Failure).where(Failure.entry_id == entry.id)).one()
    assert failure.id is not None
    cli.site.stories.append(gone)  # back: a retry can succeed
    return entry.id, failure.id


def test_failures_lists_when_what_stage_and_why_with_filters(cli: Cli) -> None:
    assert "no failures recorded" in cli("failures").output
    _, fetch_failure = _a_fetch_failure(cli)
    cli("feeds", "add", cli.site.base + "/gone.xml")
    bad = cli.feed_id(cli.site.base + "/gone.xml")
    jobs.poll_feed(cli.res, bad)

    stdout = cli("failures").stdout
    header = [c.strip() for c in next(line for line in stdout.splitlines() if "┃" in line).split("┃")[1:-1]]
    assert header == ["id", "when", "stage", "what", "error", "why", "retried"]
    (poll, fetch) = _cells(stdout)  # newest first
    assert poll[2:5] == ["poll", cli.site.base + "/gone.xml", "FetchError"] and "404" in poll[5]
    assert fetch[0] == str(fetch_failure) and fetch[1].startswith(f"{utcnow():%Y-%m-%d}")
    assert fetch[2:4] == ["fetch", cli.site.base + "/a/gone-story.html?utm_source=rss"]
    assert "404" in fetch[5] and fetch[6] == ""  # not retried
    assert [c[3] for c in _cells(cli("failures", "--feed", str(bad)).stdout)] == [cli.site.base + "/gone.xml"]
    assert len(_cells(cli("failures", "--limit", "1").stdout)) == 1
    assert len(_cells(cli("failures", "--since", "1h").stdout)) == 2
    assert "no failures recorded since 2099-01-01 00:00Z" in cli("failures", "--since", "2099-01-01").output


def test_failures_retry_queues_entries_articles_and_polls_again(cli: Cli) -> None:
    entry_id, fetch_failure = _a_fetch_failure(cli)
    cli("feeds", "add", cli.site.base + "/gone.xml")
    bad = cli.feed_id(cli.site.base + "/gone.xml")
    jobs.poll_feed(cli.res, bad)
    for other in jobs.pending_entries(cli.res):
        jobs.fetch_entry(cli.res, other)
    with session_scope(cli.res.engine) as s:
        poll_failure = s.exec(select(Failure.id).where(Failure.feed_id == bad)).one()
        article = s.exec(select(Article)).first()
        assert article is not None and article.id is not None
        repo.fail_articles(s, [article.id])
        repo.record_failure(s, stage="extract", error="RuntimeError", reason="boom", article_id=article.id)
        article_failure = s.exec(select(Failure.id).where(Failure.article_id == article.id)).one()
        article_feed = article.feed_id
    # an extraction failure names only its article: --feed finds it through the article's feed
    by_feed = [c[0] for c in _cells(cli("failures", "--feed", str(article_feed)).stdout)]
    assert str(article_failure) in by_feed and str(fetch_failure) in by_feed and str(poll_failure) not in by_feed

    out = cli("failures", "retry", str(fetch_failure)).output
    assert f"failure {fetch_failure}: entry {entry_id} queued to be fetched again" in out
    assert entry_id in jobs.pending_entries(cli.res)  # the next ingest --once (or tick) fetches it
    assert jobs.fetch_entry(cli.res, entry_id) is not None
    assert (
        f"entry {entry_id} is already fetched: nothing to retry" in cli("failures", "retry", str(fetch_failure)).output
    )

    out = cli("failures", "retry", "--all").output
    assert f"failure {poll_failure}: feed {bad} due for polling now" in out
    assert f"failure {article_failure}: article {article.id} queued for extraction again" in out
    assert "2 of 2 queued again" in out
    with session_scope(cli.res.engine) as s:
        assert s.get_one(Article, article.id).status == "fetched"
        assert s.exec(select(Failure).where(col(Failure.retried_at).is_(None))).all() == []
    assert bad in jobs.tick(cli.res)
    assert "0 of 0 queued again" in cli("failures", "retry", "--all").output  # each is retried once

    cli.site.stories.clear()
    jobs.poll_feed(cli.res, cli.feed_id(cli.site.feed_url))  # a poll that succeeds ...
    with session_scope(cli.res.engine) as s:
        good = cli.feed_id(cli.site.feed_url)
        repo.record_failure(s, stage="poll", error="FeedError", reason="skipped entry 3: no link", feed_id=good)
        refused = s.exec(select(Failure.id).where(Failure.feed_id == good, Failure.stage == "poll")).one()
    out = cli("failures", "retry", str(refused)).output  # ... leaves nothing to poll again for
    assert f"failure {refused}: feed {good}: its last poll succeeded, nothing to retry" in out

    assert cli("failures", "retry", "424242", code=1).output.strip() == "no failure 424242 (see `wirewatch failures`)"
    assert "name failure ids, or --all" in cli("failures", "retry", code=2).output


# --------------------------------------------------------------------------------- status


def test_status_summarises_feeds_backlog_failures_queues_and_workers(cli: Cli) -> None:
    fid = cli.feed_id(cli.site.feed_url)
    _poll_and_fetch_one(cli, fid)
    cli("feeds", "add", cli.site.base + "/gone.xml", "https://off.example/rss")
    jobs.poll_feed(cli.res, cli.feed_id(cli.site.base + "/gone.xml"))
    cli("feeds", "disable", "https://off.example/rss")
    queue = redis.Redis.from_url(REDIS_TEST_URL)
    queue.delete("io", "nlp")
    queue.rpush("nlp", "{}", "{}")  # two messages waiting, as kombu stores them
    try:
        stdout = cli("status").stdout
    finally:
        queue.delete("nlp")
        queue.close()
    assert "feeds: 1 ok, 1 failing, 0 new, 1 disabled; oldest last success: feed 2" in stdout
    assert "(https://off.example/rss)" not in stdout  # a disabled feed is not stale
    assert f"backlog: {len(cli.site.stories) - 1} entries not fetched, 1 articles not extracted" in stdout
    assert "failures in the last 24 h: 1 (`wirewatch failures --since 1d`)" in stdout
    assert f"broker: {REDIS_TEST_URL}: queued io 0, nlp 2" in stdout
    assert "workers: no workers answering" in stdout


def test_status_with_the_broker_unreachable_says_so(cli: Cli) -> None:
    _config(cli.config, cli.res.settings.database.url, cli.site, CLOSED_PORT_BROKER)
    result = cli("status")
    assert f"broker: unreachable at {CLOSED_PORT_BROKER} (ConnectionError" in result.stdout
    assert "workers: unknown (no broker)" in result.stdout
    assert "Traceback" not in result.output and "feeds: 1 new" not in result.stdout
    assert "feeds: 0 ok, 0 failing, 1 new, 0 disabled" in result.stdout


def test_status_finds_the_embedded_redis_a_running_service_started(cli: Cli, tmp_path: Path) -> None:
    """With nothing at broker.url, the service runs on its embedded Redis: status reads that one."""
    text = cli.config.read_text().replace(f'url = "{REDIS_TEST_URL}"', f'url = "{CLOSED_PORT_BROKER}"')
    cli.config.write_text(text.replace("embedded = false", f'embedded = true\nembedded_dir = "{tmp_path}/redis"'))
    assert "broker: unreachable at" in cli("status").stdout  # none started yet

    server, url = start_embedded_redis(tmp_path / "redis")
    try:
        server.rpush("nlp", "{}")
        stdout = cli("status").stdout
    finally:
        server.shutdown(save=False)
    assert f"broker: {url}: queued io 0, nlp 1" in stdout and url.startswith("redis+socket://")
    assert "broker: unreachable at" in cli("status").stdout  # stopped: not taken for running


def test_status_names_the_workers_that_answer(site: NewsSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real Celery worker process on the test Redis answers the status ping by name."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/workers.db"
    service = Service(tmp_path / "service", url, REDIS_TEST_URL, [])
    service.worker("io", "io")
    try:
        assert wait_for(service.ready, timeout=60), service.logs()
        res = Resources.from_settings(make_settings(url))
        cli = Cli(CliRunner(), res, site, _config(tmp_path / "config.toml", url, site, REDIS_TEST_URL))
        stdout = cli("status").stdout
        res.close()
    finally:
        service.stop()
    assert f"workers: 1 answering (io-0@{socket.gethostname()})" in stdout

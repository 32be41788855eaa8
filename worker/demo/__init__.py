"""``wirewatch demo``: the bundled sample news site, ingested by the real service.

    run_demo(config, timeout) -> exit code

1. serves the sample site (``site/articles.jsonl``: fictional wire-style reports written for
   this project, three outlets, RSS and Atom) on a loopback port (:mod:`worker.demo.site`);
2. writes ``var/demo/config.toml``: SQLite at ``var/demo/wirewatch.db`` (fresh each run),
   ``allowed_networks = ["127.0.0.1/32"]``, the three feeds, and the broker of ``config``
   (or of ``$WIREWATCH_BROKER_URL``); if nothing answers there the service starts its
   embedded Redis;
3. runs the service exactly as an operator would (``wirewatch run --flower`` in a subprocess:
   I/O worker, NLP worker, beat, Flower), logging to ``var/demo/service.log``;
4. polls the database until every feed entry is processed and the counts of articles,
   reports and incidents stop changing, then stops the service with SIGTERM (warm shutdown);
5. prints what was ingested: incidents, articles, failures, and the address of the analyst's
   web window on the demo database (``web=True`` serves it there until Ctrl-C).

Flower is part of the service: its address is printed as valid "while the service runs", and
when the service stops the demo says that Flower stopped with it, before the results, so no
address is left on screen that looks alive and is not.

Exit codes: 0 when every bundled article was stored, 1 otherwise (timeout, service died),
2 for a configuration error. Extraction quality does not change the exit code: the tables
show whatever the extractor produced.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import OperationalError
from sqlmodel import col, func, select

from worker.celery_app import redact
from worker.demo.site import DEMO_OUTLETS, NewsSite, load_demo_stories
from worker.errors import ConfigError
from worker.settings import load_settings
from worker.store.db import get_engine, session_scope, upgrade
from worker.store.models import Article, Entry, Failure, Feed, Incident, Report, utcnow

__all__ = ["counts", "report", "run_demo", "write_config"]

DEMO_DIR = Path("var/demo")
# With entries all processed, counts unchanged this long mean "done" even if some articles
# are still waiting for NLP (an extractor that fails leaves them so; beat's safety net
# retries every 30 s, so wait a little longer than that before concluding). Articles an NLP
# worker is busy with (leased) are waited for, unless failures were recorded meanwhile.
SETTLE_ALL_DONE = 3.0
SETTLE_WAITING = 40.0
SETTLE_MAX = 240.0
STOP_TIMEOUT = 90.0
# Environment overrides that would point the demo's service somewhere else. Broker, NLP and
# Flower settings are kept (a user may have a broker elsewhere).
_KEEP_ENV = ("WIREWATCH_BROKER_", "WIREWATCH_NLP_", "WIREWATCH_FLOWER_", "WIREWATCH_LOG_LEVEL")


@dataclass(frozen=True, slots=True)
class Counts:
    entries: int = 0
    entries_new: int = 0
    articles: int = 0
    waiting: int = 0  # stored, not yet extracted
    leased: int = 0  # of which an NLP worker holds right now (first batch: model loading)
    extracted: int = 0
    failed: int = 0
    reports: int = 0
    incidents: int = 0
    failures: int = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    *,
    database_url: str,
    broker_url: str,
    broker_embedded: bool,
    feeds: list[tuple[str, str]],
    flower_port: int,
    nlp_model: str,
) -> None:
    """The demo's config.toml (no secrets: the broker URL's password, if any, stays in env)."""
    feed_blocks = "".join(
        f"\n[[feeds]]\nurl = {_toml_str(u)}\nname = {_toml_str(n)}\ninterval = 60\n" for u, n in feeds
    )
    path.write_text(
        f"""# Written by `wirewatch demo` for one run; edits are overwritten.
environment = "development"
log_level = "INFO"

[database]
url = {_toml_str(database_url)}

[broker]
url = {_toml_str(broker_url)}
embedded = {str(broker_embedded).lower()}
embedded_dir = {_toml_str(str((DEMO_DIR / "redis").resolve()))}

[fetch]
allowed_networks = ["127.0.0.1/32"]

[scheduler]
tick_seconds = 2.0

[nlp]
model = {_toml_str(nlp_model)}

[flower]
address = "127.0.0.1"
port = {flower_port}
{feed_blocks}""",
        encoding="utf-8",
    )


def counts(database_url: str) -> Counts:
    engine = get_engine(database_url)
    try:
        with session_scope(engine) as s:

            def n(model: type, *where: object) -> int:
                q = select(func.count()).select_from(model)
                for w in where:
                    q = q.where(w)  # type: ignore[arg-type]
                return int(s.exec(q).one())

            return Counts(
                entries=n(Entry),
                entries_new=n(Entry, Entry.status == "new"),
                articles=n(Article),
                waiting=n(Article, Article.status == "fetched"),
                leased=n(Article, Article.status == "fetched", col(Article.nlp_lease_until) > utcnow()),
                extracted=n(Article, Article.status == "extracted"),
                failed=n(Article, Article.status == "failed"),
                reports=n(Report),
                incidents=n(Incident, col(Incident.merged_into).is_(None), Incident.num_reports > 0),
                failures=n(Failure),
            )
    except OperationalError:  # tables not there yet, or a write lock held for long
        return Counts()


def _service_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_") or k.startswith(_KEEP_ENV)}
    if not env.get("WIREWATCH_FLOWER_USER") or not env.get("WIREWATCH_FLOWER_PASSWORD"):
        env["WIREWATCH_FLOWER_USER"] = "demo"
        env["WIREWATCH_FLOWER_PASSWORD"] = secrets.token_urlsafe(12)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(proc: subprocess.Popen[bytes], console: Console) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        console.print("[yellow]service did not stop in time; killing it[/yellow]")
        proc.kill()
        proc.wait()


def run_demo(config: Path | None, timeout: int, *, web: bool = False) -> int:
    """Serve the sample site, run the service on it until it has ingested everything, print
    what it found and where to browse it (`web`: serve the web window on it until Ctrl-C).
    Runs in ``./var/demo``. Returns the process exit code."""
    out = Console() if sys.stdout.isatty() else Console(width=140)  # pipes get 80 columns otherwise
    err = Console(stderr=True)
    try:
        base = load_settings(config)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        return 2
    stories = load_demo_stories()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    db_file = DEMO_DIR / "wirewatch.db"
    for suffix in ("", "-wal", "-shm"):  # every run starts from an empty database
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    database_url = f"sqlite:///{db_file.resolve()}"  # absolute: the config file's directory is not the CWD
    cfg = DEMO_DIR / "config.toml"
    log_path = DEMO_DIR / "service.log"

    site = NewsSite(DEMO_OUTLETS)
    site.start()
    site.publish(stories)
    flower_port = _free_port()
    write_config(
        cfg,
        database_url=database_url,
        broker_url=base.broker.url,
        broker_embedded=base.broker.embedded,
        feeds=[(site.feed_url(o.slug), o.name) for o in DEMO_OUTLETS],
        flower_port=flower_port,
        nlp_model=base.nlp.model,
    )
    upgrade(database_url)
    env = _service_env()
    broker = env.get("WIREWATCH_BROKER_URL", base.broker.url)
    err.print(f"sample news site: {site.base_url}/ ({len(stories)} articles, {len(DEMO_OUTLETS)} feeds)")
    err.print(f"config: {cfg}   database: {db_file}   broker: {redact(broker)} (embedded Redis if nothing answers)")
    flower = f"http://127.0.0.1:{flower_port}/"
    err.print(
        f"Flower, while the service runs: {flower} (user {env['WIREWATCH_FLOWER_USER']}"
        f"{', password ' + env['WIREWATCH_FLOWER_PASSWORD'] if env['WIREWATCH_FLOWER_USER'] == 'demo' else ''})"
        f"   service log: {log_path}"
    )

    argv = [sys.executable, "-m", "worker.cli", "--config", str(cfg), "run", "--flower"]
    ok = False
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            ok = _wait(proc, database_url, len(stories), timeout, err)
        except KeyboardInterrupt:
            err.print("interrupted: stopping the service")
        finally:
            err.print("stopping the service (SIGTERM, warm shutdown)...")
            _stop(proc, err)
            site.stop()
            err.print(f"the service has stopped, and Flower with it ({flower} no longer answers)")
    report(database_url, out)
    c = counts(database_url)
    elapsed = time.monotonic() - started
    out.print(
        f"{c.entries} feed entries, {c.articles} articles stored, {c.extracted} extracted, "
        f"{c.reports} reports, {c.incidents} incidents, {c.failures} failures recorded "
        f"({elapsed:.0f} s; feeds served {site.stats['feed_200']}x, 304 Not Modified {site.stats['feed_304']}x)"
    )
    if not ok:
        err.print(f"[red]the demo did not complete[/red]: see {log_path}")
        return 1
    port = base.web.port if _port_free(base.web.port) else _free_port()
    address = f"http://127.0.0.1:{port}/"
    if not web:
        out.print(f"Browse them: wirewatch --config {cfg} web --port {port}   then open {address}")
        return 0
    from worker.web.server import serve

    out.print(f"Analyst's web window on the demo data: {address}  (Ctrl-C stops it)")
    serve(load_settings(cfg), host="127.0.0.1", port=port)
    return 0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait(proc: subprocess.Popen[bytes], database_url: str, expected: int, timeout: int, console: Console) -> bool:
    """Poll the database until done; True when every entry was processed."""
    deadline = time.monotonic() + timeout
    last, changed_at = Counts(), time.monotonic()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        fetched = progress.add_task("articles stored", total=expected)
        nlp = progress.add_task("articles extracted", total=expected)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                console.print(f"[red]the service exited with {proc.returncode}[/red]")
                return False
            c = counts(database_url)
            if c != last:
                last, changed_at = c, time.monotonic()
            progress.update(
                fetched,
                completed=c.entries - c.entries_new,
                description=f"entries processed ({c.articles} articles stored)",
            )
            progress.update(
                nlp,
                total=max(c.articles, 1),
                completed=c.extracted + c.failed,
                description=f"articles extracted ({c.reports} reports, {c.incidents} incidents)",
            )
            all_seen = c.entries >= expected and c.entries_new == 0
            quiet = time.monotonic() - changed_at
            stuck = quiet >= SETTLE_MAX or (quiet >= SETTLE_WAITING and (c.leased == 0 or c.failures > 0))
            if all_seen and ((c.waiting == 0 and quiet >= SETTLE_ALL_DONE) or stuck):
                if c.waiting:
                    console.print(
                        f"[yellow]{c.waiting} articles were not extracted "
                        "(see the failures table and the service log)[/yellow]"
                    )
                return True
            time.sleep(1.0)
    console.print(f"[red]gave up after {timeout} s[/red]")
    return False


def _killed(i: Incident) -> str:
    if i.killed_low is not None and i.killed_high is not None and i.killed_low != i.killed_high:
        return f"{i.killed_low}-{i.killed_high}"
    best = i.killed_best if i.killed_best is not None else i.killed_low
    return "" if best is None else str(best)


def report(database_url: str, console: Console) -> None:
    """Print the incidents, articles and failures stored in the demo database."""
    engine = get_engine(database_url)
    with session_scope(engine) as s:
        incidents = s.exec(
            select(Incident)
            .where(col(Incident.merged_into).is_(None), Incident.num_reports > 0)
            .order_by(col(Incident.date), col(Incident.location_name))
        ).all()
        t = Table(title="Incidents", show_lines=False)
        for name in ("date", "type", "place", "killed", "perpetrator", "reports", "sources"):
            t.add_column(name, justify="right" if name in ("killed", "reports", "sources") else "left")
        for i in incidents:
            place = ", ".join(p for p in (i.location_name, i.admin1, i.country) if p)
            t.add_row(
                i.date.isoformat() if i.date else "",
                i.event_type,
                place,
                _killed(i),
                i.perpetrator or "",
                str(i.num_reports),
                str(i.num_independent_sources),
            )
        if not incidents:
            t.caption = "no incidents extracted"
        console.print(t)

        n_reports = dict(s.exec(select(Report.article_id, func.count()).group_by(col(Report.article_id))).all())
        feeds = {f.id: f.name for f in s.exec(select(Feed)).all()}
        arts = s.exec(select(Article).order_by(col(Article.published_at))).all()
        t = Table(title="Articles")
        for name in ("published", "title", "source", "dateline", "status", "reports"):
            t.add_column(name, justify="right" if name == "reports" else "left")
        for a in arts:
            source = a.source or (feeds.get(a.feed_id) if a.feed_id is not None else None) or ""
            dateline = " / ".join(p for p in (a.dateline_place, a.dateline_agency) if p)
            status = a.status + (" (wire copy)" if a.copy_of_id else "")
            t.add_row(
                a.published_at.strftime("%Y-%m-%d %H:%M") if a.published_at else "",
                a.title,
                source,
                dateline,
                status,
                str(n_reports.get(a.id or 0, 0)),
            )
        console.print(t)

        failures = s.exec(select(Failure).order_by(col(Failure.id))).all()
        if failures:
            t = Table(title="Failures recorded")
            for name in ("stage", "error", "reason", "url"):
                t.add_column(name, overflow="fold")
            shown: set[tuple[str, str]] = set()
            for f in failures:
                key = (f.stage, f.reason[:80])
                if key in shown:  # the NLP safety net retries: show each distinct failure once
                    continue
                shown.add(key)
                t.add_row(f.stage, f.error, f.reason[:160], f.url or "")
            console.print(t)

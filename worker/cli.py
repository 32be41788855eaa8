"""The ``wirewatch`` command line (Typer).

wirewatch run [--flower]                 the service: workers + beat (+ Flower), supervised
wirewatch ingest --once                  poll every feed once, process everything new, exit
wirewatch feeds add URL... | list | import FILE
wirewatch export [--format json|csv|geojson] [--output FILE] [--as-of ISO]
wirewatch extract [FILE|-] [--published-at ISO] [--source NAME] [--jsonl]
wirewatch incidents show ID | merge A B | unmerge A B | split ID --report URL | relink
wirewatch web [--host H] [--port P]      the analyst's web window
wirewatch db upgrade
wirewatch demo                           the bundled sample news site, ingested by the service
"""

from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlmodel import col, func, select

from worker import jobs
from worker.errors import ConfigError, Transient, WirewatchError
from worker.logs import configure as configure_logging
from worker.records import Article
from worker.resources import Resources
from worker.settings import Settings, config_path, load_settings
from worker.store import export as export_mod
from worker.store import linking, repo
from worker.store.db import session_scope, upgrade
from worker.store.models import Article as ArticleRow
from worker.store.models import Entry, Failure, Feed, Incident, IncidentHistory

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Wirewatch: news feeds to conflict incidents.")
feeds_app = typer.Typer(no_args_is_help=True, help="Manage the feeds to poll.")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
incidents_app = typer.Typer(no_args_is_help=True, help="Inspect and correct incidents.")
app.add_typer(feeds_app, name="feeds")
app.add_typer(db_app, name="db")
app.add_typer(incidents_app, name="incidents")
console = Console(stderr=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config.toml to use", envvar=None)]
_state: dict[str, Any] = {}


@app.callback()
def main(config: ConfigOpt = None, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    _state["config"] = config
    configure_logging(logging.INFO if verbose else logging.WARNING)


def settings() -> Settings:
    if "settings" not in _state:
        try:
            _state["settings"] = load_settings(_state.get("config"))
        except ConfigError as exc:
            console.print(f"[red]configuration error:[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from exc
    s: Settings = _state["settings"]
    return s


def resources(migrate: bool = True) -> Resources:
    s = settings()
    if migrate:
        upgrade(s.database.url)
    return Resources.from_settings(s)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (idempotent)."""
    upgrade(settings().database.url)
    console.print("database is up to date")


@app.command()
def run(flower: Annotated[bool, typer.Option(help="also serve Flower (credentials from env)")] = False) -> None:
    """Start the I/O worker, the NLP worker and beat (and Flower); stop cleanly on Ctrl-C/SIGTERM."""
    from worker.supervisor import supervise

    s = settings()
    upgrade(s.database.url)
    jobs.sync_config_feeds(Resources.from_settings(s))
    try:
        raise typer.Exit(supervise(s, config_path(_state.get("config")), flower=flower))
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from exc


def _fetch_all(res: Resources, entry_ids: list[int], progress: Progress) -> None:
    task = progress.add_task("fetching articles", total=len(entry_ids))

    def one(entry_id: int) -> None:
        for attempt in range(3):
            try:
                jobs.fetch_entry(res, entry_id)
            except Transient as exc:
                if attempt == 2:
                    jobs.record_task_failure(
                        res, task="ingest.fetch", task_id=None, error=exc, attempts=3, entry_id=entry_id
                    )
                    return
                time.sleep(min(exc.retry_after or 2.0**attempt, 10.0))
            else:
                return

    with ThreadPoolExecutor(max_workers=res.settings.fetch.concurrency) as pool:
        for fut in as_completed(pool.submit(one, e) for e in entry_ids):
            fut.result()
            progress.advance(task)


@app.command()
def ingest(once: Annotated[bool, typer.Option("--once", help="poll every feed once and exit")] = False) -> None:
    """Poll every configured feed once and run everything new through all stages (no broker)."""
    if not once:
        console.print("use `wirewatch ingest --once` (or `wirewatch run` for the service)")
        raise typer.Exit(2)
    res = resources()
    jobs.sync_config_feeds(res)
    with Progress(console=console, transient=not console.is_terminal) as progress:
        feed_ids = jobs.tick(res, all_feeds=True)
        t = progress.add_task("polling feeds", total=len(feed_ids))
        for fid in feed_ids:
            jobs.poll_feed(res, fid)
            progress.advance(t)
        _fetch_all(res, jobs.pending_entries(res), progress)
        with session_scope(res.engine) as s:
            waiting = s.exec(select(func.count()).select_from(ArticleRow).where(ArticleRow.status == "fetched")).one()
        t = progress.add_task("extracting incidents", total=waiting)
        while done := jobs.extract_articles(res, link=False):
            progress.advance(t, len(done))
        jobs.link_reports(res)  # all at once, in publication order: the same result whatever the fetch order
    _summary(res)


def _summary(res: Resources) -> None:
    with session_scope(res.engine) as s:
        counts = {
            "feeds": s.exec(select(func.count()).select_from(Feed)).one(),
            "articles": s.exec(select(func.count()).select_from(ArticleRow)).one(),
            "failed entries": s.exec(select(func.count()).select_from(Entry).where(Entry.status == "failed")).one(),
            "incidents": s.exec(
                select(func.count())
                .select_from(Incident)
                .where(col(Incident.merged_into).is_(None), Incident.num_reports > 0)
            ).one(),
            "failures recorded": s.exec(select(func.count()).select_from(Failure)).one(),
        }
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()))


@feeds_app.command("add")
def feeds_add(
    urls: list[str],
    name: Annotated[str | None, typer.Option()] = None,
    interval: Annotated[int | None, typer.Option(min=10)] = None,
) -> None:
    """Add feeds by URL."""
    res = resources()
    with session_scope(res.engine) as s:
        for url in urls:
            added = repo.add_feed(s, url, name=name, interval=interval or res.settings.scheduler.default_interval)
            console.print(f"{'added' if added else 'already there'}: {url}")


@feeds_app.command("import")
def feeds_import(file: Path) -> None:
    """Import feeds from an OPML file or a plain list of URLs (one a line)."""
    from worker.pipeline.feeds import parse_opml, parse_url_list

    data = file.read_bytes()
    try:
        items = (
            parse_opml(data)
            if data.lstrip()[:5].lower() in (b"<?xml", b"<opml")
            else [(u, None) for u in parse_url_list(data.decode("utf-8", errors="replace"))]
        )
    except WirewatchError as exc:
        console.print(f"[red]cannot import {file}:[/red] {exc}")
        raise typer.Exit(1) from exc
    res = resources()
    with session_scope(res.engine) as s:
        added = sum(
            repo.add_feed(s, url, name=title, interval=res.settings.scheduler.default_interval) for url, title in items
        )
    console.print(f"imported {added} new feeds ({len(items) - added} already known)")


@feeds_app.command("list")
def feeds_list() -> None:
    """List feeds with their polling state."""
    res = resources()
    table = Table("id", "url", "name", "interval", "last status", "errors", "next poll")
    with session_scope(res.engine) as s:
        for f in s.exec(select(Feed).order_by(col(Feed.id))).all():
            table.add_row(
                str(f.id),
                f.url,
                f.name or "",
                str(f.interval),
                str(f.last_status or ""),
                str(f.error_count),
                f.next_poll_at.isoformat(timespec="seconds") if f.next_poll_at else "",
            )
    Console().print(table)


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", help="json, csv or geojson")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    as_of: Annotated[str | None, typer.Option(help="only what was known at this ISO time")] = None,
) -> None:
    """Export incidents with their reports."""
    writers = {"json": export_mod.to_json, "csv": export_mod.to_csv, "geojson": export_mod.to_geojson}
    if fmt not in writers:
        console.print(f"unknown format {fmt!r}: choose json, csv or geojson")
        raise typer.Exit(2)
    when = _aware(as_of) if as_of else None
    res = resources()
    with session_scope(res.engine) as s:
        text = writers[fmt](export_mod.incidents(s, as_of=when))
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")


def _aware(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        console.print(f"not an ISO time: {value}")
        raise typer.Exit(2) from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


@app.command()
def extract(
    file: Annotated[str, typer.Argument(help="article text file, or - for stdin")] = "-",
    published_at: Annotated[str | None, typer.Option(help="ISO publication time")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str, typer.Option()] = "",
    jsonl: Annotated[bool, typer.Option(help="one JSON article per input line")] = False,
) -> None:
    """Print the incidents of one article as JSON (no database needed)."""
    from worker.pipeline.extract import extract_many, load_nlp

    nlp = load_nlp(settings().nlp.model)
    raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    if not jsonl:
        art = Article(
            url="",
            canonical_url="",
            title=title,
            text=raw,
            published_at=_aware(published_at) if published_at else None,
            source=source,
        )
        (incs,) = extract_many(nlp, [art])
        sys.stdout.write(json.dumps({"incidents": [i.to_dict() for i in incs]}, ensure_ascii=False) + "\n")
        return
    lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    arts = [
        Article(
            url=d.get("url", ""),
            canonical_url="",
            title=d.get("title") or "",
            text=d.get("text") or "",
            published_at=_aware(d["published_at"]) if d.get("published_at") else None,
            source=d.get("source"),
        )
        for d in lines
    ]
    for d, incs in zip(lines, extract_many(nlp, arts, batch_size=settings().nlp.batch_size), strict=True):
        sys.stdout.write(
            json.dumps({"id": d.get("id"), "incidents": [i.to_dict() for i in incs]}, ensure_ascii=False) + "\n"
        )


@incidents_app.command("show")
def incidents_show(incident_id: str) -> None:
    """Show one incident, its reports with link reasons, and its history."""
    res = resources()
    with session_scope(res.engine) as s:
        items = [i for i in export_mod.incidents(s) if i["id"] == incident_id]
        history = s.exec(
            select(IncidentHistory).where(IncidentHistory.incident_id == incident_id).order_by(col(IncidentHistory.id))
        ).all()
        hist = [
            {"at": h.at.isoformat(), "action": h.action, "report_id": h.report_id, "changes": h.changes}
            for h in history
        ]
    if not items and not hist:
        console.print(f"no incident {incident_id}")
        raise typer.Exit(1)
    sys.stdout.write(json.dumps({"incident": items[0] if items else None, "history": hist}, indent=2) + "\n")


@incidents_app.command("merge")
def incidents_merge(keep: str, other: str, note: Annotated[str | None, typer.Option()] = None) -> None:
    """Merge incident OTHER into KEEP (recorded; survives re-processing)."""
    res = resources()
    with session_scope(res.engine) as s:
        linking.merge_incidents(s, keep, other, note=note, operator=_cli_operator())
    console.print(f"merged {other} into {keep}")


def _cli_operator() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@incidents_app.command("unmerge")
def incidents_unmerge(keep: str, other: str, note: Annotated[str | None, typer.Option()] = None) -> None:
    """Undo the merge of OTHER into KEEP: OTHER gets back the reports it had (recorded)."""
    res = resources()
    try:
        with session_scope(res.engine) as s:
            linking.unmerge_incidents(s, keep, other, note=note, operator=_cli_operator())
    except LookupError as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"unmerged {other} from {keep}")


@incidents_app.command("split")
def incidents_split(
    incident_id: str,
    report: Annotated[str, typer.Option("--report", help="report URL")],
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Move the report from URL out of the incident into a new one (recorded)."""
    res = resources()
    try:
        with session_scope(res.engine) as s:
            new_id = linking.split_report(s, incident_id, report, note=note, operator=_cli_operator())
    except LookupError as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"split {report} into new incident {new_id}")


@incidents_app.command("relink")
def incidents_relink() -> None:
    """Re-process every report's link (publication order), then replay operator corrections."""
    res = resources()
    with session_scope(res.engine) as s:
        n = linking.relink_all(s, res.policy)
    console.print(f"{n} incidents after relinking")


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="address to bind (default: web.host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: web.port, 8765)")] = None,
) -> None:
    """Serve the analyst's web window: incidents map and list, one incident, feeds, Atom, JSON API."""
    from worker.web.server import serve

    s = settings()
    upgrade(s.database.url)
    try:
        serve(s, host=host, port=port)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def demo(
    seconds: Annotated[int, typer.Option(help="give up after this long")] = 300,
    web: Annotated[bool, typer.Option("--web", help="then serve the web window on the demo data")] = False,
) -> None:
    """Serve the bundled sample news site on loopback, run the service on it, list what it found."""
    from worker.demo import run_demo

    raise typer.Exit(run_demo(_state.get("config"), timeout=seconds, web=web))


if __name__ == "__main__":
    app()

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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table
from sqlmodel import col, select

from worker import jobs
from worker.errors import ConfigError, StoreUnavailable, WirewatchError
from worker.logs import configure as configure_logging
from worker.records import Article
from worker.resources import Resources
from worker.settings import Settings, config_path, load_settings
from worker.store import export as export_mod
from worker.store import linking, repo
from worker.store.db import session_scope, upgrade
from worker.store.models import Feed, Incident, IncidentHistory

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


@app.command()
def ingest(
    once: Annotated[bool, typer.Option("--once", help="poll every feed once and exit")] = False,
    max_seconds: Annotated[
        float | None,
        typer.Option("--max-seconds", min=0, help="start no work after this many seconds (0: no bound)"),
    ] = None,
) -> None:
    """Poll every configured feed once and run everything new through all stages (no broker).

    Stages overlap: articles are extracted while other pages are still being fetched. What is
    left (a slow page, or the time bound reached) stays queued for the next run and is listed
    in the summary. Exit status 1 when a feed could not be polled or an unexpected error was
    recorded; pages that failed are recorded with their reason and do not change it."""
    from worker.once import ingest_once

    started = time.monotonic()  # the bound covers the start-up (migrations) too
    if not once:
        console.print("use `wirewatch ingest --once` (or `wirewatch run` for the service)")
        raise typer.Exit(2)
    bound = settings().ingest.max_seconds if max_seconds is None else max_seconds
    try:
        res = resources()
        jobs.sync_config_feeds(res)
        with Progress(console=console, transient=not console.is_terminal) as progress:
            summary = ingest_once(res, max_seconds=bound or None, meter=_meter(progress), started=started)
    except StoreUnavailable as exc:
        console.print(f"[red]{escape(str(exc))}[/red]: nothing is lost, run `wirewatch ingest --once` again later")
        raise typer.Exit(1) from exc
    for line in summary.lines():
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(summary.exit_code)


def _meter(progress: Progress) -> Callable[[str, int, int], None]:
    """A progress bar per stage, created on first report."""
    bars: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = progress.add_task(stage, total=total)
        progress.update(bars[stage], completed=done, total=total)

    return update


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
        # CSV rows end in CRLF already: a further newline would be an empty last row.
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


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
    from worker.pipeline.extract import Gazetteer, extract_many, load_nlp

    nlp, gazetteer = load_nlp(settings().nlp.model), Gazetteer.load()
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
        (incs,) = extract_many(nlp, [art], gazetteer=gazetteer)
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
    for d, incs in zip(
        lines, extract_many(nlp, arts, batch_size=settings().nlp.batch_size, gazetteer=gazetteer), strict=True
    ):
        sys.stdout.write(
            json.dumps({"id": d.get("id"), "incidents": [i.to_dict() for i in incs]}, ensure_ascii=False) + "\n"
        )


@incidents_app.command("show")
def incidents_show(incident_id: str) -> None:
    """Show one incident, why each merged field has its value, its reports with link scores and
    reasons, and its history (who did what and why). An old id shows where it went."""
    res = resources()
    with session_scope(res.engine) as s:
        current = linking.resolve(s, incident_id)
        if current is None:
            console.print(f"no incident {incident_id}")
            raise typer.Exit(1)
        items = [i for i in export_mod.incidents(s) if i["id"] == current]
        row = s.get_one(Incident, current)
        ids = [incident_id] if current == incident_id else [incident_id, current]
        history = s.exec(
            select(IncidentHistory).where(col(IncidentHistory.incident_id).in_(ids)).order_by(col(IncidentHistory.id))
        ).all()
        hist = [
            {
                "at": h.at.isoformat(),
                "incident": h.incident_id,
                "action": h.action,
                "other_incident": h.other_incident_id,
                "operator": h.operator,
                "note": h.note,
                "report_id": h.report_id,
                "changes": h.changes,
            }
            for h in history
        ]
        out: dict[str, Any] = {"incident": items[0] if items else None, "why": row.field_reasons, "history": hist}
        if current != incident_id:
            out = {"redirected_from": incident_id, **out}
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


def _operator(value: str | None) -> str:
    """Who makes a correction: as given, else "cli:<login>" (the web window records "web:<user>")."""
    import getpass  # only corrections need it

    return value or f"cli:{getpass.getuser()}"


OperatorOpt = Annotated[str | None, typer.Option(help="who makes the correction (default: cli:<login name>)")]
NoteOpt = Annotated[str | None, typer.Option(help="why, recorded with the correction")]


@incidents_app.command("merge")
def incidents_merge(keep: str, other: str, note: NoteOpt = None, operator: OperatorOpt = None) -> None:
    """Merge incident OTHER into KEEP (recorded once; survives re-processing)."""
    res = resources()
    try:
        with session_scope(res.engine) as s:
            done = linking.merge_incidents(s, keep, other, note=note, operator=_operator(operator))
    except linking.CorrectionError as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"merged {other} into {keep}" if done else f"{other} and {keep} are already one incident")


@incidents_app.command("unmerge")
def incidents_unmerge(keep: str, other: str, note: NoteOpt = None, operator: OperatorOpt = None) -> None:
    """Undo the merge of OTHER into KEEP: OTHER gets its reports back (recorded; survives re-processing)."""
    res = resources()
    try:
        with session_scope(res.engine) as s:
            linking.unmerge_incidents(s, keep, other, note=note, operator=_operator(operator))
    except linking.CorrectionError as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"restored {other} beside {keep}")


@incidents_app.command("split")
def incidents_split(
    incident_id: str,
    report: Annotated[str, typer.Option("--report", help="report URL")],
    note: NoteOpt = None,
    operator: OperatorOpt = None,
) -> None:
    """Move the report from URL out of the incident into a new one (recorded)."""
    res = resources()
    try:
        with session_scope(res.engine) as s:
            new_id = linking.split_report(s, incident_id, report, note=note, operator=_operator(operator))
    except LookupError as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"split {report} into new incident {new_id}")


@incidents_app.command("relink")
def incidents_relink() -> None:
    """Re-process every report's link (publication order), then replay operator corrections.
    Incident ids are kept where the incident is unchanged; every other old id redirects."""
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

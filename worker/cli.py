"""The ``wirewatch`` command line (Typer).

wirewatch run [--flower]                 the service: workers + beat (+ Flower), supervised
wirewatch ingest --once                  poll every feed once, process everything new, exit
wirewatch feeds add URL... | list [--all] | import FILE | remove|disable|enable ID|URL
wirewatch failures [--since 1d] [--feed ID] [--limit N] | failures retry ID... | --all
wirewatch status                         feeds, backlog, failures, broker queues and workers
wirewatch export [--format json|csv|geojson] [--output FILE] [--as-of ISO]
wirewatch extract [FILE|-] [--published-at ISO] [--source NAME] [--jsonl]
wirewatch incidents show ID | merge A B | unmerge A B | split ID --report URL | relink
wirewatch web [--host H] [--port P]      the analyst's web window
wirewatch db upgrade
wirewatch demo                           the bundled sample news site, ingested by the service

Errors: every failure a user can cause or fix (bad input, bad settings, a database or broker
that does not answer) ends in one line ``error: ...`` on stderr and a non-zero status; ``-v``
adds the traceback. The root command (:class:`ReportingGroup`) is the one place that turns an
exception into that line, whichever way the app is started (console script, ``python -m``,
a test's CliRunner).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoResultFound, OperationalError
from sqlmodel import Session, col, select
from typer.core import TyperGroup

from worker import jobs
from worker.errors import ConfigError, StoreUnavailable, WirewatchError
from worker.logs import configure as configure_logging
from worker.records import Article
from worker.resources import Resources
from worker.settings import FeedUrl, Settings, config_path, load_settings
from worker.store import admin, browse, linking, repo
from worker.store import export as export_mod
from worker.store.db import current_revision, session_scope, upgrade
from worker.store.models import Failure, Feed, Incident, IncidentHistory, utcnow

if TYPE_CHECKING:
    from worker.pipeline.extract.gazetteer import Gazetteer


class ReportingGroup(TyperGroup):
    """The root command: an exception from any command ends as one line ``error: ...`` on
    stderr and a non-zero status (-v: after the traceback). Typer's own exits, aborts and usage
    errors, and a closed pipe (`wirewatch export | head`), keep Typer's handling."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer's Context type lives in a private module
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            raise
        except Exception as exc:  # the one place every failure is reported
            raise typer.Exit(report_error(exc)) from exc


def report_error(exc: Exception) -> int:
    """Print `exc` as one line on stderr (the traceback first under -v); the exit status."""
    verbose = bool(_state.get("verbose"))
    if verbose:
        traceback.print_exception(exc)
    message, status = describe_error(exc)
    if not verbose and not isinstance(exc, _KNOWN):
        message += " (rerun with -v for the traceback)"
    console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return status


# rich_markup_mode=None: Typer 0.29's Rich help panel prints a value placeholder (``<bool>``) for
# every option, flags included (its TyperOption.display_type_rich has no is_flag check; the plain
# formatter has one), which tells users that `--once` takes a value. Plain help lists flags as
# flags. Exceptions become one line in ReportingGroup, not Typer's pretty tracebacks.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    cls=ReportingGroup,
    help="Wirewatch: news feeds to conflict incidents.",
)
feeds_app = typer.Typer(no_args_is_help=True, help="Manage the feeds to poll.")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
incidents_app = typer.Typer(no_args_is_help=True, help="Inspect and correct incidents.")
failures_app = typer.Typer(
    invoke_without_command=True, help="List what could not be processed, and why; queue it again."
)
app.add_typer(feeds_app, name="feeds")
app.add_typer(failures_app, name="failures")
app.add_typer(db_app, name="db")
app.add_typer(incidents_app, name="incidents")
console = Console(stderr=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config.toml to use", envvar=None)]
_state: dict[str, Any] = {}


@app.callback()
def options(
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log more; show the traceback of an error")] = False,
) -> None:
    _state["config"] = config
    _state["verbose"] = verbose
    configure_logging(logging.INFO if verbose else logging.WARNING)


_KNOWN = (WirewatchError, OSError, OperationalError, RedisConnectionError, NoResultFound, linking.CorrectionError)


def describe_error(exc: Exception) -> tuple[str, int]:
    """One line naming the problem, and the exit status (2: configuration, 1: anything else)."""
    if isinstance(exc, ConfigError):
        return str(exc), 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}", 1
    if isinstance(exc, OperationalError):
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        return f"database unavailable at {_database_location()}: {first}", 1
    if isinstance(exc, RedisConnectionError):
        where = _redacted(_state["settings"].broker.url) if "settings" in _state else "the configured broker"
        return f"broker unavailable at {where}: {exc}", 1
    if isinstance(exc, NoResultFound):
        return f"not found: {exc}", 1
    if isinstance(exc, WirewatchError | linking.CorrectionError):
        return str(exc), 1
    return f"unexpected {type(exc).__name__}: {exc}", 1


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


def _database_location() -> str:
    """Where the configured database is, for messages: the file of SQLite, else the URL
    without its password."""
    if "settings" not in _state:
        return "the configured database"
    url = make_url(_state["settings"].database.url)
    return str(url.database) if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


def settings() -> Settings:
    """The settings of this run (--config, else $WIREWATCH_CONFIG, else ./config.toml; then the
    environment). A ConfigError goes up to the root command, which prints it."""
    if "settings" not in _state:
        _state["settings"] = load_settings(_state.get("config"))
    s: Settings = _state["settings"]
    return s


def resources(migrate: bool = True) -> Resources:
    s = settings()
    if migrate:
        upgrade(s.database.url)
    return Resources.from_settings(s)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or apply its pending migrations (idempotent); say which."""
    url = settings().database.url
    before = current_revision(url)
    upgrade(url)
    after = current_revision(url)
    where = _database_location()
    if before is None:
        message = f"created the database at {where} (migrations applied up to {after})"
    elif before != after:
        message = f"upgraded the database at {where} from revision {before} to {after}"
    else:
        message = f"the database at {where} is already up to date (revision {after})"
    console.print(message, markup=False, soft_wrap=True)


@app.command()
def run(flower: Annotated[bool, typer.Option(help="also serve Flower (credentials from env)")] = False) -> None:
    """Start the I/O worker, the NLP worker and beat (and Flower); stop cleanly on Ctrl-C/SIGTERM."""
    from worker.supervisor import supervise

    s = settings()
    upgrade(s.database.url)
    jobs.sync_config_feeds(Resources.from_settings(s))
    if _place_index_missing():  # the start-up checks build it, in a child process
        _say_building_place_index()
    raise typer.Exit(supervise(s, config_path(_state.get("config")), flower=flower))


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
        _gazetteer()
        with Progress(console=console, transient=not console.is_terminal) as progress:
            summary = ingest_once(res, max_seconds=bound or None, meter=_meter(progress), started=started)
    except StoreUnavailable as exc:
        console.print(f"error: {exc}: nothing is lost, run `wirewatch ingest --once` again later", markup=False)
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


def _say(text: str) -> None:
    """One line for the operator on stderr, printed as is (URLs may hold ``[...]``)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _refuse(text: str, code: int = 1) -> typer.Exit:
    _say(text)
    return typer.Exit(code)


_FEED_URL: TypeAdapter[str] = TypeAdapter(FeedUrl)


def feed_url_problem(url: str) -> str | None:
    """Why `url` cannot be a feed (the rules config.toml's ``[[feeds]] url`` follows: http or
    https, with a host, at most 2048 characters), or None."""
    try:
        _FEED_URL.validate_python(url)
    except ValidationError as exc:
        why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return why.removeprefix(f"{url[:200]!r}: ")
    return None


@feeds_app.command("add")
def feeds_add(
    urls: list[str],
    name: Annotated[str | None, typer.Option()] = None,
    interval: Annotated[int | None, typer.Option(min=10)] = None,
) -> None:
    """Add feeds by URL (http or https). A feed removed earlier is brought back.
    Nothing is added when any URL is refused."""
    refused = [(u, why) for u in urls if (why := feed_url_problem(u.strip())) is not None]
    for url, why in refused:
        _say(f"refused {url}: {why}")
    if refused:
        raise typer.Exit(2)
    res = resources()
    with session_scope(res.engine) as s:
        for url in (u.strip() for u in urls):
            _say(_follow(s, url, name, interval or res.settings.scheduler.default_interval))


def _follow(session: Session, url: str, name: str | None, interval: int) -> str:
    """Follow `url`: add it, bring it back if it was removed, or leave it as it is; says which
    ("added: URL", "added back: URL (...)", "already there: URL")."""
    known = admin.find_feed(session, url)
    if known is not None and known.removed_at is not None:
        reopened = admin.restore_feed(session, known)
        return f"added back: {url} (feed {known.id}; {reopened} entries it had not fetched queued again)"
    return f"{'added' if repo.add_feed(session, url, name=name, interval=interval) else 'already there'}: {url}"


@feeds_app.command("import")
def feeds_import(file: Path) -> None:
    """Import feeds from an OPML file (folders followed) or a plain list of URLs (one a line)."""
    from worker.pipeline.feeds import looks_like_opml, parse_opml, parse_url_list

    data = file.read_bytes()
    try:
        items = (
            parse_opml(data)
            if looks_like_opml(data)
            else [(u, None) for u in parse_url_list(data.decode("utf-8-sig", errors="replace"))]
        )
    except WirewatchError as exc:
        raise _refuse(f"cannot import {file}: {exc}") from exc
    res = resources()
    with session_scope(res.engine) as s:
        done = [_follow(s, url, title, res.settings.scheduler.default_interval) for url, title in items]
    back = sum(d.startswith("added back:") for d in done)
    added = sum(d.startswith("added:") for d in done)
    _say(
        f"imported {added} new feeds"
        + (f", {back} removed earlier added back" if back else "")
        + f" ({len(items) - added - back} already known)"
    )


def _when(value: datetime | None, empty: str = "") -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}Z" if value is not None else empty


def _short(text: str | None, width: int = 60) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _table_out() -> Console:
    """Where tables go: stdout, as wide as the terminal; piped or redirected, one line per row
    (no URL folded over lines for grep or awk to miss)."""
    return Console() if sys.stdout.isatty() else Console(width=1000)


def _next_poll(feed: Feed, state: str) -> str:
    if state in (admin.REMOVED, admin.DISABLED):
        return "-"
    return _when(feed.next_poll_at, empty="now")


def _synced() -> Resources:
    """Resources, with config.toml's feeds in the database as a start puts them (so a
    configured feed can be listed, disabled or removed before the service first ran)."""
    res = resources()
    jobs.sync_config_feeds(res)
    return res


@feeds_app.command("list")
def feeds_list(
    show_removed: Annotated[bool, typer.Option("--all", help="also list removed feeds")] = False,
) -> None:
    """List feeds: status (ok, failing, new: never polled, disabled), last successful poll,
    last error, newest item, next poll (times in UTC)."""
    res = _synced()
    table = Table("id", "url", "name", "status", "last success", "last error", "newest item", "next poll")
    with session_scope(res.engine) as s:
        for st in browse.feed_status(s, include_removed=show_removed):
            f, state = st.feed, admin.feed_state(st.feed)
            table.add_row(
                str(f.id),
                escape(f.url),
                escape(f.name or ""),
                state,
                _when(f.last_success_at, empty="never"),
                escape(_short(f.last_error)),
                _when(st.newest_item_at),
                _next_poll(f, state),
            )
    _table_out().print(table)


def _feed_or_exit(s: Session, ref: str) -> Feed:
    feed = admin.find_feed(s, ref)
    if feed is None or feed.removed_at is not None:
        raise _refuse(f"no feed {ref} (see `wirewatch feeds list`)")
    return feed


def _in_config(url: str) -> bool:
    return any(spec.url == url for spec in settings().feeds)


@feeds_app.command("remove")
def feeds_remove(feed_ref: Annotated[str, typer.Argument(metavar="ID|URL")]) -> None:
    """Stop following a feed. Its articles, reports and incidents are kept (they are evidence);
    its entries not fetched yet are dropped (`wirewatch feeds add URL` brings it all back).
    A feed listed in config.toml stays removed: the next start does not add it again."""
    res = _synced()
    with session_scope(res.engine) as s:
        feed = _feed_or_exit(s, feed_ref)
        dropped = admin.remove_feed(s, feed, utcnow())
        fid, url = feed.id, feed.url
    note = (
        "; config.toml still lists it: it stays removed (delete its [[feeds]] entry to tidy up)"
        if _in_config(url)
        else ""
    )
    _say(f"removed feed {fid} ({url}): its articles are kept, {dropped} entries not fetched yet dropped{note}")


def _set_enabled(feed_ref: str, enabled: bool) -> None:
    res = _synced()
    with session_scope(res.engine) as s:
        feed = _feed_or_exit(s, feed_ref)
        changed = admin.set_enabled(s, feed, enabled)
        fid, url = feed.id, feed.url
    word = "enabled" if enabled else "disabled"
    note = f"; config.toml lists it: it stays {word} after a restart" if changed and _in_config(url) else ""
    _say(f"{word if changed else 'already ' + word}: feed {fid} ({url}){note}")


@feeds_app.command("disable")
def feeds_disable(feed_ref: Annotated[str, typer.Argument(metavar="ID|URL")]) -> None:
    """Stop polling a feed (the scheduler and `ingest --once` skip it) and keep everything it
    brought; entries already found are still fetched."""
    _set_enabled(feed_ref, False)


@feeds_app.command("enable")
def feeds_enable(feed_ref: Annotated[str, typer.Argument(metavar="ID|URL")]) -> None:
    """Poll a disabled feed again (due at once)."""
    _set_enabled(feed_ref, True)


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", help="json, csv or geojson")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    as_of: Annotated[str | None, typer.Option(help="only what was known at this ISO time")] = None,
) -> None:
    """Export incidents with their reports."""
    writers = {"json": export_mod.to_json, "csv": export_mod.to_csv, "geojson": export_mod.to_geojson}
    if fmt not in writers:
        raise typer.BadParameter(f"unknown format {fmt!r}: choose json, csv or geojson", param_hint="--format")
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
        raise typer.BadParameter(f"not an ISO time: {value!r}") from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


@app.command()
def extract(
    file: Annotated[str, typer.Argument(help="article text file, or - for stdin")] = "-",
    published_at: Annotated[str | None, typer.Option(help="ISO publication time")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str, typer.Option()] = "",
    jsonl: Annotated[bool, typer.Option(help="one JSON article per input line")] = False,
) -> None:
    """Print the incidents of one article as JSON (no database needed).

    With --jsonl, each line is an object with "text" (and optional "id", "title", "url",
    "published_at", "source"); a line that is not one gets {"line", "id", "error"} in its place
    and the others are still processed; the exit status is then 1."""
    from worker.pipeline.extract import extract_many, load_nlp

    raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")  # before the slow model load
    if not jsonl:
        art = Article(
            url="",
            canonical_url="",
            title=title,
            text=raw,
            published_at=_aware(published_at) if published_at else None,
            source=source,
        )
        (incs,) = extract_many(load_nlp(settings().nlp.model), [art], gazetteer=_gazetteer())
        sys.stdout.write(json.dumps({"incidents": [i.to_dict() for i in incs]}, ensure_ascii=False) + "\n")
        return
    items = [(n, *_jsonl_item(line)) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    good = [item for _, _, item in items if isinstance(item, Article)]
    found = iter(
        extract_many(load_nlp(settings().nlp.model), good, batch_size=settings().nlp.batch_size, gazetteer=_gazetteer())
        if good
        else []
    )
    for n, item_id, item in items:
        out = (
            {"id": item_id, "incidents": [i.to_dict() for i in next(found)]}
            if isinstance(item, Article)
            else {"line": n, "id": item_id, "error": item}
        )
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    if failed := len(items) - len(good):
        console.print(f"error: {failed} of {len(items)} input lines could not be read", markup=False)
        raise typer.Exit(1)


def _jsonl_item(line: str) -> tuple[Any, Article | str]:
    """``(id, article)`` of one ``extract --jsonl`` line, or ``(id, what is wrong with it)``."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(d, dict):
        return None, f"not a JSON object but {type(d).__name__}"
    item_id = d.get("id")
    text, published = d.get("text"), d.get("published_at")
    if not isinstance(text, str) or not text.strip():
        return item_id, 'no "text" string'
    if bad := [k for k in ("url", "title", "source", "published_at") if not isinstance(d.get(k) or "", str)]:
        return item_id, f"not a string: {', '.join(bad)}"
    try:
        when = datetime.fromisoformat(published) if published else None
    except ValueError:
        return item_id, f"published_at is not an ISO time: {published!r}"
    art = Article(
        url=d.get("url") or "",
        canonical_url="",
        title=d.get("title") or "",
        text=text,
        published_at=when.replace(tzinfo=UTC) if when and when.tzinfo is None else when,
        source=d.get("source"),
    )
    return item_id, art


def _place_index_missing() -> bool:
    """Whether the place index still has to be built: half a minute to minutes and about 1 GB
    of memory, once, which a user should be told about rather than see a silent terminal."""
    from worker.pipeline.extract.gazetteer import default_cache_dir, index_path

    return not index_path(default_cache_dir()).exists()


def _say_building_place_index() -> None:
    console.print(
        "building the place index (first run only, about 30 s to 4 min, ~1 GB of memory)...",
        markup=False,
        soft_wrap=True,
    )


def _gazetteer() -> Gazetteer:
    """The place index, saying so before and after building it the first time."""
    from worker.pipeline.extract.gazetteer import Gazetteer

    if not _place_index_missing():
        return Gazetteer.load()
    _say_building_place_index()
    started = time.monotonic()
    gazetteer = Gazetteer.load()
    console.print(
        f"place index built in {time.monotonic() - started:.0f} s: {gazetteer.path}", markup=False, soft_wrap=True
    )
    return gazetteer


@incidents_app.command("show")
def incidents_show(incident_id: str) -> None:
    """Show one incident, why each merged field has its value, its reports with link scores and
    reasons, and its history (who did what and why). An old id shows where it went."""
    res = resources()
    with session_scope(res.engine) as s:
        current = linking.resolve(s, incident_id)
        if current is None:
            console.print(f"error: no incident {incident_id}", markup=False)
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
    with session_scope(res.engine) as s:
        done = linking.merge_incidents(s, keep, other, note=note, operator=_operator(operator))
    console.print(f"merged {other} into {keep}" if done else f"{other} and {keep} are already one incident")


@incidents_app.command("unmerge")
def incidents_unmerge(keep: str, other: str, note: NoteOpt = None, operator: OperatorOpt = None) -> None:
    """Undo the merge of OTHER into KEEP: OTHER gets its reports back (recorded; survives re-processing)."""
    res = resources()
    with session_scope(res.engine) as s:
        linking.unmerge_incidents(s, keep, other, note=note, operator=_operator(operator))
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
    with session_scope(res.engine) as s:
        new_id = linking.split_report(s, incident_id, report, note=note, operator=_operator(operator))
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
    serve(s, host=host, port=port)


@app.command()
def demo(
    seconds: Annotated[int, typer.Option(help="give up after this long")] = 300,
    web: Annotated[bool, typer.Option("--web", help="then serve the web window on the demo data")] = False,
) -> None:
    """Serve the bundled sample news site on loopback, run the service on it, list what it found."""
    from worker.demo import run_demo

    settings()  # a bad configuration stops here, with the one error line
    raise typer.Exit(run_demo(_state.get("config"), timeout=seconds, web=web))


# ------------------------------------------------------------------------ failures, status

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _since(value: str) -> datetime:
    """`value` as a time: a span back from now ("90m", "12h", "1d", "2w") or an ISO time."""
    number, unit = value[:-1], value[-1:].lower()
    if unit in _UNITS and number.isdigit():
        return utcnow() - timedelta(seconds=int(number) * _UNITS[unit])
    return _aware(value)


def _failure_rows(rows: Sequence[Any]) -> Table:
    table = Table("id", "when", "stage", "what", "error", "why", "retried")
    for f in rows:
        what = f.url or (f"feed {f.feed_id}" if f.feed_id is not None else f.task_id or "")
        table.add_row(
            str(f.id),
            _when(f.at),
            f.stage,
            escape(what),
            escape(f.error),
            escape(_short(f.reason, 100)),
            _when(f.retried_at),
        )
    return table


SinceOpt = Annotated[str | None, typer.Option(help="only since then: 90m, 12h, 1d, 2w or an ISO time")]
FeedOpt = Annotated[int | None, typer.Option("--feed", help="only this feed's (its id)")]


@failures_app.callback()
def failures_list(
    ctx: typer.Context,
    since: SinceOpt = None,
    feed: FeedOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
) -> None:
    """List recorded failures, newest first: when, what (feed or article URL), stage, why.
    `wirewatch failures retry` queues them again."""
    if ctx.invoked_subcommand is not None:
        return
    when = _since(since) if since else None
    res = resources()
    with session_scope(res.engine) as s:
        rows = admin.list_failures(s, since=when, feed_id=feed, limit=limit)
    if not rows:
        _say("no failures recorded" + (f" since {_when(when)}" if when else ""))
        return
    _table_out().print(_failure_rows(rows))


@failures_app.command("retry")
def failures_retry(
    ids: Annotated[list[int] | None, typer.Argument(metavar="[ID]...", help="failure ids")] = None,
    every: Annotated[bool, typer.Option("--all", help="every failure not retried yet (see --since, --feed)")] = False,
    since: SinceOpt = None,
    feed: FeedOpt = None,
) -> None:
    """Queue what failed again: an article for extraction, an entry to be fetched (the
    service's next tick or the next `ingest --once` takes it), a feed's poll for now.
    Each failure retried is marked; what cannot be retried says why."""
    if bool(ids) == every:
        raise _refuse("name failure ids, or --all (see `wirewatch failures`)", 2)
    res = resources()
    now = utcnow()
    with session_scope(res.engine) as s:
        if every:
            rows = admin.list_failures(
                s, since=_since(since) if since else None, feed_id=feed, limit=None, unretried=True
            )
        else:
            found = [(i, s.get(Failure, i)) for i in ids or ()]
            if missing := [str(i) for i, f in found if f is None]:
                raise _refuse(f"no failure {', '.join(missing)} (see `wirewatch failures`)")
            rows = [f for _, f in found if f is not None]
        done = [admin.retry_failure(s, f, now) for f in rows]
    for r in done:
        _say(f"failure {r.failure_id}: {r.what}")
    _say(f"{sum(r.queued for r in done)} of {len(done)} queued again")


def _age(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _feeds_line(view: admin.Overview, now: datetime) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in view.feeds.items())
    line = f"feeds: {counts}"
    if view.oldest_success is not None:
        feed, at = view.oldest_success
        line += f"; oldest last success: feed {feed.id} ({feed.url}) " + (
            f"{_when(at)} ({_age(at, now)})" if at else "never"
        )
    return line


def _broker_lines(url: str) -> list[str]:
    import redis
    from kombu.exceptions import KombuError

    from worker.celery_app import redact
    from worker.status import broker_state, workers_answering

    state = broker_state(url)
    if state.error is not None:
        return [f"broker: unreachable at {redact(url)} ({state.error})", "workers: unknown (no broker)"]
    queues = ", ".join(f"{name} {n}" for name, n in state.queues.items())
    try:
        names = workers_answering(url)
    except (OSError, KombuError, redis.RedisError) as exc:  # the broker went away since
        workers = f"unknown (ping failed: {type(exc).__name__}: {exc})"
    else:
        workers = f"{len(names)} answering ({', '.join(names)})" if names else "no workers answering"
    return [
        f"broker: {redact(url)}: queued {queues}; {state.unacked} delivered, not acknowledged",
        f"workers: {workers}",
    ]


def _status_broker(settings: Settings) -> str:
    """The broker the service uses: the configured one, or, when it does not answer, the
    embedded Redis a running service started (``broker.embedded``)."""
    from worker.supervisor import broker_alive, embedded_broker_url

    url = settings.broker.url
    if not settings.broker.embedded or broker_alive(url, timeout=1.0):
        return url
    return embedded_broker_url(Path(settings.broker.embedded_dir)) or url


@app.command()
def status() -> None:
    """Summarise the service: feeds (ok, failing, disabled; the stalest), backlog (entries not
    fetched, articles not extracted), failures of the last 24 h, broker queues and workers."""
    now = utcnow()
    try:
        res = _synced()
        with session_scope(res.engine) as s:
            view = admin.overview(s, now)
    except StoreUnavailable as exc:
        raise _refuse(f"{exc}") from exc
    lines = [
        _feeds_line(view, now),
        f"last poll: {_when(view.last_poll, empty='none yet')}",
        f"backlog: {view.entries_waiting} entries not fetched, {view.articles_waiting} articles not extracted"
        + (f" ({view.articles_held} more held by an environment problem)" if view.articles_held else ""),
        f"failures in the last 24 h: {view.failures_24h}"
        + (" (`wirewatch failures --since 1d`)" if view.failures_24h else ""),
        *_broker_lines(_status_broker(res.settings)),
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    app()

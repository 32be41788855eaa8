"""The FastAPI application: pages, their machine-readable twins, the Atom feed, corrections.

    GET  /incidents[.json|.geojson|.atom]   the filtered view (map + list; export schema; points; feed)
    GET  /incidents/points.json             the view's markers (id, place, type, toll), newest first
    GET  /incidents/{id}[.json]             one incident: fields, reports, evidence, links, history
    POST /incidents/{id}/merge|split|unmerge  operator corrections (credentials + CSRF token)
    GET  /feeds[.json]                      every feed's state and the recent failures
    GET  /api                               the JSON API described from /openapi.json

Handlers read through :mod:`worker.store.browse` and :mod:`worker.store.export` and write
through :mod:`worker.store.linking`; one database session per request. (No ``from __future__
import annotations`` here: FastAPI reads the handlers' annotations at run time, and the handlers
are closures over the app's settings.)
"""

import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path as FilePath
from typing import Annotated, Any

import jinja2
from fastapi import Depends, FastAPI, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.errors import StoreUnavailable
from worker.settings import Settings
from worker.store import browse, export, linking
from worker.store.db import get_engine, session_scope
from worker.store.models import Incident
from worker.web import atom, schema
from worker.web.security import CSRF_COOKIE, Credentials, Guard, check_csrf, csrf_token, http_url, security_headers
from worker.web.views import BadRequest, count_text, evidence_marks, parse_as_of, parse_cursor, parse_filter

HERE = FilePath(__file__).parent
ID_PATTERN = r"^[0-9a-zA-Z]{1,32}$"
TYPES_TTL = 60.0  # seconds the list of event types (for the filter form) is cached


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name; nothing article-derived is marked safe
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["http_url"] = http_url
    env.filters["count"] = count_text
    env.filters["ts"] = lambda v: (v.isoformat(timespec="seconds") if hasattr(v, "isoformat") else (v or "")) or ""
    return env


def _session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as s:
        yield s


def view(
    date_from: Annotated[str | None, Query(description="event date from (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, Query(description="event date to, inclusive (YYYY-MM-DD)")] = None,
    country: Annotated[str | None, Query(description="ISO 3166-1 alpha-2 code")] = None,
    event_type: Annotated[str | None, Query(description="ACLED sub-event type, exactly")] = None,
    perpetrator: Annotated[str | None, Query(description="case-insensitive part of the perpetrator")] = None,
    min_killed: Annotated[str | None, Query(description="best estimate of killed at least this")] = None,
    q: Annotated[str | None, Query(description="text in place, perpetrator, victims or a report title")] = None,
) -> browse.IncidentFilter:
    params = {
        "date_from": date_from,
        "date_to": date_to,
        "country": country,
        "event_type": event_type,
        "perpetrator": perpetrator,
        "min_killed": min_killed,
        "q": q,
    }
    return parse_filter({k: v for k, v in params.items() if v is not None})


def _operator(request: Request) -> str:
    guard: Guard = request.app.state.guard
    return f"web:{guard.operator(request)}"


Db = Annotated[Session, Depends(_session)]
View = Annotated[browse.IncidentFilter, Depends(view)]
After = Annotated[str | None, Query(description="page cursor, from the previous page's `next`")]
Csrf = Annotated[str, Form(alias="csrf")]
Note = Annotated[str, Form(max_length=2000)]
Operator = Annotated[str, Depends(_operator)]


def create_app(
    settings: Settings, *, public: bool, credentials: Credentials | None, engine: Engine | None = None
) -> FastAPI:
    """The web window over `settings.database` (or `engine`). `public`: pages readable without
    credentials (the server listens on loopback); corrections need `credentials` regardless."""
    db = engine if engine is not None else get_engine(settings.database.url)
    web = settings.web
    guard = Guard(credentials, public)
    env = _templates()
    headers = security_headers(web.tile_url)
    types_cache: dict[str, Any] = {"at": 0.0, "types": []}

    app = FastAPI(
        title="Wirewatch",
        summary="Conflict incidents deduplicated from news reports, each with its reports and evidence.",
        version="1",
        docs_url=None,  # Swagger UI loads scripts from a CDN: /api renders the schema instead
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.engine, app.state.guard = db, guard

    @app.middleware("http")
    async def guard_and_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not guard.public and guard.user(request) is None:
            response: Response = JSONResponse(
                {"detail": "credentials required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="wirewatch"'},
            )
        else:
            response = await call_next(request)
        response.headers.update(headers)
        token = getattr(request.state, "csrf", None)
        if token and request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> Response:
        return _error(request, 503, "the database is unavailable; try again shortly", {"Retry-After": "10"})

    @app.exception_handler(StarletteHTTPException)  # FastAPI's and the router's own (404, 405)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    def _error(request: Request, status: int, message: str, extra: Mapping[str, str] | None = None) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status, headers=extra)
        html = env.get_template("error.html").render(status=status, message=message, request=request)
        return HTMLResponse(html, status_code=status, headers=extra)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("user", guard.user(request))
        html = env.get_template(name).render(request=request, settings=web, **context)
        return HTMLResponse(html, status_code=status)

    def event_types(s: Session) -> list[str]:
        if time.monotonic() - types_cache["at"] > TYPES_TTL:
            types_cache["types"], types_cache["at"] = browse.event_types(s), time.monotonic()
        types: list[str] = types_cache["types"]
        return types

    def listing(
        request: Request, s: Session, f: browse.IncidentFilter, after: str | None
    ) -> tuple[list[Incident], str | None]:
        rows, cursor = browse.list_incidents(
            s, f, limit=web.page_size, after=parse_cursor({"after": after} if after else {})
        )
        nxt = str(request.url.include_query_params(after=cursor.encode())) if cursor else None
        return rows, nxt

    # --- incidents: machine-readable twins first (their paths would match /incidents/{id}) ---

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/incidents", status_code=307)

    @app.get("/incidents.json", response_model=schema.IncidentPage, tags=["incidents"])
    def incidents_json(request: Request, s: Db, f: View, after: After = None) -> dict[str, Any]:
        """One page of the filtered incidents, newest event first, in the export schema."""
        rows, nxt = listing(request, s, f, after)
        return {"incidents": export.items_for(s, rows), "next": nxt}

    @app.get("/incidents.geojson", tags=["incidents"], response_class=JSONResponse)
    def incidents_geojson(request: Request, s: Db, f: View, after: After = None) -> Response:
        """The same page as GeoJSON: a Feature per incident, the export's flat CSV columns as
        properties (what ``wirewatch export --format geojson`` writes)."""
        rows, nxt = listing(request, s, f, after)
        body = json.loads(export.to_geojson(export.items_for(s, rows)))
        body["next"] = nxt
        return JSONResponse(body, media_type="application/geo+json")

    @app.get("/incidents.atom", tags=["incidents"], response_class=Response)
    def incidents_atom(request: Request, s: Db, f: View) -> Response:
        """New and updated incidents of the view, most recently changed first (Atom 1.0)."""
        rows = browse.changed_incidents(s, f, limit=web.page_size)
        base = str(request.base_url)
        body = atom.feed(
            export.items_for(s, rows),
            {r.id: r.updated_at for r in rows},
            self_url=str(request.url),
            base_url=base,
            title="Wirewatch incidents" + _describe(f),
        )
        return Response(body, media_type="application/atom+xml")

    @app.get("/incidents/points.json", tags=["incidents"])
    def incidents_points(s: Db, f: View) -> dict[str, Any]:
        """The view's markers (incidents with coordinates), newest first, at most `web.map_limit`."""
        points = browse.map_points(s, f, limit=web.map_limit + 1)
        return {
            "points": [
                {
                    "id": p.id,
                    "lat": p.lat,
                    "lon": p.lon,
                    "event_type": p.event_type,
                    "killed": p.killed,
                    "date": p.date.isoformat() if p.date else None,
                    "place": p.place,
                }
                for p in points[: web.map_limit]
            ],
            "truncated": len(points) > web.map_limit,
        }

    @app.get("/incidents", response_class=HTMLResponse, include_in_schema=False)
    def incidents_page(request: Request, s: Db, f: View, after: After = None) -> HTMLResponse:
        rows, nxt = listing(request, s, f, after)
        query = request.url.query
        return page(
            request,
            "incidents.html",
            rows=rows,
            next_url=nxt,
            f=f,
            types=event_types(s),
            twin=lambda ext: f"/incidents.{ext}" + (f"?{query}" if query else ""),
            points_url="/incidents/points.json" + (f"?{_without_after(request)}" if _without_after(request) else ""),
        )

    @app.get("/incidents/{incident_id}.json", response_model=schema.IncidentOne, tags=["incidents"])
    def incident_json(
        s: Db,
        incident_id: Annotated[str, Path(pattern=ID_PATTERN)],
        as_of: Annotated[str | None, Query(description="ISO time: the incident as its reports then made it")] = None,
    ) -> dict[str, Any]:
        """One incident in the export schema, with its history and the corrections made to it."""
        got = browse.incident_page(s, incident_id, as_of=parse_as_of({"as_of": as_of} if as_of else {}))
        if got is None:
            raise HTTPException(404, f"no incident {incident_id}")
        return {
            "incident": got.item,
            "history": [
                {"at": h.at.isoformat(), "action": h.action, "report_id": h.report_id, "changes": h.changes}
                for h in got.history
            ],
            "corrections": [_correction(c) for c in got.corrections],
        }

    @app.get("/incidents/{incident_id}", response_class=HTMLResponse, include_in_schema=False)
    def incident_page(request: Request, s: Db, incident_id: str, as_of: str | None = None) -> HTMLResponse:
        if not incident_id.isalnum() or len(incident_id) > 32:
            raise HTTPException(404, "no such incident")
        when = parse_as_of({"as_of": as_of} if as_of else {})
        got = browse.incident_page(s, incident_id, as_of=when)
        if got is None:
            raise HTTPException(404, f"no incident {incident_id}")
        reports = [
            {**r, "marks": evidence_marks(r["evidence"], r["sentences"], got.article_text.get(r["url"], ""))}
            for r in got.item["reports"]
        ]
        times = sorted({a.published_at for _, a in _all_pairs(s, incident_id) if a.published_at is not None})
        return page(
            request,
            "incident.html",
            got=got,
            item=got.item,
            reports=reports,
            as_of=when,
            as_of_times=times,
            csrf=csrf_token(request),
            done=request.query_params.get("done", "")[:200],
        )

    # --- corrections ----------------------------------------------------------------------

    def live(s: Session, incident_id: str) -> Incident:
        inc = s.get(Incident, incident_id) if incident_id.isalnum() else None
        if inc is None:
            raise HTTPException(404, f"no incident {incident_id}")
        if inc.merged_into is not None:
            raise HTTPException(409, f"incident {incident_id} was merged into {inc.merged_into}")
        return inc

    @app.post("/incidents/{incident_id}/merge", include_in_schema=False)
    def merge(
        request: Request,
        s: Db,
        who: Operator,
        incident_id: str,
        other: Annotated[str, Form()],
        csrf: Csrf,
        note: Note = "",
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        other = other.strip()
        keep = live(s, incident_id)
        if other == keep.id:
            raise HTTPException(400, "an incident cannot be merged into itself")
        live(s, other)
        linking.merge_incidents(s, keep.id, other, note=note or None, operator=who)
        return _done(keep.id, f"merged {other} into this incident")

    @app.post("/incidents/{incident_id}/split", include_in_schema=False)
    def split(
        request: Request,
        s: Db,
        who: Operator,
        incident_id: str,
        url: Annotated[str, Form()],
        csrf: Csrf,
        note: Note = "",
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        live(s, incident_id)
        try:
            new_id = linking.split_report(s, incident_id, url, note=note or None, operator=who)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        return _done(incident_id, f"split the report into incident {new_id}")

    @app.post("/incidents/{incident_id}/unmerge", include_in_schema=False)
    def unmerge(
        request: Request,
        s: Db,
        who: Operator,
        incident_id: str,
        other: Annotated[str, Form()],
        csrf: Csrf,
        note: Note = "",
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        gone = s.get(Incident, other.strip()) if other.strip().isalnum() else None
        if gone is None or gone.merged_into != incident_id:
            raise HTTPException(409, f"incident {other} is not merged into {incident_id}")
        try:
            linking.unmerge_incidents(s, incident_id, gone.id, note=note or None, operator=who)
        except (LookupError, ValueError) as exc:  # the store's "cannot undo this" (one line)
            raise HTTPException(409, str(exc)) from exc
        return _done(incident_id, f"unmerged {gone.id} from this incident")

    # --- feeds and the API description ------------------------------------------------------

    def feeds_data(s: Session) -> dict[str, Any]:
        return {
            "feeds": [_feed(st) for st in browse.feed_status(s)],
            "failures": [_failure(x) for x in browse.recent_failures(s, limit=100)],
        }

    @app.get("/feeds.json", response_model=schema.FeedsPage, tags=["feeds"])
    def feeds_json(s: Db) -> dict[str, Any]:
        """Every feed's polling state, newest item and counts; the 100 most recent failures."""
        return feeds_data(s)

    @app.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
    def feeds_page(request: Request, s: Db) -> HTMLResponse:
        return page(request, "feeds.html", **feeds_data(s))

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    def api_page(request: Request) -> HTMLResponse:
        spec = app.openapi()
        return page(request, "api.html", spec=spec, spec_json=json.dumps(spec["components"], indent=1))

    return app


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.endswith((".json", ".geojson", ".atom")) or path == "/openapi.json"


def _without_after(request: Request) -> str:
    return str(request.url.remove_query_params("after").query)


def _describe(f: browse.IncidentFilter) -> str:
    params = f.query_params()
    return (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")") if params else ""


def _all_pairs(s: Session, incident_id: str) -> list[Any]:
    return export.report_rows(s, [incident_id]).get(incident_id, [])


def _done(incident_id: str, message: str) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(f"/incidents/{incident_id}?done={quote(message)}", status_code=303)


def _correction(c: Any) -> dict[str, Any]:
    return {
        "at": c.at.isoformat(),
        "kind": c.kind,
        "incident_id": c.incident_id,
        "other_incident_id": c.other_incident_id,
        "report_url": c.report_url,
        "note": c.note,
        "operator": c.operator,
    }


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def _feed(st: browse.FeedStatus) -> dict[str, Any]:
    fd = st.feed
    return {
        "id": fd.id,
        "url": fd.url,
        "name": fd.name,
        "enabled": fd.enabled,
        "interval": fd.interval,
        "last_polled_at": _iso(fd.last_polled_at),
        "last_success_at": _iso(fd.last_success_at),
        "last_status": fd.last_status,
        "error_count": fd.error_count,
        "last_error": fd.last_error,
        "next_poll_at": _iso(fd.next_poll_at),
        "newest_item_at": _iso(st.newest_item_at),
        "entries": st.entries,
        "failures": st.failures,
    }


def _failure(x: Any) -> dict[str, Any]:
    return {
        "at": x.at.isoformat(),
        "stage": x.stage,
        "error": x.error,
        "reason": x.reason,
        "url": x.url,
        "feed_id": x.feed_id,
        "attempts": x.attempts,
    }

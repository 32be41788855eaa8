"""The web window over HTTP (no browser), on SQLite and the real PostgreSQL: the JSON twins are
the export schema, filters and paging, Atom, feeds, credentials, CSRF, headers; the store's
unmerge and its replay by relink."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

from tests.conftest import make_settings
from tests.integration import webdata
from worker.errors import ConfigError
from worker.resources import Resources
from worker.store import export, linking, repo
from worker.store.db import session_scope
from worker.store.models import Correction, Feed, Incident
from worker.web.app import create_app
from worker.web.security import CSRF_COOKIE, Credentials, http_url, tile_origin
from worker.web.server import build

pytestmark = pytest.mark.integration

USER, PASSWORD = "analyst", "s3cret-pass"
AUTH = (USER, PASSWORD)


@pytest.fixture
def web(db_url: str) -> Iterator[tuple[TestClient, Resources, webdata.Seeded]]:
    res = Resources.from_settings(make_settings(db_url, web={"page_size": 2}))
    seeded = webdata.seed(res)
    app = create_app(res.settings, public=True, credentials=Credentials(USER, PASSWORD), engine=res.engine)
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield client, res, seeded
    res.close()


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["id"] for i in body["incidents"]]


def _walk(client: TestClient, url: str) -> list[str]:
    ids: list[str] = []
    while url:
        body = client.get(url).json()
        ids += _ids(body)
        url = body["next"]
    return ids


def test_json_twin_is_the_export_schema_paged_newest_first(web: Any) -> None:
    client, res, seeded = web
    ids = _walk(client, "/incidents.json")
    assert ids == [seeded.ridge, seeded.lake, seeded.harbour, seeded.hostile] or ids == [
        seeded.lake,
        seeded.ridge,
        seeded.harbour,
        seeded.hostile,
    ]
    assert len(client.get("/incidents.json").json()["incidents"]) == 2  # web.page_size
    with session_scope(res.engine) as s:
        exported = {i["id"]: i for i in export.incidents(s)}
    for item in client.get("/incidents.json?country=UA").json()["incidents"]:
        assert item == exported[item["id"]]
    one = client.get(f"/incidents/{seeded.ridge}.json").json()
    assert one["incident"] == exported[seeded.ridge]
    assert [h["action"] for h in one["history"]] == ["created", "linked"]
    assert len(one["incident"]["reports"]) == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("country=ua", {"ridge", "lake"}),
        ("date_from=2026-03-01", {"ridge", "lake"}),
        ("date_from=2026-01-01&date_to=2026-02-28", {"harbour", "hostile"}),
        ("event_type=Air/drone strike", {"ridge", "hostile"}),
        ("perpetrator=russ", {"ridge", "lake"}),
        ("min_killed=5", {"ridge"}),
        ("q=toll rises", {"ridge"}),  # a report's title
        ("q=port sel", {"harbour"}),  # the place
        ("q=100%", set()),  # LIKE wildcards are literal
        ("country=UA&min_killed=3&q=lake", set()),
    ],
)
def test_filters(web: Any, query: str, expected: set[str]) -> None:
    client, _, seeded = web
    names = {getattr(seeded, n): n for n in ("ridge", "lake", "harbour", "hostile")}
    assert {names[i] for i in _walk(client, f"/incidents.json?{query}")} == expected
    html = client.get(f"/incidents?{query}").text
    assert {names[i] for i in re.findall(r'<tr data-id="(\w+)"', html)} <= expected
    points = client.get(f"/incidents/points.json?{query}").json()["points"]
    assert {names[p["id"]] for p in points} == expected


@pytest.mark.parametrize(
    "query", ["date_from=yesterday", "min_killed=many", "min_killed=-1", "country=Ukraine", "after=garbage"]
)
def test_bad_parameters_are_400_with_the_name(web: Any, query: str) -> None:
    client, _, _ = web
    name = query.split("=", 1)[0]
    r = client.get(f"/incidents.json?{query}")
    assert r.status_code == 400 and name in r.json()["detail"]
    assert client.get(f"/incidents?{query}").status_code == 400


def test_geojson_and_atom(web: Any) -> None:
    client, res, seeded = web
    gj = client.get("/incidents.geojson?country=LB")
    assert gj.headers["content-type"].startswith("application/geo+json")
    (feature,) = gj.json()["features"]
    assert feature["geometry"]["coordinates"] == [webdata.HARBOUR.lon, webdata.HARBOUR.lat]
    assert feature["properties"]["id"] == seeded.harbour
    # The export's flat columns: a GIS reads scalars, not nested JSON.
    assert list(feature["properties"]) == export.CSV_COLUMNS and feature["properties"]["country_name"] == "Lebanon"
    assert feature["properties"]["lat"] == webdata.HARBOUR.lat
    atom = client.get("/incidents.atom?country=UA")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo
    assert {e.link.rsplit("/", 1)[1] for e in parsed.entries} == {seeded.ridge, seeded.lake}
    # An update moves an incident to the top of the feed.
    with session_scope(res.engine) as s:
        linking.recompute(s, seeded.lake)
        s.get_one(Incident, seeded.lake).updated_at = datetime.now(UTC) + timedelta(minutes=1)
    first = feedparser.parse(client.get("/incidents.atom").content).entries[0]
    assert first.link.endswith(seeded.lake)
    hostile = client.get("/incidents.atom").text
    assert "<script>" not in hostile and "&lt;" in hostile


def test_feeds_page_and_failures(web: Any) -> None:
    client, res, _ = web
    now = datetime.now(UTC)
    with session_scope(res.engine) as s:
        repo.add_feed(s, "https://example.org/good.xml", name="Good <b>Feed</b>")
        repo.add_feed(s, "https://example.org/bad.xml", name="Bad Feed")
        good, bad = s.exec(select(Feed).order_by(Feed.id)).all()
        repo.record_poll(s, good.id, now=now, status=200, next_poll_at=now + timedelta(minutes=5))
        repo.record_poll(s, bad.id, now=now, status=503, next_poll_at=now + timedelta(minutes=10), error="HTTP 503")
        repo.record_failure(s, stage="poll", error="HTTPStatusError", reason="HTTP 503 from feed", feed_id=bad.id)
    body = client.get("/feeds.json").json()
    by_name = {f["name"]: f for f in body["feeds"]}
    assert by_name["Good <b>Feed</b>"]["last_success_at"] is not None
    assert by_name["Bad Feed"]["last_error"] == "HTTP 503" and by_name["Bad Feed"]["failures"] == 1
    assert by_name["Bad Feed"]["last_success_at"] is None
    assert body["failures"][0]["reason"] == "HTTP 503 from feed"
    html = client.get("/feeds").text
    assert (
        "Good &lt;b&gt;Feed&lt;/b&gt;" in html
        and "failing (1\N{MULTIPLICATION SIGN})" in html
        and "HTTP 503 from feed" in html
    )


def test_openapi_describes_the_export_schema(web: Any) -> None:
    client, _, _ = web
    spec = client.get("/openapi.json").json()
    assert "/incidents.json" in spec["paths"] and "/incidents/{incident_id}.json" in spec["paths"]
    report = spec["components"]["schemas"]["Report"]["properties"]
    assert {"url", "outlet", "title", "killed", "sentences", "evidence", "link"} <= set(report)
    assert set(spec["components"]["schemas"]["Evidence"]["properties"]) == {"field", "sentence", "start", "end"}
    params = {p["name"] for p in spec["paths"]["/incidents.json"]["get"]["parameters"]}
    assert params == {"date_from", "date_to", "country", "event_type", "perpetrator", "min_killed", "q", "after"}
    assert "/incidents.json" in client.get("/api").text
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_fields_read_from_one_sentence_share_it_and_each_marks_its_words(web: Any) -> None:
    client, _, seeded = web
    (report,) = client.get(f"/incidents/{seeded.harbour}.json").json()["incident"]["reports"]
    # The event type and the toll come from one sentence: stored once, pointed to twice.
    assert len(report["sentences"]) == 1 and "killing 4 dock workers" in report["sentences"][0]
    assert [(e["field"], e["sentence"]) for e in report["evidence"]] == [("event_type", 0), ("killed", 0)]
    html = client.get(f"/incidents/{seeded.harbour}").text
    assert html.count('<span class="field">') == 2 and "killing <mark>4</mark> dock workers" in html


def test_headers_escaping_and_links(web: Any) -> None:
    client, _, seeded = web
    r = client.get(f"/incidents/{seeded.hostile}")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert "<script>window" not in r.text and "&lt;script&gt;window.__pwned=1" in r.text
    assert 'href="javascript' not in r.text
    assert http_url("javascript:alert(1)") is None and http_url(" JavaScript:x") is None
    assert http_url("data:text/html,x") is None and http_url("//evil.example/") is None
    assert http_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"


def _csrf(client: TestClient, incident_id: str) -> str:
    html = client.get(f"/incidents/{incident_id}").text
    token = re.search(r'name="csrf" value="([^"]+)"', html)
    assert token is not None and client.cookies.get(CSRF_COOKIE) == token.group(1)
    return token.group(1)


def test_corrections_need_credentials_and_csrf(web: Any) -> None:
    client, res, seeded = web
    token = _csrf(client, seeded.ridge)
    form = {"other": seeded.lake, "note": "n", "csrf": token}
    r = client.post(f"/incidents/{seeded.ridge}/merge", data=form)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert client.post(f"/incidents/{seeded.ridge}/merge", data=form, auth=(USER, "wrong")).status_code == 401
    bad = {**form, "csrf": "x" * 43}
    assert client.post(f"/incidents/{seeded.ridge}/merge", data=bad, auth=AUTH).status_code == 403
    cross = client.post(
        f"/incidents/{seeded.ridge}/merge", data=form, auth=AUTH, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    assert client.get(f"/incidents/{seeded.ridge}/merge").status_code == 405  # corrections are POSTs only
    with session_scope(res.engine) as s:
        assert s.get_one(Incident, seeded.lake).merged_into is None
        assert s.exec(select(Correction)).all() == []
    self_merge = {**form, "other": seeded.ridge}
    assert client.post(f"/incidents/{seeded.ridge}/merge", data=self_merge, auth=AUTH).status_code == 400
    ok = client.post(f"/incidents/{seeded.ridge}/merge", data=form, auth=AUTH, follow_redirects=False)
    assert ok.status_code == 303
    again = client.post(f"/incidents/{seeded.ridge}/merge", data=form, auth=AUTH)
    assert again.status_code == 409  # already merged


def test_split_in_the_page_records_the_operator(web: Any) -> None:
    client, res, seeded = web
    token = _csrf(client, seeded.ridge)
    second = seeded.ridge_urls[1]
    r = client.post(
        f"/incidents/{seeded.ridge}/split", data={"url": second, "note": "two strikes", "csrf": token}, auth=AUTH
    )
    assert r.status_code == 200 and "split the report into incident" in r.text
    by_url = webdata.report_incidents(res)
    assert by_url[seeded.ridge_urls[0]] == seeded.ridge and by_url[second] != seeded.ridge
    with session_scope(res.engine) as s:
        c = s.exec(select(Correction)).one()
        assert (c.kind, c.operator, c.note, c.report_url) == ("split", f"web:{USER}", "two strikes", second)
    missing = {"url": "https://example.org/nope", "csrf": token}
    assert client.post(f"/incidents/{seeded.ridge}/split", data=missing, auth=AUTH).status_code == 404
    assert client.get("/no/such/page").status_code == 404


def test_corrections_disabled_without_configured_credentials(db_url: str) -> None:
    res = Resources.from_settings(make_settings(db_url))
    seeded = webdata.seed(res)
    client = TestClient(create_app(res.settings, public=True, credentials=None, engine=res.engine))
    token = _csrf(client, seeded.ridge)
    r = client.post(f"/incidents/{seeded.ridge}/merge", data={"other": seeded.lake, "csrf": token}, auth=AUTH)
    assert r.status_code == 403 and "WIREWATCH_WEB_USER" in r.text
    res.close()


def test_public_bind_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings("sqlite://")
    monkeypatch.delenv("WIREWATCH_WEB_USER", raising=False)
    monkeypatch.delenv("WIREWATCH_WEB_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="WIREWATCH_WEB_USER"):
        build(settings, "0.0.0.0")
    build(settings, "127.0.0.1")
    build(settings, "::1")
    monkeypatch.setenv("WIREWATCH_WEB_USER", USER)
    monkeypatch.setenv("WIREWATCH_WEB_PASSWORD", PASSWORD)
    client = TestClient(build(settings, "0.0.0.0"))
    assert client.get("/incidents").status_code == 401
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/static/map.js").status_code == 401
    assert client.get("/static/map.js", auth=AUTH).status_code == 200


def test_unmerge_restores_both_and_survives_relink(web: Any) -> None:
    _, res, seeded = web
    with session_scope(res.engine) as s:
        before = {i["id"]: i for i in export.incidents(s)}
        linking.merge_incidents(s, seeded.ridge, seeded.lake, note="glued", operator="test")
    with session_scope(res.engine) as s:
        assert seeded.lake not in {i["id"] for i in export.incidents(s)}
        linking.unmerge_incidents(s, seeded.ridge, seeded.lake, note="apart", operator="test")
    with session_scope(res.engine) as s:
        after = {i["id"]: i for i in export.incidents(s)}
        for key in (seeded.ridge, seeded.lake):
            a, b = after[key], before[key]
            assert {k: v for k, v in a.items() if k != "reports"} | {"last_reported_at": None} == {
                k: v for k, v in b.items() if k != "reports"
            } | {"last_reported_at": None}
            assert [r["url"] for r in a["reports"]] == [r["url"] for r in b["reports"]]
        with pytest.raises(LookupError):
            linking.unmerge_incidents(s, seeded.ridge, seeded.lake)
        kinds = [c.kind for c in s.exec(select(Correction).order_by(Correction.id)).all()]
        assert kinds == ["merge", "unmerge"]
    with session_scope(res.engine) as s:
        linking.relink_all(s, res.policy)
    by_url = webdata.report_incidents(res)
    lake_url = "https://example.org/delta-wire/lake.html"
    assert by_url[lake_url] != by_url[seeded.ridge_urls[0]]
    assert by_url[seeded.ridge_urls[0]] == by_url[seeded.ridge_urls[1]]


def test_cli_unmerge_records_the_operator(db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker import cli as cli_module
    from worker.cli import app as cli

    monkeypatch.setattr(cli_module, "_state", {})  # settings are cached per process
    res = Resources.from_settings(make_settings(db_url))
    seeded = webdata.seed(res)
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("WIREWATCH_BROKER_URL", "redis://127.0.0.1:1/0")
    runner = CliRunner()
    cfg = tmp_path / "none.toml"
    cfg.write_text("")
    r = runner.invoke(cli, ["--config", str(cfg), "incidents", "merge", seeded.ridge, seeded.lake, "--note", "x"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--config", str(cfg), "incidents", "unmerge", seeded.ridge, seeded.lake, "--note", "y"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--config", str(cfg), "incidents", "unmerge", seeded.ridge, seeded.lake])
    assert r.exit_code == 1 and "not merged" in r.output
    with session_scope(res.engine) as s:
        operators = {c.operator for c in s.exec(select(Correction)).all()}
        assert len(operators) == 1 and next(iter(operators)).startswith("cli:")
        assert s.get_one(Incident, seeded.lake).merged_into is None
    res.close()


def test_migrations_match_the_models(db_url: str) -> None:
    res = Resources.from_settings(make_settings(db_url))
    with res.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # The trigram indexes are PostgreSQL-only expression indexes, made by the migration alone.
    trgm = {"ix_incidents_text_trgm", "ix_articles_title_trgm"}
    assert [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_index" and d[1].name in trgm)] == []
    res.close()


def test_database_down_is_a_503_not_a_crash(tmp_path: Any) -> None:
    import sqlalchemy as sa

    settings = make_settings("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")  # nothing listens
    engine = sa.create_engine(settings.database.url, connect_args={"connect_timeout": 2})
    client = TestClient(create_app(settings, public=True, credentials=None, engine=engine))
    r = client.get("/incidents.json")
    assert r.status_code == 503 and r.headers["retry-after"] == "10"
    assert client.get("/incidents").status_code == 503
